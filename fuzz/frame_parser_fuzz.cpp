// libFuzzer target for the sans-I/O codec's frame parser (RFC 6455 framing,
// fragmentation, control frames, close handshake, UTF-8, RFC 7692 inflation).
//
// Input: one selector byte, then the byte stream received from the peer.
//   bit 0    the role of the first codec (0 server, 1 client); a codec of the
//            other role also gets the same bytes, fed whole
//   bit 1    permessage-deflate agreed
//   bit 2    no_context_takeover both ways (with deflate); echo every message
//   bits 3-7 v: the first codec gets the stream in chunks of 1 + v*v bytes
//            (v = 31: whole)
//
// Invariants checked (abort on violation): the same error from every call after
// the first failure; after a failure the output ends with a well-formed close
// frame with a valid code; every frame we write is well-formed for our role;
// messages respect the limits and text is valid UTF-8; nothing after on_close.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "sluice/protocol/close_code.hpp"
#include "sluice/protocol/codec.hpp"
#include "sluice/protocol/error.hpp"

namespace {

using namespace sluice::protocol;

constexpr std::size_t kLimit = 64 * 1024;

[[noreturn]] void violated(const char* what, int line) {
  std::fprintf(stderr, "frame_parser_fuzz: invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define FUZZ_CHECK(cond)                       \
  do {                                         \
    if (!(cond)) violated(#cond, __LINE__);    \
  } while (0)

// Straightforward RFC 3629 check, independent of the validator under test.
bool valid_utf8(std::span<const std::uint8_t> s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t b = s[i];
    std::size_t len;
    std::uint32_t cp, min;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2, cp = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3, cp = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t j = 1; j < len; ++j) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

struct OutFrame {
  std::uint8_t opcode = 0;
  bool fin = false;
  std::vector<std::uint8_t> payload;
};

// Parses what a codec of role `sender` wrote; every frame must be complete and well-formed.
std::vector<OutFrame> parse_output(std::span<const std::uint8_t> s, Role sender) {
  std::vector<OutFrame> frames;
  std::size_t pos = 0;
  while (pos < s.size()) {
    FUZZ_CHECK(s.size() - pos >= 2);
    const std::uint8_t b0 = s[pos], b1 = s[pos + 1];
    OutFrame f;
    f.fin = b0 & 0x80;
    f.opcode = b0 & 0x0F;
    FUZZ_CHECK((b0 & 0x30) == 0);  // never RSV2/RSV3
    FUZZ_CHECK(f.opcode <= 2 || (f.opcode >= 8 && f.opcode <= 10));
    const bool masked = b1 & 0x80;
    FUZZ_CHECK(masked == (sender == Role::client));
    std::size_t p = pos + 2;
    std::uint64_t len = b1 & 0x7F;
    if (len == 126) {
      FUZZ_CHECK(s.size() - p >= 2);
      len = (std::uint64_t{s[p]} << 8) | s[p + 1];
      FUZZ_CHECK(len >= 126);
      p += 2;
    } else if (len == 127) {
      FUZZ_CHECK(s.size() - p >= 8);
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | s[p + i];
      FUZZ_CHECK(len > 0xFFFF);
      p += 8;
    }
    std::uint8_t key[4] = {0, 0, 0, 0};
    if (masked) {
      FUZZ_CHECK(s.size() - p >= 4);
      for (int i = 0; i < 4; ++i) key[i] = s[p + i];
      p += 4;
    }
    FUZZ_CHECK(s.size() - p >= len);
    if (f.opcode >= 8) {
      FUZZ_CHECK(f.fin);
      FUZZ_CHECK(len <= 125);
      FUZZ_CHECK((b0 & 0x40) == 0);
    }
    f.payload.assign(s.begin() + static_cast<std::ptrdiff_t>(p), s.begin() + static_cast<std::ptrdiff_t>(p + len));
    for (std::size_t i = 0; i < f.payload.size(); ++i) f.payload[i] ^= key[i % 4];
    frames.push_back(std::move(f));
    pos = p + static_cast<std::size_t>(len);
  }
  return frames;
}

class Handler final : public CodecHandler {
 public:
  Handler(Codec& codec, bool echo) : codec_(codec), echo_(echo) {}

  void on_message(MessageType type, std::span<const std::uint8_t> payload) override {
    FUZZ_CHECK(!closed);
    FUZZ_CHECK(payload.size() <= kLimit);
    if (type == MessageType::text) FUZZ_CHECK(valid_utf8(payload));
    ++messages;
    if (echo_) (void)codec_.send(type, payload);  // a handler may send from a callback
  }
  void on_ping(std::span<const std::uint8_t> payload) override {
    FUZZ_CHECK(!closed);
    FUZZ_CHECK(payload.size() <= 125);
  }
  void on_pong(std::span<const std::uint8_t> payload) override {
    FUZZ_CHECK(!closed);
    FUZZ_CHECK(payload.size() <= 125);
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    FUZZ_CHECK(!closed);
    closed = true;
    FUZZ_CHECK(code == close_code::no_status || is_valid_wire_close_code(code));
    FUZZ_CHECK(reason.size() <= 123);
    FUZZ_CHECK(valid_utf8({reinterpret_cast<const std::uint8_t*>(reason.data()), reason.size()}));
  }

  bool closed = false;
  std::size_t messages = 0;

 private:
  Codec& codec_;
  bool echo_;
};

void run(Role role, std::optional<DeflateParams> deflate, bool echo, std::size_t chunk,
         std::span<const std::uint8_t> input) {
  CodecSettings settings;
  settings.max_frame_size = kLimit;
  settings.max_message_size = kLimit;
  settings.deflate.min_compress_size = 16;
  Codec codec(role, settings, deflate);
  Handler handler(codec, echo);
  std::vector<std::uint8_t> data(input.begin(), input.end());  // receive() unmasks in place

  std::error_code first;
  bool close_sent_before_failure = false;
  for (std::size_t pos = 0; pos < data.size(); pos += chunk) {
    const std::size_t n = std::min(chunk, data.size() - pos);
    const bool was_close_sent = codec.close_sent();
    const std::error_code ec = codec.receive({data.data() + pos, n}, handler);
    if (first) {
      FUZZ_CHECK(ec == first);
    } else if (ec) {
      first = ec;
      close_sent_before_failure = was_close_sent;
    }
  }

  const auto out = codec.pending_output();
  const std::vector<OutFrame> frames = parse_output(out, role);
  if (first) {
    FUZZ_CHECK(first.category() == protocol_category());
    FUZZ_CHECK(codec.failure() == first);
    FUZZ_CHECK(codec.state() == CodecState::closed);
    FUZZ_CHECK(codec.should_close_transport());
    FUZZ_CHECK(codec.close_sent());
    // The output ends with a well-formed close frame.
    FUZZ_CHECK(!frames.empty());
    const OutFrame& last = frames.back();
    FUZZ_CHECK(last.opcode == 0x8);
    FUZZ_CHECK(last.payload.size() != 1);
    if (last.payload.size() >= 2) {
      const auto code = static_cast<std::uint16_t>((last.payload[0] << 8) | last.payload[1]);
      FUZZ_CHECK(is_valid_wire_close_code(code));
      FUZZ_CHECK(valid_utf8(std::span(last.payload).subspan(2)));
      if (!close_sent_before_failure) FUZZ_CHECK(code == close_code_for(first));
    }
    // Exactly one close frame, ever.
    std::size_t closes = 0;
    for (const OutFrame& f : frames) closes += f.opcode == 0x8;
    FUZZ_CHECK(closes == 1);
    // Later calls keep failing the same way and add nothing.
    const std::size_t out_size = out.size();
    std::uint8_t more[] = {0x81, 0x80, 1, 2, 3, 4};
    FUZZ_CHECK(codec.receive(more, handler) == first);
    FUZZ_CHECK(codec.pending_output().size() == out_size);
    FUZZ_CHECK(codec.close() == make_error_code(Error::connection_closed));
  } else {
    FUZZ_CHECK(!codec.failure());
    if (codec.close_received()) {
      FUZZ_CHECK(handler.closed);
      FUZZ_CHECK(codec.state() == CodecState::closed);
    } else {
      FUZZ_CHECK(codec.state() == CodecState::open);
      FUZZ_CHECK(!handler.closed);
      // A clean close is still possible and queues exactly one close frame.
      const std::size_t before = codec.pending_output().size();
      FUZZ_CHECK(!codec.close(1000, "fuzz"));
      FUZZ_CHECK(codec.state() == CodecState::closing);
      const std::vector<OutFrame> after = parse_output(codec.pending_output().subspan(before), role);
      FUZZ_CHECK(after.size() == 1 && after[0].opcode == 0x8);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t sel = data[0];
  const Role role = (sel & 1) ? Role::client : Role::server;
  const Role other = role == Role::server ? Role::client : Role::server;
  std::optional<DeflateParams> deflate;
  if (sel & 2) {
    DeflateParams p;
    p.server_no_context_takeover = (sel & 4) != 0;
    p.client_no_context_takeover = (sel & 4) != 0;
    deflate = p;
  }
  const bool echo = (sel & 4) != 0;
  const std::size_t v = sel >> 3;
  const std::size_t chunk = v == 31 ? size : 1 + v * v;
  const std::span<const std::uint8_t> stream(data + 1, size - 1);
  run(role, deflate, echo, chunk, stream);
  run(other, deflate, echo, size, stream);
  return 0;
}
