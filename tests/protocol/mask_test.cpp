// Client-to-server masking (RFC 6455 §5.3).
#include "sluice/protocol/mask.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "protocol/test_util.hpp"

namespace sluice::protocol::test {
namespace {

const MaskKey kKeys[] = {
    {0x37, 0xfa, 0x21, 0x3d},
    {0x00, 0x00, 0x00, 0x00},
    {0xff, 0xff, 0xff, 0xff},
    {0x01, 0x02, 0x04, 0x80},
};

TEST(Mask, RfcExampleHello) {
  // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58.
  Bytes data = to_bytes("Hello");
  EXPECT_EQ(apply_mask(data, kTestMask), 1u);  // 5 bytes from phase 0 end at phase 1
  EXPECT_EQ(data, from_hex("7f 9f 4d 51 58"));
  apply_mask(data, kTestMask);
  EXPECT_EQ(data, to_bytes("Hello"));
}

TEST(Mask, MatchesByteByByteReferenceForEveryLengthAndPhase) {
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 100; ++n) lengths.push_back(n);
  for (std::size_t n : {127u, 128u, 255u, 256u, 1000u, 4096u, 4097u, 65535u, 65536u, 100003u}) lengths.push_back(n);
  for (const MaskKey& key : kKeys) {
    for (std::size_t n : lengths) {
      for (std::size_t phase = 0; phase < 4; ++phase) {
        SCOPED_TRACE(::testing::Message() << "len " << n << " phase " << phase);
        const Bytes original = random_bytes(n, static_cast<std::uint32_t>(n * 7 + phase));
        Bytes expected = original;
        ref_mask(expected, key, phase);
        Bytes actual = original;
        const std::size_t next = apply_mask(actual, key, phase);
        ASSERT_EQ(actual, expected);
        ASSERT_EQ(next, (phase + n) % 4);
      }
    }
  }
}

TEST(Mask, UnalignedBuffers) {
  // The same bytes at every alignment offset of the underlying storage.
  const Bytes original = random_bytes(200, 5);
  for (std::size_t offset = 0; offset < 16; ++offset) {
    for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 33u, 100u, 184u}) {
      Bytes storage(offset + n + 16, 0xAA);
      std::copy(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(n), storage.begin() + static_cast<std::ptrdiff_t>(offset));
      apply_mask(std::span(storage).subspan(offset, n), kTestMask, offset % 4);
      Bytes expected(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(n));
      ref_mask(expected, kTestMask, offset % 4);
      ASSERT_EQ(Bytes(storage.begin() + static_cast<std::ptrdiff_t>(offset), storage.begin() + static_cast<std::ptrdiff_t>(offset + n)), expected)
          << "offset " << offset << " len " << n;
      // Bytes around the span are untouched.
      for (std::size_t i = 0; i < offset; ++i) ASSERT_EQ(storage[i], 0xAA);
      for (std::size_t i = offset + n; i < storage.size(); ++i) ASSERT_EQ(storage[i], 0xAA);
    }
  }
}

TEST(Mask, PiecewiseUnmaskingAtRandomSplitsEqualsWhole) {
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 500; ++iter) {
    const std::size_t n = rng() % 3000;
    const MaskKey key{static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng()),
                      static_cast<std::uint8_t>(rng())};
    const Bytes original = random_bytes(n, static_cast<std::uint32_t>(iter));
    Bytes whole = original;
    ref_mask(whole, key);
    Bytes pieces = original;
    std::size_t pos = 0, phase = 0;
    while (pos < n) {
      const std::size_t take = std::min<std::size_t>(n - pos, rng() % 2 ? 1 + rng() % 7 : 1 + rng() % 400);
      phase = apply_mask(std::span(pieces).subspan(pos, take), key, phase);
      pos += take;
    }
    ASSERT_EQ(pieces, whole) << "iteration " << iter;
    ASSERT_EQ(phase, n % 4);
  }
}

TEST(Mask, PhaseAboveThreeIsTakenModuloFour) {
  Bytes a = random_bytes(37, 9);
  Bytes b = a;
  apply_mask(a, kTestMask, 6);
  ref_mask(b, kTestMask, 2);
  EXPECT_EQ(a, b);
}

TEST(Mask, MaskingTwiceRestoresTheData) {
  const Bytes original = random_bytes(1000, 11);
  Bytes data = original;
  apply_mask(data, kTestMask, 3);
  EXPECT_NE(data, original);
  apply_mask(data, kTestMask, 3);
  EXPECT_EQ(data, original);
}

TEST(Mask, RandomKeysVary) {
  std::set<MaskKey> keys;
  std::array<std::set<std::uint8_t>, 4> byte_values;
  const int count = 2000;  // crosses several refills of the per-thread pool
  for (int i = 0; i < count; ++i) {
    const MaskKey k = random_mask_key();
    keys.insert(k);
    for (std::size_t j = 0; j < 4; ++j) byte_values[j].insert(k[j]);
  }
  // 2000 draws of 32 random bits: a collision is possible but more than a few is not.
  EXPECT_GE(keys.size(), static_cast<std::size_t>(count - 5));
  for (std::size_t j = 0; j < 4; ++j) EXPECT_GT(byte_values[j].size(), 200u) << "byte " << j;
}

}  // namespace
}  // namespace sluice::protocol::test
