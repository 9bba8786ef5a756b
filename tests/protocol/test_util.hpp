// Shared helpers for the protocol-layer tests: frame builders and a frame
// parser written independently of the code under test, a recording
// CodecHandler, a reference UTF-8 validator, a feeder that checks a byte
// stream gives identical results at every split point, and a two-codec
// conversation (client <-> server) for end-to-end tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iomanip>
#include <optional>
#include <ostream>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sluice/protocol/codec.hpp"
#include "sluice/protocol/error.hpp"

namespace sluice::protocol {
// Readable gtest output for codec states.
inline void PrintTo(CodecState s, std::ostream* os) {
  *os << (s == CodecState::open ? "open" : s == CodecState::closing ? "closing" : "closed");
}
}  // namespace sluice::protocol

namespace sluice::protocol::test {

using Bytes = std::vector<std::uint8_t>;

// Raw opcodes, so tests can also write the reserved ones.
inline constexpr std::uint8_t kCont = 0x0;
inline constexpr std::uint8_t kText = 0x1;
inline constexpr std::uint8_t kBinary = 0x2;
inline constexpr std::uint8_t kClose = 0x8;
inline constexpr std::uint8_t kPing = 0x9;
inline constexpr std::uint8_t kPong = 0xA;

// The masking key of the RFC 6455 §5.7 examples.
inline constexpr MaskKey kTestMask{0x37, 0xfa, 0x21, 0x3d};

// ---------------------------------------------------------------------------
// Byte helpers

inline Bytes bytes(std::initializer_list<unsigned> list) {
  Bytes out;
  for (unsigned v : list) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

// "c1 07 f2" or "c107f2" -> bytes; whitespace is ignored.
inline Bytes from_hex(std::string_view hex) {
  Bytes out;
  int high = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + v));
      high = -1;
    }
  }
  return out;
}

inline std::string to_hex(std::span<const std::uint8_t> data, std::size_t max = 64) {
  std::ostringstream os;
  for (std::size_t i = 0; i < data.size() && i < max; ++i) {
    if (i) os << ' ';
    os << std::hex << std::setw(2) << std::setfill('0') << unsigned{data[i]};
  }
  if (data.size() > max) os << " ... (" << std::dec << data.size() << " bytes)";
  return os.str();
}

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string to_string(std::span<const std::uint8_t> b) { return std::string(b.begin(), b.end()); }
inline std::span<const std::uint8_t> as_span(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Concatenates any number of byte ranges.
template <typename... Parts>
Bytes cat(const Parts&... parts) {
  Bytes out;
  (out.insert(out.end(), std::begin(parts), std::end(parts)), ...);
  return out;
}

// Byte-by-byte reference masking (RFC 6455 §5.3: octet i XOR key[i mod 4]).
inline void ref_mask(std::span<std::uint8_t> data, const MaskKey& key, std::size_t phase = 0) {
  for (std::size_t i = 0; i < data.size(); ++i) data[i] ^= key[(phase + i) % 4];
}

// A deterministic pseudo-random payload.
inline Bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

// ---------------------------------------------------------------------------
// Reference UTF-8 (RFC 3629), written differently from the DFA under test:
// after each byte, the range of code points that can still be reached is
// intersected with the valid range for the sequence length.

inline bool ref_utf8_reachable(int len, std::uint32_t lo, std::uint32_t hi) {
  auto hits = [&](std::uint32_t a, std::uint32_t b) { return lo <= b && hi >= a; };
  switch (len) {
    case 2: return hits(0x80, 0x7FF);
    case 3: return hits(0x800, 0xD7FF) || hits(0xE000, 0xFFFF);
    case 4: return hits(0x10000, 0x10FFFF);
    default: return false;
  }
}

struct RefUtf8 {
  std::optional<std::size_t> fail_at;  // first byte after which no valid completion exists
  bool complete = true;                // no failure and no trailing partial sequence
  bool valid() const { return !fail_at && complete; }
};

inline RefUtf8 ref_utf8(std::span<const std::uint8_t> s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t b = s[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    int len;
    std::uint32_t cp;
    if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return {i, false};  // a continuation byte as lead, or F8..FF
    }
    for (int j = 0; j < len; ++j) {
      if (j > 0) {
        if (i + j >= s.size()) return {std::nullopt, false};  // truncated, but could still complete
        const std::uint8_t c = s[i + j];
        if ((c & 0xC0) != 0x80) return {i + j, false};
        cp = (cp << 6) | (c & 0x3F);
      }
      const int rest = len - 1 - j;
      const std::uint32_t lo = cp << (6 * rest);
      const std::uint32_t hi = lo | ((std::uint32_t{1} << (6 * rest)) - 1);
      if (!ref_utf8_reachable(len, lo, hi)) return {i + j, false};
    }
    i += static_cast<std::size_t>(len);
  }
  return {std::nullopt, true};
}

