// A client testee in the Autobahn|Testsuite convention: asks the fuzzing
// server for its case count, runs every case by echoing each message until the
// server closes, then asks it to write its reports.
//
//   conformance_client --url ws://127.0.0.1:9001 --agent sluice
//   conformance_client --url ws://127.0.0.1:9001 --agent sluice --resilient-client
//
// By default each case runs on the bare transport (net::connect); with
// --resilient-client on sluice::Client (reconnect off: one connection per case).
#include <CLI/CLI.hpp>

#include <boost/asio/io_context.hpp>

#include <charconv>
#include <functional>
#include <iostream>
#include <string>

#include "sluice/client/client.hpp"
#include "sluice/net/connection.hpp"

#include <condition_variable>
#include <mutex>

namespace {

namespace net = sluice::net;
using sluice::protocol::MessageType;

struct Runner {
  boost::asio::io_context& io;
  net::WsUrl base;
  std::string agent;
  bool deflate = true;
  int case_count = -1;
  int failures = 0;

  net::ClientOptions options_for(const std::string& target) {
    net::ClientOptions options;
    options.handshake.target = target;
    options.handshake.deflate.enabled = deflate;
    options.codec.max_message_size = 64 * 1024 * 1024;
    options.codec.max_frame_size = 64 * 1024 * 1024;
    options.timeouts.handshake = std::chrono::seconds(30);
    return options;
  }

  // Opens `target`; echoes messages when `echo`; calls `done` when it closed.
  void open(const std::string& target, bool echo, std::function<void(const std::string&)> on_text,
            std::function<void()> done) {
    net::ConnectionCallbacks callbacks;
    callbacks.on_message = [echo, on_text](net::Connection& c, MessageType type,
                                           std::span<const std::uint8_t> payload) {
      if (echo) {
        (void)c.send(type, payload);
      } else if (on_text) {
        on_text(std::string(reinterpret_cast<const char*>(payload.data()), payload.size()));
      }
    };
    callbacks.on_closed = [this, target, done](net::Connection&, const net::CloseInfo& info) {
      if (!info.was_open) {
        std::cerr << "conformance_client: " << target << ": " << info.error.message() << "\n";
        ++failures;
      }
      done();
    };
    net::connect(io, base, options_for(target), std::move(callbacks));
  }

  void run_case(int n) {
    if (n > case_count) {
      return open("/updateReports?agent=" + agent, false, nullptr,
                  [this] { std::cout << "reports updated for agent " << agent << "\n"; });
    }
    open("/runCase?case=" + std::to_string(n) + "&agent=" + agent, true, nullptr,
         [this, n] { run_case(n + 1); });
  }

  void start() {
    open("/getCaseCount", false,
         [this](const std::string& text) {
           int count = -1;
           const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
           if (ec == std::errc() && end == text.data() + text.size() && count >= 0) case_count = count;
         },
         [this] {
           if (case_count < 0) {
             std::cerr << "conformance_client: no valid case count from " << base.host_header() << "\n";
             ++failures;
             return;
           }
           std::cout << "running " << case_count << " cases as agent " << agent << "\n";
           run_case(1);
         });
  }
};

// The same cases on sluice::Client, one client per case, run one after the other.
struct ResilientRunner {
  std::string url;  // ws://host:port
  std::string agent;
  bool deflate = true;
  int failures = 0;

  // Opens `target`; echoes when `echo`; returns the text messages when not; waits for the close.
  std::vector<std::string> run(const std::string& target, bool echo) {
    sluice::client::ClientOptions options;
    options.deflate = deflate;
    options.reconnect.enabled = false;
    options.liveness.ping_interval = std::chrono::milliseconds(0);
    options.max_message_size = 64 * 1024 * 1024;
    options.send_queue_limit = 128 * 1024 * 1024;
    options.max_queued_bytes = 128 * 1024 * 1024;
    options.timeouts.handshake = std::chrono::seconds(30);
    std::mutex mutex;
    std::condition_variable closed_cv;
    bool closed = false;
    std::vector<std::string> texts;
    sluice::client::Client client(url + target, options);
    client.on_message([&](const sluice::client::Message& m) {
      if (echo) {
        if (!sluice::client::accepted(client.send(m.type, m.data))) {
          std::cerr << "conformance_client: echo not accepted in " << target << "\n";
        }
        return;
      }
      std::lock_guard lock(mutex);
      texts.emplace_back(m.text());
    });
    client.on_close([&](const sluice::client::CloseEvent& e) {
      if (e.will_retry) return;
      std::lock_guard lock(mutex);
      closed = true;
      closed_cv.notify_all();
    });
    client.on_error([&](const sluice::client::ErrorEvent& e) {
      if (client.info().connections == 0) {
        std::cerr << "conformance_client: " << target << ": " << e.message << "\n";
        std::lock_guard lock(mutex);
        ++failures;
      }
    });
    client.connect();
    std::unique_lock lock(mutex);
    closed_cv.wait(lock, [&] { return closed; });
    return texts;
  }

  void run_all() {
    const auto count_text = run("/getCaseCount", false);
    int case_count = -1;
    if (count_text.size() == 1) {
      const auto& text = count_text[0];
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), case_count);
      if (ec != std::errc() || end != text.data() + text.size()) case_count = -1;
    }
    if (case_count < 0) {
      std::cerr << "conformance_client: no valid case count from " << url << "\n";
      ++failures;
      return;
    }
    std::cout << "running " << case_count << " cases as agent " << agent << " on sluice::Client\n";
    for (int n = 1; n <= case_count; ++n) run("/runCase?case=" + std::to_string(n) + "&agent=" + agent, true);
    run("/updateReports?agent=" + agent, false);
    std::cout << "reports updated for agent " << agent << "\n";
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Autobahn-style conformance client testee"};
  std::string url = "ws://127.0.0.1:9001";
  std::string agent = "sluice";
  bool no_deflate = false;
  bool resilient = false;
  app.add_option("--url", url, "Fuzzing server URL")->capture_default_str();
  app.add_option("--agent", agent, "Agent name for the reports")->capture_default_str();
  app.add_flag("--no-deflate", no_deflate, "Do not offer permessage-deflate");
  app.add_flag("--resilient-client", resilient, "Run the cases on sluice::Client instead of the bare transport");
  CLI11_PARSE(app, argc, argv);

  auto base = net::parse_ws_url(url);
  if (!base) {
    std::cerr << "conformance_client: not a ws:// or wss:// URL: " << url << "\n";
    return 2;
  }
  if (resilient) {
    ResilientRunner runner{"ws://" + base->host_header(), agent, !no_deflate};
    if (base->secure) runner.url = "wss://" + base->host_header();
    runner.run_all();
    return runner.failures == 0 ? 0 : 1;
  }
  boost::asio::io_context io;
  Runner runner{io, *base, agent, !no_deflate};
  runner.start();
  io.run();
  return runner.failures == 0 ? 0 : 1;
}
