// Our WebSocket client (net::connect) against another implementation's echo
// server: the interop scenario of run_interop.py, one line per check.
//
//   interop_client --url ws://127.0.0.1:PORT [--deflate on|off]
//       text, binary, empty, fragmented, 16 MiB binary, 1 MiB UTF-8 text,
//       ping/pong, then one short connection per valid close code.
//   interop_client --url ws://127.0.0.1:PORT --expect-garbage
//       against a peer in --garbage mode: one connection per invalid-frame
//       case, each of which our client must fail with the right error (and
//       close code, as the peer reports on /report).
//
// Exits 0 only if every check passed.
#include <CLI/CLI.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sluice/net/connection.hpp"
#include "sluice/protocol/error.hpp"

namespace {

namespace net = sluice::net;
namespace protocol = sluice::protocol;
using protocol::MessageType;
using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kMiB = 1024 * 1024;

const std::vector<std::uint16_t> kCloseCodes = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                                1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};

// The invalid frames a --garbage peer sends (frames.mjs, py_peer.py) and how we must fail.
const std::vector<std::pair<std::string, protocol::Error>> kGarbageCases = {
    {"reserved-opcode", protocol::Error::reserved_opcode},
    {"reserved-control-opcode", protocol::Error::reserved_opcode},
    {"rsv2-set", protocol::Error::reserved_bits_set},
    {"rsv1-without-extension", protocol::Error::reserved_bits_set},
    {"masked-server-frame", protocol::Error::masked_server_frame},
    {"continuation-without-start", protocol::Error::unexpected_continuation},
    {"fragmented-ping", protocol::Error::fragmented_control_frame},
    {"long-ping", protocol::Error::control_frame_too_long},
    {"bad-close-code", protocol::Error::bad_close_code},
    {"one-byte-close", protocol::Error::bad_close_payload},
    {"invalid-utf8-text", protocol::Error::invalid_utf8},
    {"invalid-utf8-fragmented", protocol::Error::invalid_utf8},
    {"invalid-utf8-close-reason", protocol::Error::invalid_close_reason},
};

Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string describe(const net::CloseInfo& info) {
  std::ostringstream out;
  out << "code " << info.code << ", was_open " << info.was_open << ", error '"
      << (info.error ? info.error.message() : std::string("none")) << "'";
  return out.str();
}

std::string difference(std::span<const std::uint8_t> got, std::span<const std::uint8_t> want) {
  if (got.size() != want.size()) {
    return "length " + std::to_string(got.size()) + ", expected " + std::to_string(want.size());
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) return "first difference at byte " + std::to_string(i);
  }
  return "equal";
}