inline Bytes encode_utf8(std::uint32_t cp) {
  if (cp < 0x80) return {static_cast<std::uint8_t>(cp)};
  if (cp < 0x800) return {static_cast<std::uint8_t>(0xC0 | (cp >> 6)), static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
  if (cp < 0x10000) {
    return {static_cast<std::uint8_t>(0xE0 | (cp >> 12)), static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)),
            static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
  }
  return {static_cast<std::uint8_t>(0xF0 | (cp >> 18)), static_cast<std::uint8_t>(0x80 | ((cp >> 12) & 0x3F)),
          static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)), static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
}

// Random valid UTF-8 of about `n` bytes (1- to 4-byte code points, no surrogates).
inline Bytes random_utf8(std::size_t n, std::mt19937& rng) {
  Bytes out;
  while (out.size() < n) {
    std::uint32_t cp;
    switch (rng() % 4) {
      case 0: cp = rng() % 0x80; break;
      case 1: cp = 0x80 + rng() % (0x800 - 0x80); break;
      case 2:
        cp = 0x800 + rng() % (0x10000 - 0x800);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;
        break;
      default: cp = 0x10000 + rng() % (0x110000 - 0x10000); break;
    }
    const Bytes enc = encode_utf8(cp);
    out.insert(out.end(), enc.begin(), enc.end());
  }
  return out;
}

// ---------------------------------------------------------------------------
// Frame building, independent of frame.cpp

enum class LengthForm { minimal, bits16, bits64 };

struct FrameOpts {
  bool fin = true;
  bool rsv1 = false;
  bool rsv2 = false;
  bool rsv3 = false;
  std::optional<MaskKey> mask;  // set: the frame is masked with this key
  LengthForm length_form = LengthForm::minimal;
  std::optional<std::uint64_t> declared_length;  // header claims this length instead of the payload's
};

inline Bytes build_frame(std::uint8_t opcode, std::span<const std::uint8_t> payload, const FrameOpts& o = {}) {
  Bytes out;
  out.push_back(static_cast<std::uint8_t>((o.fin ? 0x80 : 0) | (o.rsv1 ? 0x40 : 0) | (o.rsv2 ? 0x20 : 0) |
                                          (o.rsv3 ? 0x10 : 0) | (opcode & 0x0F)));
  const std::uint64_t len = o.declared_length.value_or(payload.size());
  const std::uint8_t mask_bit = o.mask ? 0x80 : 0;
  LengthForm form = o.length_form;
  if (form == LengthForm::minimal) form = len < 126 ? LengthForm::minimal : len <= 0xFFFF ? LengthForm::bits16 : LengthForm::bits64;
  if (form == LengthForm::minimal) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | len));
  } else if (form == LengthForm::bits16) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(len));
  } else {
    out.push_back(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(len >> shift));
  }
  if (o.mask) out.insert(out.end(), o.mask->begin(), o.mask->end());
  const std::size_t start = out.size();
  out.insert(out.end(), payload.begin(), payload.end());
  if (o.mask) ref_mask({out.data() + start, payload.size()}, *o.mask);
  return out;
}

