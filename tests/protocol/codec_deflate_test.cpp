// Codec with permessage-deflate (RFC 7692), both roles. Compressed test data
// is made with zlib directly, independently of deflate.cpp.
#include <gtest/gtest.h>
#include <zlib.h>

#include "protocol/test_util.hpp"
#include "sluice/protocol/codec.hpp"

namespace sluice::protocol::test {
namespace {

CodecSetup deflate_setup(Role role, DeflateParams params = {}, CodecSettings settings = {}) {
  CodecSetup s = setup_for(role, settings);
  s.deflate = params;
  return s;
}

// Raw-deflates `input` with one Z_SYNC_FLUSH and removes the 00 00 ff ff tail (RFC 7692 §7.2.1).
Bytes zlib_compress(std::span<const std::uint8_t> input, int window_bits = 15, int level = 6) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&z, static_cast<uLong>(input.size())) + 64);
  z.next_in = const_cast<Bytef*>(input.data());
  z.avail_in = static_cast<uInt>(input.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
  EXPECT_EQ(z.avail_in, 0u);
  const std::size_t produced = out.size() - z.avail_out;
  deflateEnd(&z);
  if (produced < 4) {
    ADD_FAILURE() << "zlib produced " << produced << " bytes";
    return {};
  }
  const auto tail_start = out.begin() + static_cast<std::ptrdiff_t>(produced - 4);
  EXPECT_EQ(Bytes(tail_start, tail_start + 4), from_hex("00 00 ff ff"));
  return Bytes(out.begin(), tail_start);
}

// Inflates one message (appending the tail) with a window of exactly `window_bits`; nullopt on error.
std::optional<Bytes> zlib_inflate(std::span<const std::uint8_t> compressed, int window_bits) {
  z_stream z{};
  if (inflateInit2(&z, -window_bits) != Z_OK) return std::nullopt;
  const Bytes in = cat(compressed, from_hex("00 00 ff ff"));
  Bytes out;
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::uint8_t buf[4096];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = buf;
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.insert(out.end(), buf, buf + (sizeof(buf) - z.avail_out));
    if (z.avail_in == 0 && z.avail_out != 0) break;
  }
  inflateEnd(&z);
  if (rc != Z_OK && rc != Z_BUF_ERROR) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------
// RFC 7692 §7.2.3 examples, received by a client (server frames are unmasked)

TEST(CodecDeflate, Rfc7692HelloFrame) {
  const FeedResult r = feed_all_splits(deflate_setup(Role::client), from_hex("c1 07 f2 48 cd c9 c9 07 00"));
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
  EXPECT_TRUE(r.output.empty());
}

TEST(CodecDeflate, Rfc7692HelloSentToAServer) {
  // The same compressed payload, masked, from a client.
  const FeedResult r = feed_all_splits(deflate_setup(Role::server), to_server(kText, from_hex("f2 48 cd c9 c9 07 00"), true, true));
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
}

TEST(CodecDeflate, Rfc7692FragmentedHello) {
  // §7.2.3.1: the compressed payload split over two frames; RSV1 only on the first.
  const FeedResult r = feed_all_splits(deflate_setup(Role::client), from_hex("41 03 f2 48 cd 80 04 c9 c9 07 00"));
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
}

TEST(CodecDeflate, Rfc7692SharedWindowAcrossMessages) {
  // §7.2.3.2: the second "Hello" refers back into the first message's window.
  const Bytes stream = from_hex("c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00");
  const FeedResult r = feed_all_splits(deflate_setup(Role::client), stream);
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, (std::vector<Event>{text_event("Hello"), text_event("Hello")}));
}

TEST(CodecDeflate, ServerNoContextTakeoverMakesABackReferenceInvalid) {
  // With server_no_context_takeover agreed the client resets its window after each
  // message, so the §7.2.3.2 second message refers to nothing: corrupt data, 1007.
  DeflateParams p;
  p.server_no_context_takeover = true;
  const Bytes stream = from_hex("c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00");
  const FeedResult r = feed_all_splits(deflate_setup(Role::client, p), stream);
  expect_failure(r, Error::inflate_failed, 1007, Role::client);
  EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
}

TEST(CodecDeflate, Rfc7692StoredBlock) {
  // §7.2.3.3: no compression (a stored block).
  const FeedResult r = feed_all_splits(deflate_setup(Role::client), from_hex("c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00"));
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
}

