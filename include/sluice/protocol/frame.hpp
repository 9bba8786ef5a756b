// Frame headers (RFC 6455 §5.2): encoding and decoding, nothing else.
//
// Decoding here is purely syntactic; the rules that depend on the role and the
// connection's state (masking, fragmentation, reserved bits) live in Codec.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sluice/protocol/mask.hpp"
#include "sluice/protocol/role.hpp"

namespace sluice::protocol {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// Control frames are close, ping and pong (opcodes 0x8-0xF).
constexpr bool is_control(Opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

/// True for the six opcodes RFC 6455 defines.
constexpr bool is_known_opcode(std::uint8_t op) noexcept {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

struct FrameHeader {
  std::uint64_t payload_length = 0;
  bool fin = true;
  bool rsv1 = false;  // "compressed" under permessage-deflate
  bool rsv2 = false;
  bool rsv3 = false;
  std::uint8_t opcode = 0;  // raw, so that reserved opcodes can be reported
  bool masked = false;
  MaskKey mask{};
  bool minimal_length = true;  // false if the length used a longer form than needed
};

inline constexpr std::size_t kMaxFrameHeaderSize = 14;

/// Bytes of header needed, given at least the first two bytes of a frame.
constexpr std::size_t frame_header_size(std::uint8_t byte0_unused, std::uint8_t byte1) noexcept {
  (void)byte0_unused;
  const std::uint8_t len7 = byte1 & 0x7F;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((byte1 & 0x80) ? 4 : 0);
}

/// Decodes a header from the start of `in`. Returns its size in bytes, or 0 if
/// `in` does not hold the whole header yet. Never reads past `in`.
std::size_t decode_frame_header(std::span<const std::uint8_t> in, FrameHeader& out) noexcept;

/// Encodes `h` (minimal length form) into `out`; returns the size (2..14).
std::size_t encode_frame_header(const FrameHeader& h, std::uint8_t* out) noexcept;

/// One encoded header, built once and reusable for many recipients.
struct EncodedHeader {
  std::array<std::uint8_t, kMaxFrameHeaderSize> bytes{};
  std::uint8_t size = 0;
  std::span<const std::uint8_t> view() const noexcept { return {bytes.data(), size}; }
};

/// The header of an unmasked (server) frame with this opcode and length.
EncodedHeader make_server_header(Opcode op, std::uint64_t payload_length, bool fin = true,
                                 bool rsv1 = false) noexcept;

/// Appends one complete frame to `out`. A client frame is masked with a fresh
/// random key (the payload is copied, then masked in `out`); a server frame is
/// not. Thread-safe (no shared state besides the per-thread key pool).
void append_frame(std::vector<std::uint8_t>& out, Role sender, Opcode op,
                  std::span<const std::uint8_t> payload, bool fin = true, bool rsv1 = false);

}  // namespace sluice::protocol