// A frame as the peer of `receiver` sends it: masked with kTestMask towards a server, unmasked towards a client.
inline Bytes frame_to(Role receiver, std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin = true,
                      bool rsv1 = false) {
  FrameOpts o;
  o.fin = fin;
  o.rsv1 = rsv1;
  if (receiver == Role::server) o.mask = kTestMask;
  return build_frame(opcode, payload, o);
}
inline Bytes frame_to(Role receiver, std::uint8_t opcode, std::string_view payload, bool fin = true,
                      bool rsv1 = false) {
  return frame_to(receiver, opcode, as_span(payload), fin, rsv1);
}
// Shorthands: frames a client sends to a server (masked), and a server to a client (unmasked).
inline Bytes to_server(std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin = true, bool rsv1 = false) {
  return frame_to(Role::server, opcode, payload, fin, rsv1);
}
inline Bytes to_server(std::uint8_t opcode, std::string_view payload, bool fin = true, bool rsv1 = false) {
  return frame_to(Role::server, opcode, as_span(payload), fin, rsv1);
}
inline Bytes to_client(std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin = true, bool rsv1 = false) {
  return frame_to(Role::client, opcode, payload, fin, rsv1);
}
inline Bytes to_client(std::uint8_t opcode, std::string_view payload, bool fin = true, bool rsv1 = false) {
  return frame_to(Role::client, opcode, as_span(payload), fin, rsv1);
}

inline Bytes close_payload(std::uint16_t code, std::string_view reason = {}) {
  Bytes p{static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code)};
  p.insert(p.end(), reason.begin(), reason.end());
  return p;
}

// The exact bytes of an unmasked (server) frame.
inline Bytes server_bytes(std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin = true) {
  FrameOpts o;
  o.fin = fin;
  return build_frame(opcode, payload, o);
}

// ---------------------------------------------------------------------------
// Frame parsing, independent of frame.cpp (for the codec's output)

struct ParsedFrame {
  bool fin = true;
  bool rsv1 = false;
  bool rsv2 = false;
  bool rsv3 = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  MaskKey mask{};
  Bytes payload;  // unmasked
  std::size_t offset = 0;  // where the frame starts in the parsed stream
  std::size_t size = 0;    // header + payload bytes
  bool minimal_length = true;

  // Equality ignores the mask key (random per frame) and the position.
  bool operator==(const ParsedFrame& o) const {
    return fin == o.fin && rsv1 == o.rsv1 && rsv2 == o.rsv2 && rsv3 == o.rsv3 && opcode == o.opcode &&
           masked == o.masked && payload == o.payload && minimal_length == o.minimal_length;
  }
};

inline void PrintTo(const ParsedFrame& f, std::ostream* os) {
  *os << "{op=" << unsigned{f.opcode} << (f.fin ? " fin" : "") << (f.rsv1 ? " rsv1" : "") << (f.rsv2 ? " rsv2" : "")
      << (f.rsv3 ? " rsv3" : "") << (f.masked ? " masked" : "") << " payload=[" << to_hex(f.payload) << "]}";
}

// The frame `sender` puts on the wire, as parse_frames() reports it (compare with ==).
inline ParsedFrame sent_frame(Role sender, std::uint8_t opcode, std::span<const std::uint8_t> payload, bool fin = true,
                              bool rsv1 = false) {
  ParsedFrame f;
  f.fin = fin;
  f.rsv1 = rsv1;
  f.opcode = opcode;
  f.masked = sender == Role::client;
  f.payload.assign(payload.begin(), payload.end());
  return f;
}
inline ParsedFrame sent_frame(Role sender, std::uint8_t opcode, std::string_view payload, bool fin = true,
                              bool rsv1 = false) {
  return sent_frame(sender, opcode, as_span(payload), fin, rsv1);
}

