// Codec: size limits (RFC 6455 §10.4), close code 1009.
#include <gtest/gtest.h>

#include "protocol/test_util.hpp"
#include "sluice/protocol/codec.hpp"

namespace sluice::protocol::test {
namespace {

CodecSettings limits(std::size_t frame, std::size_t message) {
  CodecSettings s;
  s.max_frame_size = frame;
  s.max_message_size = message;
  return s;
}

// Only the header of a frame that announces `length` bytes.
Bytes header_to(Role receiver, std::uint8_t opcode, std::uint64_t length, bool fin = true) {
  FrameOpts o;
  o.fin = fin;
  o.declared_length = length;
  if (receiver == Role::server) o.mask = kTestMask;
  return build_frame(opcode, {}, o);
}

TEST(CodecLimits, FrameOverTheLimitIsRejectedFromItsHeader) {
  for (Role role : kRoles) {
    for (std::uint64_t len : {1001ull, 65536ull, 1ull << 40}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " len " << len);
      const FeedResult r = feed_all_splits(setup_for(role, limits(1000, 1 << 20)), header_to(role, kBinary, len));
      expect_failure(r, Error::frame_too_big, 1009, role);
      EXPECT_TRUE(r.events.empty());
    }
  }
}

TEST(CodecLimits, FrameExactlyAtTheLimitPasses) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes payload = random_bytes(1000, 1);
    const FeedResult r = feed_all_splits(setup_for(role, limits(1000, 1000)), frame_to(role, kBinary, payload), 1100);
    EXPECT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.events, std::vector<Event>{binary_event(payload)});
  }
}

TEST(CodecLimits, FrameLimitAppliesToEachFragment) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes stream = cat(frame_to(role, kText, std::string(100, 'a'), false), header_to(role, kCont, 101));
    const FeedResult r = feed_all_splits(setup_for(role, limits(100, 1 << 20)), stream);
    expect_failure(r, Error::frame_too_big, 1009, role);
  }
}

TEST(CodecLimits, SingleFrameOverTheMessageLimitIsRejectedFromItsHeader) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const FeedResult r = feed_all_splits(setup_for(role, limits(1 << 20, 1000)), header_to(role, kText, 1001));
    expect_failure(r, Error::message_too_big, 1009, role);
  }
}

TEST(CodecLimits, FragmentedMessageFailsAtTheFragmentThatCrossesTheLimit) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes f1 = frame_to(role, kBinary, Bytes(400, 1), false);
    const Bytes f2 = frame_to(role, kCont, Bytes(400, 2), false);
    // The third fragment would bring the message to 1001 bytes: its header alone is enough.
    const Bytes h3 = header_to(role, kCont, 201, true);
    const FeedResult r = feed_all_splits(setup_for(role, limits(1000, 1000)), cat(f1, f2, h3), 1000);
    expect_failure(r, Error::message_too_big, 1009, role);
    EXPECT_TRUE(r.events.empty());
    // Up to the second fragment everything is fine.
    EXPECT_FALSE(feed_all_splits(setup_for(role, limits(1000, 1000)), cat(f1, f2), 1000).error);
  }
}

TEST(CodecLimits, FragmentedMessageExactlyAtTheLimitPasses) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes payload = random_bytes(1000, 2);
    const Bytes stream = cat(frame_to(role, kBinary, std::span(payload).first(400), false),
                             frame_to(role, kCont, std::span(payload).subspan(400, 400), false),
                             frame_to(role, kCont, std::span(payload).subspan(800), true));
    const FeedResult r = feed_all_splits(setup_for(role, limits(1000, 1000)), stream, 1100);
    EXPECT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.events, std::vector<Event>{binary_event(payload)});
  }
}

TEST(CodecLimits, TextMessageLimit) {
  const std::string text(1000, 't');
  const FeedResult ok = feed_all_splits(server_setup(limits(1000, 1000)), to_server(kText, text), 1100);
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.events, std::vector<Event>{text_event(text)});
  const FeedResult bad = feed_all_splits(server_setup(limits(2000, 1000)), to_server(kText, text + "t"), 1100);
  expect_failure(bad, Error::message_too_big, 1009, Role::server);
}

TEST(CodecLimits, LimitIsPerMessage) {
  // Many messages each under the limit never add up to an error.
  Bytes stream;
  for (int i = 0; i < 50; ++i) {
    const Bytes f = cat(to_server(kBinary, Bytes(60, static_cast<std::uint8_t>(i)), false), to_server(kCont, Bytes(40, 0)));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  const FeedResult r = feed_all_splits(server_setup(limits(100, 100)), stream, 1000);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.events.size(), 50u);
}

