#include "sluice/protocol/mask.hpp"

#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

namespace sluice::protocol {

std::size_t apply_mask(std::span<std::uint8_t> data, const MaskKey& key, std::size_t phase) noexcept {
  std::uint8_t* p = data.data();
  std::size_t n = data.size();
  phase &= 3;
  // Rotate the key so byte 0 of `pattern` lines up with data[0].
  std::uint8_t rotated[8];
  for (std::size_t i = 0; i < 8; ++i) rotated[i] = key[(phase + i) & 3];
  std::uint64_t pattern;
  std::memcpy(&pattern, rotated, 8);
  // Two independent 64-bit lanes per step; the compiler turns this into SIMD.
  while (n >= 16) {
    std::uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    a ^= pattern;
    b ^= pattern;
    std::memcpy(p, &a, 8);
    std::memcpy(p + 8, &b, 8);
    p += 16;
    n -= 16;
  }
  for (std::size_t i = 0; i < n; ++i) p[i] ^= rotated[i & 3];
  return (phase + data.size()) & 3;
}

MaskKey random_mask_key() {
  // Refill 1 KiB of CSPRNG output at a time: 256 keys per RAND_bytes call.
  struct Pool {
    std::uint8_t bytes[1024];
    std::size_t used = sizeof(bytes);
  };
  thread_local Pool pool;
  if (pool.used == sizeof(pool.bytes)) {
    if (RAND_bytes(pool.bytes, sizeof(pool.bytes)) != 1) {
      throw std::runtime_error("OpenSSL RAND_bytes failed: no CSPRNG output for masking keys");
    }
    pool.used = 0;
  }
  MaskKey key;
  std::memcpy(key.data(), pool.bytes + pool.used, 4);
  pool.used += 4;
  return key;
}

}  // namespace sluice::protocol