// Parses a stream of complete frames; `complete` is set false when bytes are left over.
inline std::vector<ParsedFrame> parse_frames(std::span<const std::uint8_t> s, bool* complete = nullptr) {
  std::vector<ParsedFrame> frames;
  std::size_t pos = 0;
  if (complete) *complete = true;
  while (pos < s.size()) {
    ParsedFrame f;
    f.offset = pos;
    if (s.size() - pos < 2) break;
    const std::uint8_t b0 = s[pos];
    const std::uint8_t b1 = s[pos + 1];
    f.fin = b0 & 0x80;
    f.rsv1 = b0 & 0x40;
    f.rsv2 = b0 & 0x20;
    f.rsv3 = b0 & 0x10;
    f.opcode = b0 & 0x0F;
    f.masked = b1 & 0x80;
    std::size_t p = pos + 2;
    std::uint64_t len = b1 & 0x7F;
    if (len == 126) {
      if (s.size() - p < 2) break;
      len = (std::uint64_t{s[p]} << 8) | s[p + 1];
      f.minimal_length = len >= 126;
      p += 2;
    } else if (len == 127) {
      if (s.size() - p < 8) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | s[p + i];
      f.minimal_length = len > 0xFFFF;
      p += 8;
    }
    if (f.masked) {
      if (s.size() - p < 4) break;
      std::copy(s.begin() + static_cast<std::ptrdiff_t>(p), s.begin() + static_cast<std::ptrdiff_t>(p + 4),
                f.mask.begin());
      p += 4;
    }
    if (s.size() - p < len) break;
    f.payload.assign(s.begin() + static_cast<std::ptrdiff_t>(p), s.begin() + static_cast<std::ptrdiff_t>(p + len));
    if (f.masked) ref_mask(f.payload, f.mask);
    p += static_cast<std::size_t>(len);
    f.size = p - pos;
    frames.push_back(std::move(f));
    pos = p;
  }
  if (pos < s.size() && complete) *complete = false;
  return frames;
}

// ---------------------------------------------------------------------------
// Recording handler

struct Event {
  enum class Kind { text, binary, ping, pong, close };
  Kind kind = Kind::text;
  Bytes data;              // message, ping or pong payload, or the close reason
  std::uint16_t code = 0;  // close code (close events only)
  std::size_t output_at = 0;  // the codec's pending_output().size() when the event was reported

  // Equality ignores output_at (compared separately where it matters).
  bool operator==(const Event& o) const { return kind == o.kind && data == o.data && code == o.code; }
};

inline void PrintTo(const Event& e, std::ostream* os) {
  static const char* const names[] = {"text", "binary", "ping", "pong", "close"};
  *os << "{" << names[static_cast<int>(e.kind)];
  if (e.kind == Event::Kind::close) *os << " " << e.code;
  *os << " [" << to_hex(e.data, 32) << "] out@" << e.output_at << "}";
}

inline Event text_event(std::string_view s) { return {Event::Kind::text, to_bytes(s), 0, 0}; }
inline Event text_event(const Bytes& b) { return {Event::Kind::text, b, 0, 0}; }
inline Event binary_event(const Bytes& b) { return {Event::Kind::binary, b, 0, 0}; }
inline Event binary_event(std::string_view s) { return {Event::Kind::binary, to_bytes(s), 0, 0}; }
inline Event ping_event(std::string_view s) { return {Event::Kind::ping, to_bytes(s), 0, 0}; }
inline Event ping_event(const Bytes& b) { return {Event::Kind::ping, b, 0, 0}; }
inline Event pong_event(std::string_view s) { return {Event::Kind::pong, to_bytes(s), 0, 0}; }
inline Event pong_event(const Bytes& b) { return {Event::Kind::pong, b, 0, 0}; }
inline Event close_event(std::uint16_t code, std::string_view reason = {}) {
  return {Event::Kind::close, to_bytes(reason), code, 0};
}

class Recorder : public CodecHandler {
 public:
  explicit Recorder(const Codec* codec = nullptr) : codec_(codec) {}
  void set_codec(const Codec* codec) { codec_ = codec; }

