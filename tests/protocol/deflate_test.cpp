// Tests of MessageDeflater / MessageInflater: RFC 7692 §7.2.3 vectors,
// round-trips checked against a plain zlib reference, fragmentation, limits,
// compression bombs and corrupt input.
#include "sluice/protocol/deflate.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "sluice/protocol/error.hpp"

namespace sluice::protocol {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

constexpr std::size_t kNoLimit = static_cast<std::size_t>(-1);
constexpr std::size_t kMiB = 1024 * 1024;

// Random bytes (incompressible) from a fixed seed, so failures reproduce.
Bytes random_bytes(std::size_t n, std::mt19937& rng) {
  Bytes out(n);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : out) b = static_cast<std::uint8_t>(byte(rng));
  return out;
}

// Text from a small vocabulary: compresses well but is not trivially repetitive.
Bytes compressible_bytes(std::size_t n, std::mt19937& rng) {
  static constexpr std::string_view kWords[] = {"sluice ", "websocket ", "frame ", "deflate ",
                                                "hello ",  "world ",     "topic ", "message ",
                                                "{\"id\":", "42, ",      "\n"};
  std::uniform_int_distribution<std::size_t> pick(0, std::size(kWords) - 1);
  Bytes out;
  out.reserve(n + 16);
  while (out.size() < n) {
    const auto w = kWords[pick(rng)];
    out.insert(out.end(), w.begin(), w.end());
  }
  out.resize(n);
  return out;
}

Bytes compress(MessageDeflater& d, const Bytes& message) {
  Bytes out;
  EXPECT_FALSE(d.compress(message, out));
  return out;
}

// Inflates one whole message sent as a single frame.
Bytes inflate(MessageInflater& i, const Bytes& payload, std::size_t limit = kNoLimit) {
  Bytes out;
  EXPECT_FALSE(i.decompress(payload, true, out, limit));
  return out;
}

// An independent decoder written straight on zlib, to show that what our
// deflater emits is plain RFC 7692 data and not just something our inflater likes.
class ZlibReference {
 public:
  ZlibReference() { EXPECT_EQ(inflateInit2(&strm_, -15), Z_OK); }
  ~ZlibReference() { inflateEnd(&strm_); }
  ZlibReference(const ZlibReference&) = delete;
  ZlibReference& operator=(const ZlibReference&) = delete;

  Bytes inflate_message(Bytes payload, bool reset_after) {
    payload.insert(payload.end(), {0x00, 0x00, 0xff, 0xff});
    Bytes out;
    strm_.next_in = payload.data();
    strm_.avail_in = static_cast<uInt>(payload.size());
    std::uint8_t buf[4096];
    do {
      strm_.next_out = buf;
      strm_.avail_out = sizeof buf;
      const int rc = inflate(&strm_, Z_SYNC_FLUSH);
      EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << "zlib reference rc=" << rc;
      if (rc != Z_OK && rc != Z_BUF_ERROR) break;
      out.insert(out.end(), buf, buf + (sizeof buf - strm_.avail_out));
    } while (strm_.avail_in > 0 || strm_.avail_out == 0);
    if (reset_after) inflateReset(&strm_);
    return out;
  }

 private:
  z_stream strm_{};
};

// --- RFC 7692 §7.2.3 examples ----------------------------------------------

