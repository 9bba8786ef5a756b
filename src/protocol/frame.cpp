#include "sluice/protocol/frame.hpp"

#include <cstring>

namespace sluice::protocol {

std::size_t decode_frame_header(std::span<const std::uint8_t> in, FrameHeader& out) noexcept {
  if (in.size() < 2) return 0;
  const std::uint8_t b0 = in[0];
  const std::uint8_t b1 = in[1];
  const std::size_t size = frame_header_size(b0, b1);
  if (in.size() < size) return 0;

  out.fin = (b0 & 0x80) != 0;
  out.rsv1 = (b0 & 0x40) != 0;
  out.rsv2 = (b0 & 0x20) != 0;
  out.rsv3 = (b0 & 0x10) != 0;
  out.opcode = b0 & 0x0F;
  out.masked = (b1 & 0x80) != 0;
  const std::uint8_t len7 = b1 & 0x7F;
  std::size_t pos = 2;
  if (len7 < 126) {
    out.payload_length = len7;
    out.minimal_length = true;
  } else if (len7 == 126) {
    out.payload_length = (std::uint64_t{in[2]} << 8) | in[3];
    out.minimal_length = out.payload_length >= 126;
    pos = 4;
  } else {
    std::uint64_t len = 0;
    for (std::size_t i = 0; i < 8; ++i) len = (len << 8) | in[2 + i];
    out.payload_length = len;
    out.minimal_length = len > 0xFFFF;
    pos = 10;
  }
  if (out.masked) {
    std::memcpy(out.mask.data(), in.data() + pos, 4);
  } else {
    out.mask = {};
  }
  return size;
}

std::size_t encode_frame_header(const FrameHeader& h, std::uint8_t* out) noexcept {
  out[0] = static_cast<std::uint8_t>((h.fin ? 0x80 : 0) | (h.rsv1 ? 0x40 : 0) | (h.rsv2 ? 0x20 : 0) |
                                     (h.rsv3 ? 0x10 : 0) | (h.opcode & 0x0F));
  const std::uint8_t mask_bit = h.masked ? 0x80 : 0;
  std::size_t pos;
  if (h.payload_length < 126) {
    out[1] = static_cast<std::uint8_t>(mask_bit | h.payload_length);
    pos = 2;
  } else if (h.payload_length <= 0xFFFF) {
    out[1] = mask_bit | 126;
    out[2] = static_cast<std::uint8_t>(h.payload_length >> 8);
    out[3] = static_cast<std::uint8_t>(h.payload_length);
    pos = 4;
  } else {
    out[1] = mask_bit | 127;
    for (std::size_t i = 0; i < 8; ++i) {
      out[2 + i] = static_cast<std::uint8_t>(h.payload_length >> (8 * (7 - i)));
    }
    pos = 10;
  }
  if (h.masked) {
    std::memcpy(out + pos, h.mask.data(), 4);
    pos += 4;
  }
  return pos;
}

EncodedHeader make_server_header(Opcode op, std::uint64_t payload_length, bool fin, bool rsv1) noexcept {
  FrameHeader h;
  h.fin = fin;
  h.rsv1 = rsv1;
  h.opcode = static_cast<std::uint8_t>(op);
  h.payload_length = payload_length;
  EncodedHeader encoded;
  encoded.size = static_cast<std::uint8_t>(encode_frame_header(h, encoded.bytes.data()));
  return encoded;
}

void append_frame(std::vector<std::uint8_t>& out, Role sender, Opcode op,
                  std::span<const std::uint8_t> payload, bool fin, bool rsv1) {
  FrameHeader h;
  h.fin = fin;
  h.rsv1 = rsv1;
  h.opcode = static_cast<std::uint8_t>(op);
  h.payload_length = payload.size();
  h.masked = sender == Role::client;
  if (h.masked) h.mask = random_mask_key();
  std::uint8_t header[kMaxFrameHeaderSize];
  const std::size_t header_size = encode_frame_header(h, header);
  const std::size_t start = out.size();
  out.resize(start + header_size + payload.size());
  std::memcpy(out.data() + start, header, header_size);
  if (!payload.empty()) std::memcpy(out.data() + start + header_size, payload.data(), payload.size());
  if (h.masked) apply_mask({out.data() + start + header_size, payload.size()}, h.mask);
}

}  // namespace sluice::protocol