  void on_message(MessageType type, std::span<const std::uint8_t> payload) override {
    add(type == MessageType::text ? Event::Kind::text : Event::Kind::binary, payload, 0);
  }
  void on_ping(std::span<const std::uint8_t> payload) override { add(Event::Kind::ping, payload, 0); }
  void on_pong(std::span<const std::uint8_t> payload) override { add(Event::Kind::pong, payload, 0); }
  void on_close(std::uint16_t code, std::string_view reason) override { add(Event::Kind::close, as_span(reason), code); }

  std::vector<Event> events;
  // Optional hook run after each event is recorded (e.g. to call send() from a callback).
  std::function<void(const Event&)> hook;

 private:
  void add(Event::Kind kind, std::span<const std::uint8_t> data, std::uint16_t code) {
    events.push_back({kind, Bytes(data.begin(), data.end()), code, codec_ ? codec_->pending_output().size() : 0});
    if (hook) hook(events.back());
  }
  const Codec* codec_;
};

// ---------------------------------------------------------------------------
// Feeding a stream at every split point

struct CodecSetup {
  Role role = Role::server;
  CodecSettings settings{};
  std::optional<DeflateParams> deflate;
  // Runs on the fresh codec before the first byte is fed (e.g. close() first).
  std::function<void(Codec&)> before;
  // Runs after each event (e.g. to echo a message back through the codec).
  std::function<void(Codec&, const Event&)> on_event;
};

inline CodecSetup server_setup(CodecSettings s = {}) { return {Role::server, s, std::nullopt, {}, {}}; }
inline CodecSetup client_setup(CodecSettings s = {}) { return {Role::client, s, std::nullopt, {}, {}}; }
inline CodecSetup setup_for(Role r, CodecSettings s = {}) { return {r, s, std::nullopt, {}, {}}; }

// Both roles, for tests that run the same case as server and as client.
inline constexpr Role kRoles[] = {Role::server, Role::client};
inline const char* role_name(Role r) { return r == Role::server ? "server" : "client"; }

struct FeedResult {
  std::vector<Event> events;
  std::error_code error;                // the first error receive() returned
  std::size_t bytes_before_error = 0;   // stream bytes handed over up to and including the failing call
  Bytes output;                         // pending_output() at the end, raw
  std::vector<ParsedFrame> frames;      // the same, parsed and unmasked
  bool output_complete = true;          // output holds whole frames only
  CodecState state = CodecState::open;
  bool close_sent = false;
  bool close_received = false;
  std::uint16_t peer_close_code = 0;
  std::string peer_close_reason;
  std::error_code failure;
  bool later_calls_agree = true;        // every receive() after the first error returned that error
  std::string split;                    // how the stream was cut (for messages)
};

inline FeedResult feed_chunks(const CodecSetup& setup, std::span<const std::uint8_t> stream,
                              const std::vector<std::size_t>& cuts, std::string split_name = "whole") {
  Codec codec(setup.role, setup.settings, setup.deflate);
  Recorder rec(&codec);
  if (setup.on_event) rec.hook = [&](const Event& e) { setup.on_event(codec, e); };
  if (setup.before) setup.before(codec);
  Bytes data(stream.begin(), stream.end());  // receive() unmasks in place
  FeedResult r;
  r.split = std::move(split_name);
  std::size_t start = 0;
  auto run = [&](std::size_t end) {
    const std::error_code ec = codec.receive(std::span<std::uint8_t>(data.data() + start, end - start), rec);
    if (ec && !r.error) {
      r.error = ec;
      r.bytes_before_error = end;
    } else if (r.error && ec != r.error) {
      r.later_calls_agree = false;
    }
    start = end;
  };
  for (std::size_t cut : cuts) {
    if (cut > start && cut < data.size()) run(cut);
  }
  run(data.size());
  if (r.error) {
    // One more call with fresh bytes must report the same error.
    Bytes extra = bytes({0x81, 0x80, 0, 0, 0, 0});
    if (codec.receive(extra, rec) != r.error) r.later_calls_agree = false;
  }
  r.events = rec.events;
  const auto out = codec.pending_output();
  r.output.assign(out.begin(), out.end());
  r.frames = parse_frames(r.output, &r.output_complete);
  r.state = codec.state();
  r.close_sent = codec.close_sent();
  r.close_received = codec.close_received();
  r.peer_close_code = codec.peer_close_code();
  r.peer_close_reason = codec.peer_close_reason();
  r.failure = codec.failure();
  return r;
}