TEST(CodecDeflate, Rfc7692BfinalBlock) {
  // §7.2.3.4: a block with BFINAL set, then another message on a fresh stream.
  const Bytes stream = cat(from_hex("c1 08 f3 48 cd c9 c9 07 00 00"), from_hex("c1 07 f2 48 cd c9 c9 07 00"));
  const FeedResult r = feed_all_splits(deflate_setup(Role::client), stream);
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, (std::vector<Event>{text_event("Hello"), text_event("Hello")}));
}

TEST(CodecDeflate, Rfc7692TwoDeflateBlocksInOneMessage) {
  // §7.2.3.5.
  const FeedResult r =
      feed_all_splits(deflate_setup(Role::client), from_hex("c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00"));
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
}

TEST(CodecDeflate, EmptyCompressedMessages) {
  // An empty stored block (00) and an empty fixed-Huffman block (02 00) both inflate to "".
  const Bytes stream = from_hex("c1 01 00 c2 02 02 00 c1 07 f2 48 cd c9 c9 07 00");
  const FeedResult r = feed_all_splits(deflate_setup(Role::client), stream);
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, (std::vector<Event>{text_event(""), binary_event(""), text_event("Hello")}));
}

TEST(CodecDeflate, UncompressedMessagesStillWork) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes stream = cat(frame_to(role, kText, "plain"), frame_to(role, kBinary, zlib_compress(as_span("packed")), true, true),
                             frame_to(role, kBinary, "raw"));
    const FeedResult r = feed_all_splits(deflate_setup(role), stream);
    EXPECT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.events, (std::vector<Event>{text_event("plain"), binary_event("packed"), binary_event("raw")}));
  }
}

// ---------------------------------------------------------------------------
// RSV1 rules (RFC 7692 §6)

TEST(CodecDeflate, Rsv1OnAContinuationFrame) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    // Compressed first frame, RSV1 again on the continuation.
    const Bytes stream = cat(frame_to(role, kText, from_hex("f2 48 cd"), false, true),
                             frame_to(role, kCont, from_hex("c9 c9 07 00"), true, true));
    const FeedResult r = feed_all_splits(deflate_setup(role), stream);
    expect_failure(r, Error::reserved_bits_set, 1002, role);
    EXPECT_TRUE(r.events.empty());
    // And on a continuation of an uncompressed message.
    const Bytes stream2 = cat(frame_to(role, kText, "ab", false), frame_to(role, kCont, "cd", true, true));
    expect_failure(feed_all_splits(deflate_setup(role), stream2), Error::reserved_bits_set, 1002, role);
  }
}

TEST(CodecDeflate, Rsv1OnAControlFrame) {
  for (Role role : kRoles) {
    for (std::uint8_t op : {kPing, kPong, kClose}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " op " << unsigned{op});
      const FeedResult r = feed_all_splits(deflate_setup(role), frame_to(role, op, "", true, true));
      expect_failure(r, Error::reserved_bits_set, 1002, role);
      EXPECT_TRUE(r.events.empty());
    }
  }
}

TEST(CodecDeflate, Rsv2AndRsv3AreStillReserved) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    FrameOpts o;
    o.rsv2 = true;
    if (role == Role::server) o.mask = kTestMask;
    expect_failure(feed_all_splits(deflate_setup(role), build_frame(kText, as_span("x"), o)), Error::reserved_bits_set,
                   1002, role);
  }
}

// ---------------------------------------------------------------------------
// Bad compressed data

TEST(CodecDeflate, CorruptDataIs1007) {
  for (Role role : kRoles) {
    for (const char* hex : {"ff ff ff", "07", "00 05 00 00 00 48 65 6c 6c 6f"}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " " << hex);
      const FeedResult r = feed_all_splits(deflate_setup(role), frame_to(role, kBinary, from_hex(hex), true, true));
      expect_failure(r, Error::inflate_failed, 1007, role);
      EXPECT_TRUE(r.events.empty());
    }
  }
}

TEST(CodecDeflate, InvalidUtf8AfterInflation) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes compressed = zlib_compress(as_span("valid start \xff invalid"));
    const FeedResult r = feed_all_splits(deflate_setup(role), frame_to(role, kText, compressed, true, true));
    expect_failure(r, Error::invalid_utf8, 1007, role);
    // The same bytes as binary are fine.
    const FeedResult ok = feed_all_splits(deflate_setup(role), frame_to(role, kBinary, compressed, true, true));
    EXPECT_FALSE(ok.error);
    EXPECT_EQ(ok.events, std::vector<Event>{binary_event("valid start \xff invalid")});
  }
}

