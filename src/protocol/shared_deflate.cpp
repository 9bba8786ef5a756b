#include "sluice/protocol/shared_deflate.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sluice/protocol/deflate.hpp"
#include "sluice/protocol/frame.hpp"
#include "sluice/util/bytes.hpp"

namespace sluice::protocol {

namespace {

// This thread's compressor: an empty dictionary for every message, a 15-bit
// window, the level and memory level it was first asked for.
MessageDeflater& thread_deflater(const DeflateOptions& options) {
  thread_local std::unique_ptr<MessageDeflater> deflater;
  if (!deflater) {
    deflater = std::make_unique<MessageDeflater>(15, /*no_context_takeover=*/true, options.compression_level,
                                                 options.mem_level);
  }
  return *deflater;
}

}  // namespace

std::optional<std::string> deflate_server_frames(std::string_view frames, const DeflateOptions& options) {
  std::string out;
  bool shrank = false;
  std::vector<std::uint8_t> compressed;
  std::size_t pos = 0;
  while (pos < frames.size()) {
    FrameHeader header;
    const std::size_t header_size = decode_frame_header(bytes_of(frames.substr(pos)), header);
    if (header_size == 0 || header.masked || header.payload_length > frames.size() - pos - header_size) {
      return std::nullopt;  // not a run of complete server frames
    }
    const std::string_view whole = frames.substr(pos, header_size + header.payload_length);
    const std::string_view payload = whole.substr(header_size);
    pos += whole.size();
    const auto opcode = static_cast<Opcode>(header.opcode);
    const bool compressible = header.fin && !header.rsv1 && (opcode == Opcode::text || opcode == Opcode::binary) &&
                              payload.size() >= options.min_compress_size;
    compressed.clear();
    if (compressible && !thread_deflater(options).compress(bytes_of(payload), compressed) &&
        compressed.size() < payload.size()) {
      const auto head = make_server_header(opcode, compressed.size(), true, /*rsv1=*/true);
      out.append(reinterpret_cast<const char*>(head.bytes.data()), head.size);
      out.append(reinterpret_cast<const char*>(compressed.data()), compressed.size());
      shrank = true;
    } else {
      out.append(whole);
    }
  }
  if (!shrank) return std::nullopt;
  return out;
}

}  // namespace sluice::protocol