inline const char* state_name(CodecState s) {
  switch (s) {
    case CodecState::open: return "open";
    case CodecState::closing: return "closing";
    case CodecState::closed: return "closed";
  }
  return "?";
}

// Adds a failure and returns false when `b` differs from the reference result `a`.
inline bool same_result(const FeedResult& a, const FeedResult& b, Role role) {
  SCOPED_TRACE("split: " + b.split + " vs " + a.split);
  bool ok = true;
  auto check = [&](bool cond, const char* what) {
    if (!cond) {
      ADD_FAILURE() << "results differ in " << what;
      ok = false;
    }
  };
  check(a.events == b.events, "events");
  if (a.events == b.events) {
    for (std::size_t i = 0; i < a.events.size(); ++i) {
      check(a.events[i].output_at == b.events[i].output_at, "output size at an event");
    }
  }
  check(a.error == b.error, "error");
  check(a.frames == b.frames, "output frames");
  if (role == Role::server) check(a.output == b.output, "output bytes");
  check(a.output.size() == b.output.size(), "output size");
  check(a.state == b.state, "state");
  check(a.close_sent == b.close_sent, "close_sent");
  check(a.close_received == b.close_received, "close_received");
  check(a.peer_close_code == b.peer_close_code, "peer_close_code");
  check(a.peer_close_reason == b.peer_close_reason, "peer_close_reason");
  check(a.failure == b.failure, "failure");
  check(b.later_calls_agree, "later receive() results");
  if (!ok) {
    ::testing::Message m;
    m << "reference (" << a.split << "): error=" << a.error.message() << " events=" << a.events.size()
      << " out=" << to_hex(a.output) << "\n"
      << "this (" << b.split << "): error=" << b.error.message() << " events=" << b.events.size()
      << " out=" << to_hex(b.output);
    ADD_FAILURE() << m;
  }
  return ok;
}

// Feeds `stream` whole, at every 2-way split and one byte at a time (for
// streams up to `exhaustive_limit` bytes; beyond, a handful of splits), checks
// all give the same events, error, output and state, and returns the result of
// feeding it whole.
inline FeedResult feed_all_splits(const CodecSetup& setup, std::span<const std::uint8_t> stream,
                                  std::size_t exhaustive_limit = 2048) {
  const FeedResult whole = feed_chunks(setup, stream, {}, "whole");
  const std::size_t n = stream.size();
  std::vector<std::vector<std::size_t>> cut_sets;
  std::vector<std::string> names;
  if (n <= exhaustive_limit) {
    for (std::size_t i = 1; i < n; ++i) {
      cut_sets.push_back({i});
      names.push_back("2-way at " + std::to_string(i));
    }
    std::vector<std::size_t> every(n > 0 ? n - 1 : 0);
    for (std::size_t i = 1; i < n; ++i) every[i - 1] = i;
    cut_sets.push_back(every);
    names.push_back("1 byte at a time");
  } else {
    for (std::size_t at : {std::size_t{1}, std::size_t{2}, std::size_t{7}, n / 3, n / 2, n - 1}) {
      cut_sets.push_back({at});
      names.push_back("2-way at " + std::to_string(at));
    }
    std::mt19937 rng(static_cast<std::uint32_t>(n));
    for (int round = 0; round < 3; ++round) {
      std::vector<std::size_t> cuts;
      for (std::size_t p = 0;;) {
        p += 1 + rng() % (round == 0 ? 13 : round == 1 ? 4099 : 65537);
        if (p >= n) break;
        cuts.push_back(p);
      }
      cut_sets.push_back(cuts);
      names.push_back("random chunks #" + std::to_string(round));
    }
  }
  for (std::size_t i = 0; i < cut_sets.size(); ++i) {
    if (!same_result(whole, feed_chunks(setup, stream, cut_sets[i], names[i]), setup.role)) break;
  }
  return whole;
}