TEST(CodecDeflate, CompressionBombIsStoppedAtTheMessageLimit) {
  constexpr std::size_t kMiB = 1024 * 1024;
  const Bytes zeros(64 * kMiB, 0);
  const Bytes bomb = zlib_compress(zeros, 15, 9);
  ASSERT_LT(bomb.size(), 128u * 1024);  // ~64 KiB on the wire
  CodecSettings s;
  s.max_message_size = kMiB;
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes frame = frame_to(role, kBinary, bomb, true, true);
    const FeedResult r = feed_all_splits(deflate_setup(role, {}, s), frame, 0);
    expect_failure(r, Error::message_too_big, 1009, role);
    EXPECT_TRUE(r.events.empty());
    // The same bomb cut over three frames fails the same way.
    const std::size_t third = bomb.size() / 3;
    const Bytes fragmented = cat(frame_to(role, kBinary, std::span(bomb).first(third), false, true),
                                 frame_to(role, kCont, std::span(bomb).subspan(third, third), false),
                                 frame_to(role, kCont, std::span(bomb).subspan(2 * third), true));
    expect_failure(feed_all_splits(deflate_setup(role, {}, s), fragmented, 0), Error::message_too_big, 1009, role);
  }
}

TEST(CodecDeflate, InflatedSizeExactlyAtTheLimitPasses) {
  constexpr std::size_t kLimit = 256 * 1024;
  CodecSettings s;
  s.max_message_size = kLimit;
  const Bytes exact = random_bytes(kLimit, 9);
  const Bytes over = cat(exact, bytes({1}));
  const FeedResult ok = feed_all_splits(deflate_setup(Role::server, {}, s), to_server(kBinary, zlib_compress(exact), true, true), 0);
  EXPECT_FALSE(ok.error) << ok.error.message();
  ASSERT_EQ(ok.events.size(), 1u);
  EXPECT_TRUE(ok.events[0].data == exact);
  const FeedResult bad = feed_all_splits(deflate_setup(Role::server, {}, s), to_server(kBinary, zlib_compress(over), true, true), 0);
  expect_failure(bad, Error::message_too_big, 1009, Role::server);
}

// ---------------------------------------------------------------------------
// A compressed message over several frames

TEST(CodecDeflate, CompressedPayloadSplitOverThreeFrames) {
  std::mt19937 rng(3);
  const Bytes text = random_utf8(3000, rng);
  const Bytes compressed = zlib_compress(text);
  for (Role role : kRoles) {
    for (std::size_t a : {std::size_t{0}, std::size_t{1}, compressed.size() / 3}) {
      for (std::size_t b : {a, a + 1, compressed.size() - 1, compressed.size()}) {
        SCOPED_TRACE(::testing::Message() << role_name(role) << " cuts " << a << "," << b);
        const Bytes stream = cat(frame_to(role, kText, std::span(compressed).first(a), false, true),
                                 frame_to(role, kCont, std::span(compressed).subspan(a, b - a), false),
                                 frame_to(role, kCont, std::span(compressed).subspan(b), true));
        const FeedResult r = feed_all_splits(deflate_setup(role), stream, 0);
        EXPECT_FALSE(r.error) << r.error.message();
        EXPECT_EQ(r.events, std::vector<Event>{text_event(text)});
      }
    }
  }
  // Small enough for every split point.
  const Bytes hello = zlib_compress(as_span("Hello, compressed world! Hello, compressed world!"));
  const std::size_t third = hello.size() / 3;
  const Bytes stream = cat(to_server(kText, std::span(hello).first(third), false, true),
                           to_server(kPing, "between"),
                           to_server(kCont, std::span(hello).subspan(third, third), false),
                           to_server(kCont, std::span(hello).subspan(2 * third), true));
  const FeedResult r = feed_all_splits(deflate_setup(Role::server), stream);
  EXPECT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.events, (std::vector<Event>{ping_event("between"), text_event("Hello, compressed world! Hello, compressed world!")}));
}

// ---------------------------------------------------------------------------
// Sending

TEST(CodecDeflate, MessagesUnderMinCompressSizeAreSentUncompressed) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    CodecSettings s;
    s.deflate.min_compress_size = 64;
    Codec c(role, s, DeflateParams{});
    ASSERT_TRUE(c.deflate_enabled());
    const Bytes small(63, 'a');
    const Bytes big(64, 'a');
    ASSERT_FALSE(c.send(MessageType::text, small));
    ASSERT_FALSE(c.send(MessageType::binary, big));
    ASSERT_FALSE(c.send(MessageType::binary, big, /*compress=*/false));
    ASSERT_FALSE(c.send_fragment(MessageType::binary, big, true, false));
    ASSERT_FALSE(c.send_fragment(MessageType::binary, big, false, true));
    bool complete = false;
    const auto frames = parse_frames(c.pending_output(), &complete);
    ASSERT_TRUE(complete);
    ASSERT_EQ(frames.size(), 5u);
    EXPECT_EQ(frames[0], sent_frame(role, kText, small));
    EXPECT_TRUE(frames[1].rsv1);
    EXPECT_EQ(frames[1].opcode, kBinary);
    EXPECT_EQ(zlib_inflate(frames[1].payload, 15), big);
    EXPECT_EQ(frames[2], sent_frame(role, kBinary, big));
    EXPECT_EQ(frames[3], sent_frame(role, kBinary, big, false));  // fragments are never compressed
    EXPECT_EQ(frames[4], sent_frame(role, kCont, big, true));
  }
}

