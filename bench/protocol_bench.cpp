// Micro-benchmarks of the protocol hot paths: unmasking, UTF-8 validation,
// frame parsing through Codec::receive, and frame building. What each case
// measures, how to run it, and the targets it is held to: docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "sluice/protocol/codec.hpp"
#include "sluice/protocol/frame.hpp"
#include "sluice/protocol/mask.hpp"
#include "sluice/protocol/utf8.hpp"

namespace {

using sluice::protocol::apply_mask;
using sluice::protocol::append_frame;
using sluice::protocol::Codec;
using sluice::protocol::CodecHandler;
using sluice::protocol::decode_frame_header;
using sluice::protocol::FrameHeader;
using sluice::protocol::is_valid_utf8;
using sluice::protocol::make_server_header;
using sluice::protocol::MaskKey;
using sluice::protocol::MessageType;
using sluice::protocol::Opcode;
using sluice::protocol::Role;
using sluice::protocol::Utf8Validator;

using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t k64 = 64;
constexpr std::size_t k16K = 16 * 1024;
constexpr std::size_t k1M = 1024 * 1024;
// Frames per buffer in the small-frame cases: 256 x 70 wire bytes is about one 16 KiB socket read.
constexpr std::size_t kSmallFramesPerBuffer = 256;

// --- Inputs -----------------------------------------------------------------

// Text shaped like a JSON feed, all ASCII.
constexpr std::string_view kAsciiSample =
    R"({"id":4711,"user":"alice","room":"general","text":"hello, world - see you at 10:30","tags":["a","b"]},)";
// The same shape with names and words from several languages: mostly ASCII,
// some 2-byte (é, ü, Ł) and 3-byte (€, 東京) characters.
constexpr std::string_view kMixedSample =
    R"({"id":4711,"user":"José Müller","city":"Zürich","text":"price 5€, naïve café"},)"
    R"({"id":4712,"user":"Łukasz Wróbel","city":"東京","text":"see you at 10:30, ok?"},)";
// Only 2-byte characters (no spaces).
constexpr std::string_view kCyrillicSample = "СъешьжеещёэтихмягкихфранцузскихбулокдавыпейчаюПривет";
// Only 3-byte characters.
constexpr std::string_view kCjkSample = "日本語のテキストを検証する中文文本验证한국어텍스트검증";

// Bytes in the UTF-8 sequence that starts with `lead`.
std::size_t sequence_length(std::uint8_t lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// `size` bytes of valid UTF-8: `sample` repeated without splitting a character,
// the last (at most 3) bytes padded with ASCII spaces.
Bytes repeat_text(std::string_view sample, std::size_t size) {
  Bytes out;
  out.reserve(size);
  std::size_t i = 0;
  for (;;) {
    const auto lead = static_cast<std::uint8_t>(sample[i]);
    const std::size_t n = sequence_length(lead);
    if (out.size() + n > size) break;
    for (std::size_t k = 0; k < n; ++k) out.push_back(static_cast<std::uint8_t>(sample[i + k]));
    i = (i + n) % sample.size();
  }
  out.resize(size, ' ');
  return out;
}

Bytes binary_payload(std::size_t size) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 131 + 7);
  return out;
}

// `count` copies of one frame carrying `payload`, as `sender` puts them on the wire.
Bytes wire_frames(Role sender, Opcode op, const Bytes& payload, std::size_t count) {
  Bytes out;
  for (std::size_t i = 0; i < count; ++i) append_frame(out, sender, op, payload);
  return out;
}

// --- Masking ----------------------------------------------------------------