// Random valid UTF-8 of exactly `size` bytes, mostly multibyte characters.
std::string random_utf8(std::size_t size, std::mt19937_64& rng) {
  std::string out;
  out.reserve(size);
  auto put = [&out](std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  while (size - out.size() >= 4) {
    const auto kind = rng() % 4;
    std::uint32_t cp = 0;
    if (kind == 0) {
      cp = 0x20 + static_cast<std::uint32_t>(rng() % 0x5F);
    } else if (kind == 1) {
      cp = 0x80 + static_cast<std::uint32_t>(rng() % (0x800 - 0x80));
    } else if (kind == 2) {
      do cp = 0x800 + static_cast<std::uint32_t>(rng() % (0x10000 - 0x800));
      while (cp >= 0xD800 && cp <= 0xDFFF);
    } else {
      cp = 0x10000 + static_cast<std::uint32_t>(rng() % (0x110000 - 0x10000));
    }
    put(cp);
  }
  out.append(size - out.size(), 'x');
  return out;
}

struct Checks {
  int passed = 0;
  int failed = 0;
  bool check(bool ok, const std::string& name, const std::string& detail = {}) {
    ++(ok ? passed : failed);
    std::cout << (ok ? "PASS " : "FAIL ") << name << (!ok && !detail.empty() ? ": " + detail : "") << std::endl;
    return ok;
  }
};

// One step of the scenario on the main connection: send something, expect one event back.
struct Step {
  std::string name;
  std::function<void(net::Connection&)> send;
  bool expect_pong = false;
  MessageType type = MessageType::binary;
  Bytes expected;
};

class Runner {
 public:
  Runner(boost::asio::io_context& io, net::WsUrl base, bool deflate, Checks& checks)
      : io_(io), base_(std::move(base)), deflate_(deflate), checks_(checks), watchdog_(io) {}

  // Fails the run if it has not finished within `limit` (a stuck peer or a lost event).
  void arm_watchdog(std::chrono::seconds limit) {
    watchdog_.expires_after(limit);
    watchdog_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      checks_.check(false, "finished in time", "still waiting in '" + phase_ + "'");
      if (auto c = current_.lock()) c->abort();
      io_.stop();
    });
  }
  void done() { watchdog_.cancel(); }

  void run_scenario(std::function<void()> then) {
    build_steps();
    phase_ = "main connection: handshake";
    net::ConnectionCallbacks cb;
    cb.on_open = [this](net::Connection& c) {
      checks_.check(true, "connect");
      checks_.check(c.deflate_enabled() == deflate_,
                    std::string("permessage-deflate ") + (deflate_ ? "" : "not ") + "negotiated");
      next_step(c);
    };
    cb.on_message = [this](net::Connection& c, MessageType type, std::span<const std::uint8_t> payload) {
      if (step_ >= steps_.size() || steps_[step_].expect_pong) {
        checks_.check(false, "no unexpected message", "got a message of " + std::to_string(payload.size()) +
                                                          " bytes in '" + phase_ + "'");
        return;
      }
      const Step& s = steps_[step_];
      if (type != s.type) {
        checks_.check(false, s.name, std::string("got a ") + (type == MessageType::text ? "text" : "binary") +
                                         " message");
      } else {
        checks_.check(std::ranges::equal(payload, s.expected), s.name, difference(payload, s.expected));
      }
      ++step_;
      next_step(c);
    };
    cb.on_pong = [this](net::Connection& c, std::span<const std::uint8_t> payload) {
      if (step_ >= steps_.size() || !steps_[step_].expect_pong) {
        checks_.check(false, "no unexpected pong", "in '" + phase_ + "'");
        return;
      }
      checks_.check(std::ranges::equal(payload, steps_[step_].expected), steps_[step_].name,
                    difference(payload, steps_[step_].expected));
      ++step_;
      next_step(c);
    };
    cb.on_closed = [this, then](net::Connection&, const net::CloseInfo& info) {
      if (!info.was_open) {
        checks_.check(false, "connect", describe(info));
      } else if (step_ < steps_.size()) {
        checks_.check(false, steps_[step_].name, "connection closed first: " + describe(info));
      } else {
        checks_.check(info.code == 1000 && !info.error, "close 1000 after the scenario: clean, code 1000",
                      describe(info));
      }
      then();
    };
    current_ = net::connect(io_, base_, options(), std::move(cb));
  }

  // One short connection per close code: we close with it, the peer must echo it.
  void run_close_codes(std::size_t i, std::function<void()> then) {
    if (i == kCloseCodes.size()) return then();
    const std::uint16_t code = kCloseCodes[i];
    const std::string name = "close " + std::to_string(code) + ": echoed, clean";
    phase_ = name;
    net::ConnectionCallbacks cb;
    cb.on_open = [code](net::Connection& c) { c.close(code, "bye " + std::to_string(code)); };
    cb.on_closed = [this, i, code, name, then](net::Connection&, const net::CloseInfo& info) {
      checks_.check(info.was_open && info.code == code && !info.error, name, describe(info));
      run_close_codes(i + 1, then);
    };
    current_ = net::connect(io_, base_, options(), std::move(cb));
  }

  // One connection per garbage case: each must end with the matching protocol error.
  void run_garbage(std::size_t i, std::function<void()> then) {
    if (i == kGarbageCases.size()) return run_report(then);
    const auto& [name, expected] = kGarbageCases[i];
    phase_ = "garbage " + name;
    net::ConnectionCallbacks cb;
    cb.on_message = [this](net::Connection&, MessageType, std::span<const std::uint8_t>) {
      checks_.check(false, "no message from a garbage case", phase_);
    };
    cb.on_closed = [this, i, then](net::Connection&, const net::CloseInfo& info) {
      const auto& [case_name, error] = kGarbageCases[i];
      const std::error_code want = protocol::make_error_code(error);
      checks_.check(info.was_open && info.error == want,
                    case_name + ": connection fails with '" + want.message() + "'", describe(info));
      run_garbage(i + 1, then);
    };
    current_ = net::connect(io_, base_, options("/" + name), std::move(cb));
  }

  // The garbage peer tells which close code it received for each case.
  void run_report(std::function<void()> then) {
    phase_ = "garbage report";
    auto report = std::make_shared<std::string>();
    net::ConnectionCallbacks cb;
    cb.on_message = [report](net::Connection&, MessageType, std::span<const std::uint8_t> payload) {
      report->assign(payload.begin(), payload.end());
    };
    cb.on_closed = [this, report, then](net::Connection&, const net::CloseInfo& info) {
      checks_.check(info.was_open && info.code == 1000 && !info.error, "garbage report received, clean close",
                    describe(info));
      std::map<std::string, std::string> got;
      std::istringstream lines(*report);
      for (std::string name, result; lines >> name >> result;) got[name] = result;
      for (const auto& [name, error] : kGarbageCases) {
        const std::string want = std::to_string(protocol::close_code_for(error));
        const auto it = got.find(name);
        const std::string seen = it == got.end() ? "nothing reported" : it->second;
        checks_.check(seen == want, name + ": peer received our close " + want + " (masked) and TCP close",
                      "peer saw: " + seen);
      }
      then();
    };
    current_ = net::connect(io_, base_, options("/report"), std::move(cb));
  }

 private:
  net::ClientOptions options(const std::string& target = "/") const {
    net::ClientOptions o;
    o.handshake.target = target;
    o.handshake.deflate.enabled = deflate_;
    // A 16 MiB message of random bytes deflates to a little more than 16 MiB.
    o.codec.max_message_size = 64 * kMiB;
    o.codec.max_frame_size = 64 * kMiB;
    return o;
  }

  void next_step(net::Connection& c) {
    if (step_ == steps_.size()) {
      phase_ = "main connection: close 1000";
      c.close(1000, "scenario done");
      return;
    }
    phase_ = steps_[step_].name;
    steps_[step_].send(c);
  }

  void add_echo(std::string name, MessageType type, Bytes payload) {
    auto data = std::make_shared<Bytes>(payload);
    steps_.push_back({std::move(name), [type, data](net::Connection& c) { (void)c.send(type, *data); }, false,
                      type, std::move(payload)});
  }

  void add_fragments(std::string name, MessageType type, std::vector<Bytes> parts) {
    Bytes whole;
    for (const auto& p : parts) whole.insert(whole.end(), p.begin(), p.end());
    auto shared = std::make_shared<std::vector<Bytes>>(std::move(parts));
    steps_.push_back({std::move(name),
                      [type, shared](net::Connection& c) {
                        for (std::size_t i = 0; i < shared->size(); ++i) {
                          (void)c.send_fragment(type, (*shared)[i], i == 0, i + 1 == shared->size());
                        }
                      },
                      false, type, std::move(whole)});
  }

  void add_ping(std::string name, Bytes payload) {
    auto data = std::make_shared<Bytes>(payload);
    steps_.push_back({std::move(name), [data](net::Connection& c) { (void)c.ping(*data); }, true,
                      MessageType::binary, std::move(payload)});
  }

  void build_steps() {
    std::mt19937_64 rng(std::random_device{}());
    add_echo("text echo", MessageType::text, to_bytes("hello, sluice ✓ ünïcödé 🚀"));
    Bytes all_bytes(256);
    for (std::size_t i = 0; i < all_bytes.size(); ++i) all_bytes[i] = static_cast<std::uint8_t>(i);
    add_echo("binary echo", MessageType::binary, all_bytes);
    add_echo("empty text echo", MessageType::text, {});
    add_echo("empty binary echo", MessageType::binary, {});
    // "✓" (E2 9C 93) is split between frames: the text is valid UTF-8 only as a whole.
    const Bytes split = to_bytes("frag ✓ mented");
    add_fragments("fragmented text echo (3 frames, a character split)", MessageType::text,
                  {Bytes(split.begin(), split.begin() + 6), Bytes(split.begin() + 6, split.begin() + 7),
                   Bytes(split.begin() + 7, split.end())});
    add_fragments("fragmented binary echo (3 x 4 KiB)", MessageType::binary,
                  {Bytes(4096, 'A'), Bytes(4096, 'B'), Bytes(4096, 'C')});
    Bytes ping = to_bytes("ping ✓ ");
    ping.push_back(0x00);
    ping.push_back(0xFF);
    add_ping("ping -> pong with the same payload", ping);
    Bytes max_ping(125);
    for (auto& b : max_ping) b = static_cast<std::uint8_t>(rng());
    add_ping("ping with 125-byte payload -> same pong", max_ping);
    add_echo("1 MiB multibyte UTF-8 text echo", MessageType::text, to_bytes(random_utf8(kMiB, rng)));
    Bytes big(16 * kMiB);
    for (std::size_t i = 0; i < big.size(); i += 8) {
      const std::uint64_t r = rng();
      for (std::size_t k = 0; k < 8; ++k) big[i + k] = static_cast<std::uint8_t>(r >> (8 * k));
    }
    add_echo("16 MiB random binary echo", MessageType::binary, std::move(big));
  }

  boost::asio::io_context& io_;
  net::WsUrl base_;
  bool deflate_;
  Checks& checks_;
  boost::asio::steady_timer watchdog_;
  std::weak_ptr<net::Connection> current_;
  std::string phase_;
  std::vector<Step> steps_;
  std::size_t step_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Sluice interop client: runs the interop scenario against a peer echo server"};
  std::string url;
  std::string deflate = "on";
  bool expect_garbage = false;
  int timeout_seconds = 100;
  app.add_option("--url", url, "Peer server URL (ws://host:port)")->required();
  app.add_option("--deflate", deflate, "Offer permessage-deflate and expect it agreed (on) or not (off)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_flag("--expect-garbage", expect_garbage, "The peer is a --garbage server: expect protocol errors");
  app.add_option("--timeout", timeout_seconds, "Fail if not finished after this many seconds")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto base = net::parse_ws_url(url);
  if (!base) {
    std::cerr << "interop_client: not a ws:// or wss:// URL: " << url << "\n";
    return 2;
  }
  boost::asio::io_context io;
  Checks checks;
  Runner runner(io, *base, deflate == "on", checks);
  runner.arm_watchdog(std::chrono::seconds(timeout_seconds));
  if (expect_garbage) {
    runner.run_garbage(0, [&runner] { runner.done(); });
  } else {
    runner.run_scenario([&runner] { runner.run_close_codes(0, [&runner] { runner.done(); }); });
  }
  io.run();
  std::cout << "interop_client: " << checks.passed << " passed, " << checks.failed << " failed" << std::endl;
  return checks.failed == 0 && checks.passed > 0 ? 0 : 1;
}