const Bytes kHello = bytes("Hello");
const Bytes kHelloCompressed{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
const Bytes kHelloSecondWithContext{0xf2, 0x00, 0x11, 0x00, 0x00};

TEST(DeflateRfcVectors, HelloWithoutContextTakeover) {
  MessageDeflater d(15, true);
  EXPECT_EQ(compress(d, kHello), kHelloCompressed);
  EXPECT_EQ(compress(d, kHello), kHelloCompressed);  // no history: same bytes again
}

TEST(DeflateRfcVectors, HelloTwiceWithContextTakeover) {
  MessageDeflater d(15, false);
  EXPECT_EQ(compress(d, kHello), kHelloCompressed);
  EXPECT_EQ(compress(d, kHello), kHelloSecondWithContext);
}

TEST(DeflateRfcVectors, InflatesHello) {
  MessageInflater i(true);
  EXPECT_EQ(inflate(i, kHelloCompressed), kHello);
}

TEST(DeflateRfcVectors, InflatesSharedContext) {
  MessageInflater i(false);
  EXPECT_EQ(inflate(i, kHelloCompressed), kHello);
  EXPECT_EQ(inflate(i, kHelloSecondWithContext), kHello);
}

TEST(DeflateRfcVectors, InflatesUncompressedBlock) {
  MessageInflater i(true);
  EXPECT_EQ(inflate(i, {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), kHello);
}

TEST(DeflateRfcVectors, InflatesFragmentedMessage) {
  MessageInflater i(true);
  Bytes out;
  EXPECT_FALSE(i.decompress(Bytes{0xf2, 0x48, 0xcd}, false, out, kNoLimit));
  EXPECT_FALSE(i.decompress(Bytes{0xc9, 0xc9, 0x07, 0x00}, true, out, kNoLimit));
  EXPECT_EQ(out, kHello);
}

TEST(DeflateRfcVectors, InflatesTwoBlocksInOneMessage) {  // §7.2.3.5
  MessageInflater i(true);
  EXPECT_EQ(inflate(i, {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
                        0x00}),
            kHello);
}

// --- BFINAL (§7.2.3.4): the peer ends its deflate stream inside a message ----

TEST(DeflateBfinal, RfcExampleThenMoreMessages) {
  MessageInflater i(false);
  const Bytes bfinal{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
  EXPECT_EQ(inflate(i, bfinal), kHello);
  EXPECT_EQ(inflate(i, bfinal), kHello);
  // A normal message afterwards starts from an empty window and still decodes.
  EXPECT_EQ(inflate(i, kHelloCompressed), kHello);
  EXPECT_EQ(inflate(i, kHelloSecondWithContext), kHello);
}

TEST(DeflateBfinal, WithoutTrailingEmptyBlockHeader) {
  // Some peers send only the final block; the 00 00 ff ff tail then lands in a
  // fresh stream as a partial header, which must not corrupt the next message.
  MessageInflater i(false);
  const Bytes bfinal{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  EXPECT_EQ(inflate(i, bfinal), kHello);
  EXPECT_EQ(inflate(i, kHelloCompressed), kHello);
  EXPECT_EQ(inflate(i, bfinal), kHello);
  EXPECT_EQ(inflate(i, bfinal), kHello);
}

TEST(DeflateBfinal, TwoStreamsInOneMessage) {
  MessageInflater i(false);
  Bytes payload{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  payload.insert(payload.end(), kHelloCompressed.begin(), kHelloCompressed.end());
  EXPECT_EQ(inflate(i, payload), bytes("HelloHello"));
  // The second stream's window is kept: a context-takeover follow-up refers to it.
  EXPECT_EQ(inflate(i, kHelloSecondWithContext), kHello);
}

TEST(DeflateBfinal, FinalBlockSplitAcrossFrames) {
  MessageInflater i(true);
  Bytes out;
  EXPECT_FALSE(i.decompress(Bytes{0xf3, 0x48, 0xcd, 0xc9}, false, out, kNoLimit));
  EXPECT_FALSE(i.decompress(Bytes{0xc9, 0x07, 0x00, 0x00}, true, out, kNoLimit));
  EXPECT_EQ(out, kHello);
}

// A message cut anywhere inside its deflate data is refused once it ends,
// not delivered as a shorter text (the tail only closes a complete flush).
TEST(DeflateTruncated, EveryCutOfAMessageFailsAtItsEnd) {
  for (bool no_takeover : {false, true}) {
    MessageDeflater d(15, no_takeover);
    std::mt19937 rng(7);
    const Bytes message = compressible_bytes(2000, rng);
    const Bytes whole = compress(d, message);
    ASSERT_GT(whole.size(), 8u);
    {
      MessageInflater i(no_takeover);
      EXPECT_EQ(inflate(i, whole), message);
    }
    for (std::size_t cut = 1; cut < whole.size(); ++cut) {
      MessageInflater i(no_takeover);
      Bytes out;
      const Bytes part(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
      EXPECT_EQ(i.decompress(part, true, out, kNoLimit), make_error_code(Error::inflate_failed))
          << "cut at " << cut << " of " << whole.size() << ", no_takeover=" << no_takeover;
    }
  }
}

TEST(DeflateTruncated, CutLastFrameOfAFragmentedMessageFails) {
  MessageInflater i(false);
  Bytes out;
  EXPECT_FALSE(i.decompress(Bytes{0xf2, 0x48, 0xcd}, false, out, kNoLimit));
  EXPECT_EQ(i.decompress(Bytes{0xc9, 0xc9}, true, out, kNoLimit), make_error_code(Error::inflate_failed));
}

// --- Empty messages (§7.2.3.6) ----------------------------------------------

TEST(DeflateEmptyMessage, CompressesToSingleZeroByte) {
  for (bool no_takeover : {false, true}) {
    MessageDeflater d(15, no_takeover);
    ZlibReference ref;
    MessageInflater i(no_takeover);
    // Fresh stream, repeated empty messages, and empty after data: always 0x00.
    for (const Bytes& m : {Bytes{}, Bytes{}, kHello, Bytes{}, Bytes{}, kHello}) {
      const Bytes c = compress(d, m);
      if (m.empty()) {
        EXPECT_EQ(c, Bytes{0x00}) << "no_takeover=" << no_takeover;
      }
      EXPECT_EQ(ref.inflate_message(c, no_takeover), m);
      EXPECT_EQ(inflate(i, c), m);
    }
  }
}

TEST(DeflateEmptyMessage, EmptyFramesInsideFragmentedMessage) {
  MessageInflater i(true);
  Bytes out;
  EXPECT_FALSE(i.decompress(Bytes{}, false, out, kNoLimit));
  EXPECT_FALSE(i.decompress(Bytes{0xf2, 0x48, 0xcd}, false, out, kNoLimit));
  EXPECT_FALSE(i.decompress(Bytes{}, false, out, kNoLimit));
  EXPECT_FALSE(i.decompress(Bytes{0xc9, 0xc9, 0x07, 0x00}, false, out, kNoLimit));
  EXPECT_FALSE(i.decompress(Bytes{}, true, out, kNoLimit));
  EXPECT_EQ(out, kHello);
}

// --- Round-trips over every window size, with and without context takeover --

class DeflateRoundTrip : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(DeflateRoundTrip, SizesRandomAndCompressible) {
  const auto [window_bits, no_takeover] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(window_bits * 2 + no_takeover));
  MessageDeflater d(window_bits, no_takeover);
  MessageInflater i(no_takeover);
  ZlibReference ref;
  for (std::size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 1024u * 1024u}) {
    for (bool compressible : {false, true}) {
      const Bytes m = compressible ? compressible_bytes(size, rng) : random_bytes(size, rng);
      const Bytes c = compress(d, m);
      if (compressible && size >= 65535) {
        EXPECT_LT(c.size(), m.size() / 2);
      }
      EXPECT_EQ(inflate(i, c), m) << "size=" << size << " compressible=" << compressible;
      EXPECT_EQ(ref.inflate_message(c, no_takeover), m) << "size=" << size;
    }
  }
}

TEST_P(DeflateRoundTrip, FiftyMessagesThroughOnePair) {
  const auto [window_bits, no_takeover] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(1000 + window_bits * 2 + no_takeover));
  MessageDeflater d(window_bits, no_takeover);
  MessageInflater i(no_takeover);
  ZlibReference ref;
  std::uniform_int_distribution<std::size_t> size(0, 3000);
  for (int n = 0; n < 50; ++n) {
    const std::size_t len = n % 10 == 9 ? 65536 : size(rng);
    const Bytes m = n % 3 == 0 ? random_bytes(len, rng) : compressible_bytes(len, rng);
    const Bytes c = compress(d, m);
    EXPECT_EQ(inflate(i, c), m) << "message " << n;
    EXPECT_EQ(ref.inflate_message(c, no_takeover), m) << "message " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(DeflateAllWindows, DeflateRoundTrip,
                         ::testing::Combine(::testing::Range(9, 16), ::testing::Bool()));

TEST(DeflateRoundTripSettings, EveryLevelAndMemLevel) {
  std::mt19937 rng(7);
  const Bytes m = compressible_bytes(20000, rng);
  for (int level = 0; level <= 9; ++level) {
    for (int mem_level = 1; mem_level <= 9; ++mem_level) {
      MessageDeflater d(15, false, level, mem_level);
      MessageInflater i(false);
      for (int n = 0; n < 3; ++n) {
        EXPECT_EQ(inflate(i, compress(d, m)), m) << "level=" << level << " mem=" << mem_level;
      }
    }
  }
}

TEST(DeflateRoundTripSettings, AppendsToExistingBuffers) {
  MessageDeflater d(15, true);
  MessageInflater i(true);
  Bytes c = bytes("prefix");
  ASSERT_FALSE(d.compress(kHello, c));
  EXPECT_EQ(Bytes(c.begin() + 6, c.end()), kHelloCompressed);
  Bytes out = bytes(">>");
  ASSERT_FALSE(i.decompress(kHelloCompressed, true, out, kNoLimit));
  EXPECT_EQ(out, bytes(">>Hello"));
}

TEST(DeflateRoundTripSettings, MovedObjectsKeepTheirContext) {
  MessageDeflater d(15, false);
  MessageInflater i(false);
  EXPECT_EQ(compress(d, kHello), kHelloCompressed);
  EXPECT_EQ(inflate(i, kHelloCompressed), kHello);
  MessageDeflater d2(std::move(d));
  MessageInflater i2(std::move(i));
  EXPECT_EQ(compress(d2, kHello), kHelloSecondWithContext);
  EXPECT_EQ(inflate(i2, kHelloSecondWithContext), kHello);
  MessageDeflater d3(9, true);
  MessageInflater i3(true);
  d3 = std::move(d2);
  i3 = std::move(i2);
  const Bytes third = compress(d3, kHello);
  EXPECT_LT(third.size(), kHelloSecondWithContext.size());  // still refers back to history
  EXPECT_EQ(inflate(i3, third), kHello);
}

TEST(DeflateRoundTripSettings, InvalidWindowBitsFailWithoutCrashing) {
  MessageDeflater d(8, false);  // raw deflate cannot use an 8-bit window
  Bytes out;
  EXPECT_EQ(d.compress(kHello, out), Error::deflate_failed);
  EXPECT_TRUE(out.empty());
}

// --- Fragmentation: every split point gives the same bytes -------------------

TEST(DeflateFragmentation, EverySplitPointOfAShortMessage) {
  const Bytes m = bytes("Hello, permessage-deflate! Hello, Hello, Hello again.");
  for (bool no_takeover : {false, true}) {
    MessageDeflater d(15, no_takeover);
    MessageInflater i(no_takeover);
    const Bytes c1 = compress(d, m);
    const Bytes c2 = compress(d, m);  // with takeover: refers back to message 1
    const Bytes c3 = compress(d, m);
    EXPECT_EQ(inflate(i, c1), m);
    for (std::size_t a = 0; a <= c2.size(); ++a) {
      for (std::size_t b = a; b <= c2.size(); ++b) {
        // Each trial needs the inflater state right after message 1.
        MessageInflater t(no_takeover);
        ASSERT_EQ(inflate(t, c1), m);
        Bytes out;
        ASSERT_FALSE(t.decompress(Bytes(c2.begin(), c2.begin() + a), false, out, kNoLimit));
        ASSERT_FALSE(t.decompress(Bytes(c2.begin() + a, c2.begin() + b), false, out, kNoLimit));
        ASSERT_FALSE(t.decompress(Bytes(c2.begin() + b, c2.end()), true, out, kNoLimit));
        ASSERT_EQ(out, m) << "split at " << a << "," << b;
        // And the stream is still in step for the following message.
        ASSERT_EQ(inflate(t, c3), m);
      }
    }
  }
}

TEST(DeflateFragmentation, OneByteFramesOfALargeMessage) {
  std::mt19937 rng(11);
  const Bytes m = compressible_bytes(50000, rng);
  MessageDeflater d(15, false);
  MessageInflater i(false);
  const Bytes c = compress(d, m);
  Bytes out;
  for (std::uint8_t b : c) ASSERT_FALSE(i.decompress(Bytes{b}, false, out, kNoLimit));
  ASSERT_FALSE(i.decompress(Bytes{}, true, out, kNoLimit));
  EXPECT_EQ(out, m);
  EXPECT_EQ(inflate(i, compress(d, m)), m);
}

// --- Limits and compression bombs ------------------------------------------

// 50 MiB of zeros compresses to about 50 KiB.
const Bytes& zero_bomb() {
  static const Bytes bomb = [] {
    MessageDeflater d(15, true, 9);
    Bytes out;
    EXPECT_FALSE(d.compress(Bytes(50 * kMiB, 0), out));
    return out;
  }();
  return bomb;
}

TEST(DeflateLimit, CompressionBombStopsAtLimit) {
  ASSERT_LT(zero_bomb().size(), 100u * 1024);
  MessageInflater i(true);
  Bytes out;
  EXPECT_EQ(i.decompress(zero_bomb(), true, out, kMiB), Error::message_too_big);
  EXPECT_LE(out.size(), kMiB);
  EXPECT_LE(out.capacity(), kMiB);  // the bomb cost at most `limit` bytes of memory
}

TEST(DeflateLimit, CompressionBombAcrossFrames) {
  MessageInflater i(false);
  const Bytes& bomb = zero_bomb();
  Bytes out;
  std::error_code ec;
  std::size_t pos = 0;
  while (!ec && pos < bomb.size()) {
    const std::size_t n = std::min<std::size_t>(1000, bomb.size() - pos);
    ec = i.decompress(std::span(bomb).subspan(pos, n), pos + n == bomb.size(), out, kMiB);
    pos += n;
    ASSERT_LE(out.size(), kMiB);
  }
  EXPECT_EQ(ec, Error::message_too_big);
  EXPECT_LT(pos, bomb.size());  // detected early, not after reading the whole bomb
}

TEST(DeflateLimit, LimitEqualToOutputSizeSucceeds) {
  std::mt19937 rng(5);
  // Sizes around the inflater's internal chunk boundaries, too.
  for (std::size_t size : {0u, 1u, 5u, 16384u, 16385u, 32768u, 65536u, 100000u}) {
    const Bytes m = compressible_bytes(size, rng);
    MessageDeflater d(15, true);
    const Bytes c = compress(d, m);
    MessageInflater ok(true);
    Bytes out;
    EXPECT_FALSE(ok.decompress(c, true, out, size)) << "size=" << size;
    EXPECT_EQ(out, m);
    // And the inflater is still usable for a following message at the limit.
    out.clear();
    EXPECT_FALSE(ok.decompress(c, true, out, size));
    EXPECT_EQ(out, m);
    if (size == 0) continue;
    MessageInflater too_small(true);
    out.clear();
    EXPECT_EQ(too_small.decompress(c, true, out, size - 1), Error::message_too_big);
    EXPECT_LE(out.size(), size - 1);
  }
}

TEST(DeflateLimit, LimitCountsBytesAlreadyInTheBuffer) {
  MessageInflater i(true);
  Bytes out;
  ASSERT_FALSE(i.decompress(Bytes{0xf2, 0x48, 0xcd}, false, out, 5));
  ASSERT_FALSE(i.decompress(Bytes{0xc9, 0xc9, 0x07, 0x00}, true, out, 5));
  EXPECT_EQ(out, kHello);
  MessageInflater j(true);
  out = bytes("xx");
  EXPECT_EQ(j.decompress(kHelloCompressed, true, out, 6), Error::message_too_big);
  EXPECT_LE(out.size(), 6u);
}

// --- Corrupt input ----------------------------------------------------------

TEST(DeflateCorrupt, InvalidBlockType) {
  MessageInflater i(true);
  Bytes out;
  EXPECT_EQ(i.decompress(Bytes{0xff, 0xff, 0xff}, true, out, kNoLimit), Error::inflate_failed);
}

TEST(DeflateCorrupt, StoredBlockLengthMismatch) {
  MessageInflater i(true);
  Bytes out;
  EXPECT_EQ(i.decompress(Bytes{0x00, 0x05, 0x00, 0x00, 0x00, 'H'}, true, out, kNoLimit),
            Error::inflate_failed);
}

TEST(DeflateCorrupt, BackReferenceWithoutHistory) {
  // The second RFC message refers to the first; without it the distance is too far back.
  MessageInflater i(false);
  Bytes out;
  EXPECT_EQ(i.decompress(kHelloSecondWithContext, true, out, kNoLimit), Error::inflate_failed);
}

TEST(DeflateCorrupt, ContextTakeoverMismatch) {
  // Peer keeps its context but we were told it resets: the back-reference fails.
  MessageInflater i(true);
  EXPECT_EQ(inflate(i, kHelloCompressed), kHello);
  Bytes out;
  EXPECT_EQ(i.decompress(kHelloSecondWithContext, true, out, kNoLimit), Error::inflate_failed);
}

TEST(DeflateCorrupt, ErrorIsFinal) {
  MessageInflater i(true);
  Bytes out;
  ASSERT_EQ(i.decompress(Bytes{0xff, 0xff, 0xff}, true, out, kNoLimit), Error::inflate_failed);
  EXPECT_EQ(i.decompress(kHelloCompressed, true, out, kNoLimit), Error::inflate_failed);
}

TEST(DeflateCorrupt, RandomGarbageNeverExceedsLimit) {
  std::mt19937 rng(99);
  for (int n = 0; n < 2000; ++n) {
    MessageInflater i(n % 2 == 0);
    const Bytes junk = random_bytes(1 + n % 200, rng);
    Bytes out;
    const std::error_code ec = i.decompress(junk, true, out, 4096);
    EXPECT_TRUE(!ec || ec == Error::inflate_failed || ec == Error::message_too_big) << ec.message();
    EXPECT_LE(out.size(), 4096u);
  }
}

}  // namespace
}  // namespace sluice::protocol