// apply_mask over a buffer in place (phase 0; the buffer just flips between
// two states, which costs the same).
void BM_Mask(benchmark::State& state) {
  Bytes data = binary_payload(static_cast<std::size_t>(state.range(0)));
  const MaskKey key{0x37, 0xfa, 0x21, 0x3d};
  for (auto _ : state) {
    benchmark::DoNotOptimize(apply_mask(data, key, 0));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Mask)->Arg(k64)->Arg(k16K)->Arg(k1M);

// The same with a phase of 1 and a buffer that does not start on a word boundary.
void BM_MaskUnaligned(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Bytes storage = binary_payload(size + 1);
  const std::span<std::uint8_t> data(storage.data() + 1, size);
  const MaskKey key{0x37, 0xfa, 0x21, 0x3d};
  for (auto _ : state) {
    benchmark::DoNotOptimize(apply_mask(data, key, 1));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_MaskUnaligned)->Arg(k16K);

// --- UTF-8 validation -------------------------------------------------------

void run_utf8(benchmark::State& state, std::string_view sample) {
  const Bytes text = repeat_text(sample, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    const bool valid = is_valid_utf8(text);
    benchmark::DoNotOptimize(valid);
    if (!valid) {
      state.SkipWithError("benchmark input is not valid UTF-8");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
void BM_Utf8Ascii(benchmark::State& state) { run_utf8(state, kAsciiSample); }
void BM_Utf8Mixed(benchmark::State& state) { run_utf8(state, kMixedSample); }
void BM_Utf8Cyrillic(benchmark::State& state) { run_utf8(state, kCyrillicSample); }
void BM_Utf8Cjk(benchmark::State& state) { run_utf8(state, kCjkSample); }
BENCHMARK(BM_Utf8Ascii)->Arg(k64)->Arg(k16K);
BENCHMARK(BM_Utf8Mixed)->Arg(k64)->Arg(k16K);
BENCHMARK(BM_Utf8Cyrillic)->Arg(k16K);
BENCHMARK(BM_Utf8Cjk)->Arg(k16K);

// Utf8Validator::feed over 16 KiB of mixed text in 1460-byte chunks (one TCP
// segment each), as a fragmented or split message is validated.
void BM_Utf8FeedMixedChunked(benchmark::State& state) {
  const Bytes text = repeat_text(kMixedSample, k16K);
  constexpr std::size_t kChunk = 1460;
  for (auto _ : state) {
    Utf8Validator validator;
    bool ok = true;
    for (std::size_t pos = 0; pos < text.size(); pos += kChunk) {
      const std::size_t n = std::min(kChunk, text.size() - pos);
      ok = validator.feed({text.data() + pos, n}) && ok;
    }
    ok = ok && validator.complete();
    benchmark::DoNotOptimize(ok);
    if (!ok) {
      state.SkipWithError("benchmark input is not valid UTF-8");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(k16K));
}
BENCHMARK(BM_Utf8FeedMixedChunked);

// --- Frame parsing (Codec::receive) -----------------------------------------

// Counts delivered messages so the benchmark can check nothing was lost.
class CountingHandler final : public CodecHandler {
 public:
  void on_message(MessageType /*type*/, std::span<const std::uint8_t> payload) override {
    benchmark::DoNotOptimize(payload.data());
    ++messages;
  }
  std::size_t messages = 0;
};

// Feeds `wire` (a buffer of `frames` whole frames) to a codec of `role` once
// per iteration. A server codec unmasks in place, so each iteration first
// restores the buffer from a pristine copy; that memcpy is part of the timed
// loop (BM_RestoreCopy measures it alone). Bytes/s counts payload bytes,
// items/s counts frames.
void run_receive(benchmark::State& state, Role role, const Bytes& wire, std::size_t frames,
                 std::size_t payload_size) {
  Codec codec(role);
  CountingHandler handler;
  Bytes buffer = wire;
  const bool restore = role == Role::server;
  for (auto _ : state) {
    if (restore) std::memcpy(buffer.data(), wire.data(), wire.size());
    if (const std::error_code ec = codec.receive(buffer, handler)) {
      state.SkipWithError(ec.message().c_str());
      break;
    }
  }
  if (handler.messages != frames * state.iterations()) state.SkipWithError("messages were lost");
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<std::int64_t>(frames * payload_size));
  state.SetItemsProcessed(iterations * static_cast<std::int64_t>(frames));
}

// The peer of `role` sends, so its frames are masked exactly when `role` is the server.
Role sender_for(Role role) { return role == Role::server ? Role::client : Role::server; }

void BM_ReceiveBinary(benchmark::State& state, Role role) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t frames = size <= k64 ? kSmallFramesPerBuffer : 1;
  const Bytes wire = wire_frames(sender_for(role), Opcode::binary, binary_payload(size), frames);
  run_receive(state, role, wire, frames, size);
}
// Text payloads are the mixed (mostly ASCII, some 2-3 byte) sample.
void BM_ReceiveText(benchmark::State& state, Role role) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t frames = size <= k64 ? kSmallFramesPerBuffer : 1;
  const Bytes wire = wire_frames(sender_for(role), Opcode::text, repeat_text(kMixedSample, size), frames);
  run_receive(state, role, wire, frames, size);
}
BENCHMARK_CAPTURE(BM_ReceiveBinary, server, Role::server)->Arg(k64)->Arg(k16K);
BENCHMARK_CAPTURE(BM_ReceiveText, server, Role::server)->Arg(k64)->Arg(k16K);
BENCHMARK_CAPTURE(BM_ReceiveBinary, client, Role::client)->Arg(k64)->Arg(k16K);
BENCHMARK_CAPTURE(BM_ReceiveText, client, Role::client)->Arg(k64);

// The restore memcpy of the server receive cases alone, to subtract if wanted.
// Arg 64 copies a buffer of 256 masked 64-byte frames; items/s counts those frames.
void BM_RestoreCopy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t frames = size <= k64 ? kSmallFramesPerBuffer : 1;
  const Bytes wire = wire_frames(Role::client, Opcode::binary, binary_payload(size), frames);
  Bytes buffer(wire.size());
  for (auto _ : state) {
    std::memcpy(buffer.data(), wire.data(), wire.size());
    benchmark::ClobberMemory();
  }
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<std::int64_t>(frames * size));
  state.SetItemsProcessed(iterations * static_cast<std::int64_t>(frames));
}
BENCHMARK(BM_RestoreCopy)->Arg(k64)->Arg(k16K);

// decode_frame_header alone, on the 6-byte header of a masked 64-byte frame.
void BM_DecodeFrameHeader(benchmark::State& state) {
  const Bytes wire = wire_frames(Role::client, Opcode::binary, binary_payload(k64), 1);
  FrameHeader header;
  for (auto _ : state) {
    benchmark::DoNotOptimize(wire.data());
    benchmark::DoNotOptimize(decode_frame_header(wire, header));
    benchmark::DoNotOptimize(header);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DecodeFrameHeader);

// --- Frame building ---------------------------------------------------------

// append_frame into a reused vector (cleared, capacity kept). A client frame
// also draws a key from the per-thread pool and masks the copied payload.
void BM_AppendFrame(benchmark::State& state, Role sender) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const Bytes payload = binary_payload(size);
  Bytes out;
  out.reserve(size + sluice::protocol::kMaxFrameHeaderSize);
  for (auto _ : state) {
    out.clear();
    append_frame(out, sender, Opcode::binary, payload);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const auto iterations = static_cast<std::int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<std::int64_t>(size));
  state.SetItemsProcessed(iterations);
}
BENCHMARK_CAPTURE(BM_AppendFrame, server, Role::server)->Arg(k64)->Arg(k16K);
BENCHMARK_CAPTURE(BM_AppendFrame, client, Role::client)->Arg(k64)->Arg(k16K);

// make_server_header: the header built once per publish and shared by all recipients.
void BM_MakeServerHeader(benchmark::State& state) {
  std::uint64_t length = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(length);
    benchmark::DoNotOptimize(make_server_header(Opcode::text, length));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_MakeServerHeader)->Arg(k64)->Arg(k16K);

}  // namespace