TEST(CodecDeflate, NoCompressionWithoutNegotiation) {
  Codec c(Role::server);
  EXPECT_FALSE(c.deflate_enabled());
  ASSERT_FALSE(c.send(MessageType::binary, Bytes(1000, 'a')));
  const auto frames = parse_frames(c.pending_output());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], sent_frame(Role::server, kBinary, Bytes(1000, 'a')));
}

TEST(CodecDeflate, SentMessagesInflateWithTheNegotiatedWindow) {
  // Text that repeats at a distance of 1000 bytes: a 512-byte window cannot refer to it.
  const Bytes block = random_bytes(700, 1);
  const Bytes filler = random_bytes(300, 2);
  const Bytes message = cat(block, filler, block, filler, block);
  for (Role role : kRoles) {
    for (int bits = 9; bits <= 15; ++bits) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " window bits " << bits);
      DeflateParams p;
      p.server_max_window_bits = bits;
      p.client_max_window_bits = bits;
      Codec c(role, {}, p);
      ASSERT_FALSE(c.send(MessageType::binary, message));
      const auto frames = parse_frames(c.pending_output());
      ASSERT_EQ(frames.size(), 1u);
      ASSERT_TRUE(frames[0].rsv1);
      // Decodable by an inflater whose window is exactly the negotiated size.
      EXPECT_EQ(zlib_inflate(frames[0].payload, bits), message);
    }
  }
}

TEST(CodecDeflate, ContextTakeoverSharesTheWindowBetweenMessages) {
  const Bytes message = to_bytes("a message that is long enough to be compressed, sent twice in a row, twice!");
  for (Role role : kRoles) {
    for (bool no_takeover : {false, true}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " no_context_takeover " << no_takeover);
      DeflateParams p;
      p.server_no_context_takeover = no_takeover;
      p.client_no_context_takeover = no_takeover;
      Codec c(role, {}, p);
      ASSERT_FALSE(c.send(MessageType::text, message));
      ASSERT_FALSE(c.send(MessageType::text, message));
      const auto frames = parse_frames(c.pending_output());
      ASSERT_EQ(frames.size(), 2u);
      EXPECT_TRUE(frames[0].rsv1 && frames[1].rsv1);
      if (no_takeover) {
        EXPECT_EQ(frames[1].payload, frames[0].payload);  // a fresh window each time
        EXPECT_EQ(zlib_inflate(frames[1].payload, 15), message);
      } else {
        EXPECT_LT(frames[1].payload.size(), frames[0].payload.size() / 2);  // refers back to the first
      }
    }
  }
}

TEST(CodecDeflate, EmptyMessageCompressed) {
  CodecSettings s;
  s.deflate.min_compress_size = 0;
  Codec c(Role::server, s, DeflateParams{});
  ASSERT_FALSE(c.send(MessageType::text, {}));
  ASSERT_FALSE(c.send(MessageType::text, {}));
  const auto out = c.pending_output();
  // Each empty message is one frame with RSV1 and a payload that inflates to nothing.
  const auto frames = parse_frames(out);
  ASSERT_EQ(frames.size(), 2u);
  for (const auto& f : frames) {
    EXPECT_TRUE(f.rsv1);
    EXPECT_FALSE(f.payload.empty());
  }
  EXPECT_EQ(zlib_inflate(frames[0].payload, 15), Bytes{});
}

// ---------------------------------------------------------------------------
// Two codecs: every combination of context takeover and window bits

