// The client-to-server masking of RFC 6455 §5.3, word at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::protocol {

using MaskKey = std::array<std::uint8_t, 4>;

/// XORs `data` in place with `key`, starting at byte `phase` (0..3) of the key,
/// so a payload can be unmasked in pieces as it arrives. Returns the phase for
/// the next piece. Pure function of its arguments, thread-safe.
std::size_t apply_mask(std::span<std::uint8_t> data, const MaskKey& key, std::size_t phase = 0) noexcept;

/// A fresh masking key from the CSPRNG (OpenSSL RAND_bytes, buffered per
/// thread so a frame does not cost a RAND_bytes call). Thread-safe.
MaskKey random_mask_key();

}  // namespace sluice::protocol