// Checks that `r` failed with `e` and that its output ends with exactly one
// close frame carrying `code` (masked for a client) and a short valid reason,
// with `frames_before` frames before it.
inline void expect_failure(const FeedResult& r, Error e, std::uint16_t code, Role role,
                           std::size_t frames_before = 0) {
  EXPECT_EQ(r.error, make_error_code(e)) << "got: " << r.error.message();
  EXPECT_EQ(r.failure, make_error_code(e));
  EXPECT_EQ(r.state, CodecState::closed);
  EXPECT_TRUE(r.close_sent);
  EXPECT_TRUE(r.output_complete);
  ASSERT_EQ(r.frames.size(), frames_before + 1) << "output: " << to_hex(r.output);
  const ParsedFrame& f = r.frames.back();
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_TRUE(f.fin);
  EXPECT_FALSE(f.rsv1 || f.rsv2 || f.rsv3);
  EXPECT_EQ(f.masked, role == Role::client);
  ASSERT_GE(f.payload.size(), 2u);
  EXPECT_EQ(f.payload[0], code >> 8);
  EXPECT_EQ(f.payload[1], code & 0xFF);
  EXPECT_LE(f.payload.size(), 125u);
  EXPECT_TRUE(ref_utf8(std::span(f.payload).subspan(2)).valid());
  if (role == Role::server) {
    // Unmasked: the header and code bytes are exactly 88 <len> <code hi> <code lo>.
    const Bytes head(r.output.begin() + static_cast<std::ptrdiff_t>(f.offset),
                     r.output.begin() + static_cast<std::ptrdiff_t>(f.offset + 4));
    EXPECT_EQ(head, bytes({0x88, static_cast<unsigned>(f.payload.size()), static_cast<unsigned>(code >> 8),
                            static_cast<unsigned>(code & 0xFF)}));
  }
}

// ---------------------------------------------------------------------------
// Two codecs talking to each other

class Conversation {
 public:
  Conversation(CodecSettings client_settings, CodecSettings server_settings, std::optional<DeflateParams> deflate,
               std::uint32_t seed)
      : client(Role::client, client_settings, deflate),
        server(Role::server, server_settings, deflate),
        client_rx(&client),
        server_rx(&server),
        rng(seed) {}
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;

  // Moves pending output both ways, in random chunks, until neither side has
  // any. Returns the first receive() error, if any.
  std::error_code pump() {
    for (int rounds = 0; rounds < 1000 && (client.has_output() || server.has_output()); ++rounds) {
      if (auto ec = move(client, server, server_rx)) return ec;
      if (auto ec = move(server, client, client_rx)) return ec;
    }
    return {};
  }

  Codec client;
  Codec server;
  Recorder client_rx;
  Recorder server_rx;
  std::mt19937 rng;
  std::size_t bytes_to_server = 0;
  std::size_t bytes_to_client = 0;

 private:
  std::error_code move(Codec& from, Codec& to, Recorder& rx) {
    if (!from.has_output()) return {};
    const auto out = from.pending_output();
    Bytes data(out.begin(), out.end());
    from.consume_output(data.size());
    (&to == &server ? bytes_to_server : bytes_to_client) += data.size();
    std::size_t pos = 0;
    while (pos < data.size()) {
      const std::size_t left = data.size() - pos;
      std::size_t n;
      switch (rng() % 4) {
        case 0: n = 1 + rng() % std::min<std::size_t>(left, 7); break;
        case 1: n = 1 + rng() % std::min<std::size_t>(left, 200); break;
        case 2: n = 1 + rng() % left; break;
        default: n = left; break;
      }
      if (auto ec = to.receive(std::span<std::uint8_t>(data.data() + pos, n), rx)) return ec;
      pos += n;
    }
    return {};
  }
};

}  // namespace sluice::protocol::test