TEST(CodecDeflate, RoundTripBetweenTwoCodecs) {
  std::mt19937 rng(42);
  std::vector<Bytes> messages;
  for (int i = 0; i < 8; ++i) {
    const std::size_t size = i == 0 ? 0 : i == 1 ? 63 : i == 2 ? 64 : rng() % 20000;
    Bytes m = random_utf8(size, rng);
    // Repetitive text, so compression and back-references matter.
    if (i % 2 == 0) m = cat(m, m, m);
    messages.push_back(m);
  }
  for (bool server_nct : {false, true}) {
    for (bool client_nct : {false, true}) {
      for (int bits = 9; bits <= 15; ++bits) {
        SCOPED_TRACE(::testing::Message() << "server_nct " << server_nct << " client_nct " << client_nct << " bits "
                                          << bits);
        DeflateParams p;
        p.server_no_context_takeover = server_nct;
        p.client_no_context_takeover = client_nct;
        p.server_max_window_bits = bits;
        p.client_max_window_bits = 24 - bits;  // a different window each way
        if (p.client_max_window_bits > 15) p.client_max_window_bits = 15;
        Conversation conv({}, {}, p, static_cast<std::uint32_t>(bits));
        std::vector<Event> expected;
        for (const Bytes& m : messages) {
          ASSERT_FALSE(conv.client.send(MessageType::text, m));
          ASSERT_FALSE(conv.server.send(MessageType::text, m));
          expected.push_back(text_event(m));
          // Compressed frames really went out (RSV1) for messages at or over the threshold.
          if (m.size() >= 64) {
            const auto cf = parse_frames(conv.client.pending_output());
            const auto sf = parse_frames(conv.server.pending_output());
            ASSERT_FALSE(cf.empty());
            ASSERT_FALSE(sf.empty());
            EXPECT_TRUE(cf.back().rsv1);
            EXPECT_TRUE(sf.back().rsv1);
          }
          ASSERT_FALSE(conv.pump());
        }
        EXPECT_EQ(conv.server_rx.events, expected);
        EXPECT_EQ(conv.client_rx.events, expected);
        ASSERT_FALSE(conv.server.close(1000, "bye"));
        ASSERT_FALSE(conv.pump());
        EXPECT_EQ(conv.client.state(), CodecState::closed);
        EXPECT_EQ(conv.server.state(), CodecState::closed);
      }
    }
  }
}

TEST(CodecDeflate, RandomizedConversation) {
  for (std::uint32_t seed : {1u, 2u}) {
    SCOPED_TRACE(seed);
    DeflateParams p;
    p.client_no_context_takeover = seed == 2;
    p.client_max_window_bits = seed == 2 ? 10 : 15;
    Conversation conv({}, {}, p, seed);
    std::mt19937& rng = conv.rng;
    std::vector<Event> to_server_expected, to_client_expected;
    for (int i = 0; i < 400; ++i) {
      const bool from_client = rng() % 2 == 0;
      Codec& from = from_client ? conv.client : conv.server;
      auto& expected = from_client ? to_server_expected : to_client_expected;
      const bool text = rng() % 2 == 0;
      const std::size_t size = rng() % 3 == 0 ? rng() % 70001 : rng() % 300;
      Bytes payload = text ? random_utf8(size, rng) : random_bytes(size, static_cast<std::uint32_t>(rng()));
      if (rng() % 2) payload = cat(payload, payload);  // compressible
      const MessageType type = text ? MessageType::text : MessageType::binary;
      if (rng() % 5 == 0) {
        const std::size_t cut = payload.empty() ? 0 : rng() % payload.size();
        ASSERT_FALSE(from.send_fragment(type, std::span(payload).first(cut), true, false));
        ASSERT_FALSE(from.send_fragment(type, std::span(payload).subspan(cut), false, true));
      } else {
        ASSERT_FALSE(from.send(type, payload, rng() % 4 != 0));
      }
      expected.push_back(text ? text_event(payload) : binary_event(payload));
      if (rng() % 3 == 0) {
        ASSERT_FALSE(conv.pump());
      }
    }
    ASSERT_FALSE(conv.pump());
    ASSERT_EQ(conv.server_rx.events.size(), to_server_expected.size());
    for (std::size_t i = 0; i < to_server_expected.size(); ++i) ASSERT_EQ(conv.server_rx.events[i], to_server_expected[i]) << i;
    ASSERT_EQ(conv.client_rx.events.size(), to_client_expected.size());
    for (std::size_t i = 0; i < to_client_expected.size(); ++i) ASSERT_EQ(conv.client_rx.events[i], to_client_expected[i]) << i;
    ASSERT_FALSE(conv.client.close(1001));
    ASSERT_FALSE(conv.pump());
    EXPECT_EQ(conv.client.state(), CodecState::closed);
    EXPECT_EQ(conv.server.state(), CodecState::closed);
    EXPECT_EQ(conv.server.peer_close_code(), 1001);
  }
}

}  // namespace
}  // namespace sluice::protocol::test