TEST(CodecLimits, SixteenMiBMessageInOneMiBFragmentsPassesWithDefaults) {
  constexpr std::size_t kMiB = 1024 * 1024;
  const Bytes payload = random_bytes(16 * kMiB, 16);
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Bytes stream;
    stream.reserve(payload.size() + 16 * 14);
    for (std::size_t i = 0; i < 16; ++i) {
      const Bytes f = frame_to(role, i == 0 ? kBinary : kCont, std::span(payload).subspan(i * kMiB, kMiB), i == 15);
      stream.insert(stream.end(), f.begin(), f.end());
    }
    // A handful of splits: whole, and cut inside headers and payloads.
    const CodecSetup s = setup_for(role);
    const FeedResult whole = feed_chunks(s, stream, {}, "whole");
    EXPECT_FALSE(whole.error) << whole.error.message();
    ASSERT_EQ(whole.events.size(), 1u);
    EXPECT_EQ(whole.events[0].kind, Event::Kind::binary);
    EXPECT_TRUE(whole.events[0].data == payload);
    const std::size_t frame = stream.size() / 16;
    for (const std::vector<std::size_t>& cuts :
         {std::vector<std::size_t>{1}, std::vector<std::size_t>{frame + 3}, std::vector<std::size_t>{stream.size() - 1},
          std::vector<std::size_t>{frame / 2, frame, 5 * frame + 7, 9 * frame + 20000}}) {
      const FeedResult r = feed_chunks(s, stream, cuts, "cuts");
      EXPECT_FALSE(r.error);
      ASSERT_EQ(r.events.size(), 1u);
      EXPECT_TRUE(r.events[0].data == payload);
    }
  }
}

TEST(CodecLimits, OneByteOverSixteenMiBFailsAtTheLastFragmentWithDefaults) {
  constexpr std::size_t kMiB = 1024 * 1024;
  Bytes stream;
  const Bytes chunk(kMiB, 0x42);
  for (std::size_t i = 0; i < 16; ++i) {
    const Bytes f = to_server(i == 0 ? kBinary : kCont, chunk, false);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  const std::size_t before_last = stream.size();
  const Bytes last = header_to(Role::server, kCont, 1, true);
  stream.insert(stream.end(), last.begin(), last.end());
  const FeedResult r = feed_chunks(server_setup(), stream, {before_last}, "before the last header");
  expect_failure(r, Error::message_too_big, 1009, Role::server);
  EXPECT_EQ(r.bytes_before_error, stream.size());  // the failing call is the one with the last header
}

TEST(CodecLimits, DefaultSettings) {
  const CodecSettings s;
  EXPECT_EQ(s.max_frame_size, 16u * 1024 * 1024);
  EXPECT_EQ(s.max_message_size, 16u * 1024 * 1024);
  EXPECT_TRUE(s.auto_pong);
}

}  // namespace
}  // namespace sluice::protocol::test

namespace sluice::protocol::test {
namespace {

// Incompressible data grows a little under deflate: a message of exactly the
// limit, sent compressed in one frame, must still pass (the inflater bounds the
// real size), while one byte more must fail with message_too_big.
TEST(CodecLimits, CompressedFrameOfAMessageAtTheLimitPasses) {
  constexpr std::size_t kLimit = 64 * 1024;
  CodecSettings settings;
  settings.max_frame_size = kLimit;
  settings.max_message_size = kLimit;
  for (std::size_t size : {kLimit, kLimit + 1}) {
    Codec client(Role::client, {}, DeflateParams{});
    Codec server(Role::server, settings, DeflateParams{});
    std::vector<std::uint8_t> random(size);
    std::uint32_t x = 12345;
    for (auto& b : random) b = static_cast<std::uint8_t>((x = x * 1664525u + 1013904223u) >> 24);
    ASSERT_FALSE(client.send(MessageType::binary, random));
    std::vector<std::uint8_t> wire(client.pending_output().begin(), client.pending_output().end());
    ASSERT_GT(wire.size(), kLimit + 14) << "the compressed frame must be larger than the limit for this test";
    struct Sink : CodecHandler {
      std::size_t received = 0;
      void on_message(MessageType, std::span<const std::uint8_t> p) override { received = p.size(); }
    } sink;
    const auto ec = server.receive(wire, sink);
    if (size == kLimit) {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(sink.received, kLimit);
    } else {
      EXPECT_EQ(ec, Error::message_too_big);
    }
  }
}

}  // namespace
}  // namespace sluice::protocol::test
