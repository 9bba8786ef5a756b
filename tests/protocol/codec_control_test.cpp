// Codec: control frames, ping and pong (RFC 6455 §5.5, §5.5.2, §5.5.3).
#include <gtest/gtest.h>

#include "protocol/test_util.hpp"
#include "sluice/protocol/codec.hpp"

namespace sluice::protocol::test {
namespace {

TEST(CodecControl, ServerAnswersPingWithAnExactUnmaskedPong) {
  {
    const FeedResult r = feed_all_splits(server_setup(), to_server(kPing, "Hello"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{ping_event("Hello")});
    EXPECT_EQ(r.output, from_hex("8a 05 48 65 6c 6c 6f"));
    EXPECT_EQ(r.state, CodecState::open);
  }
  {
    const FeedResult r = feed_all_splits(server_setup(), to_server(kPing, ""));
    EXPECT_EQ(r.events, std::vector<Event>{ping_event("")});
    EXPECT_EQ(r.output, from_hex("8a 00"));
  }
  {
    // The largest control payload, 125 bytes, is fine.
    const Bytes payload = random_bytes(125, 125);
    const FeedResult r = feed_all_splits(server_setup(), to_server(kPing, payload));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{ping_event(payload)});
    EXPECT_EQ(r.output, cat(from_hex("8a 7d"), payload));
  }
}

TEST(CodecControl, ClientAnswersPingWithAMaskedPong) {
  for (std::size_t n : {0u, 1u, 5u, 125u}) {
    SCOPED_TRACE(n);
    const Bytes payload = random_bytes(n, static_cast<std::uint32_t>(n));
    const FeedResult r = feed_all_splits(client_setup(), to_client(kPing, payload));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{ping_event(payload)});
    ASSERT_EQ(r.output.size(), 2 + 4 + n);
    EXPECT_EQ(r.output[0], 0x8A);
    EXPECT_EQ(r.output[1], static_cast<std::uint8_t>(0x80 | n));
    // Unmask with the key from the header and compare.
    const MaskKey key{r.output[2], r.output[3], r.output[4], r.output[5]};
    Bytes unmasked(r.output.begin() + 6, r.output.end());
    ref_mask(unmasked, key);
    EXPECT_EQ(unmasked, payload);
  }
}

TEST(CodecControl, PongIsReportedAndNotAnswered) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, kPong, "beat"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{pong_event("beat")});
    EXPECT_TRUE(r.output.empty());
  }
}

TEST(CodecControl, SeveralPingsAreAnsweredInOrder) {
  const Bytes stream = cat(to_server(kPing, "1"), to_server(kText, "msg"), to_server(kPing, "22"), to_server(kPing, "333"));
  const FeedResult r = feed_all_splits(server_setup(), stream);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.events, (std::vector<Event>{ping_event("1"), text_event("msg"), ping_event("22"), ping_event("333")}));
  EXPECT_EQ(r.output, from_hex("8a 01 31 8a 02 32 32 8a 03 33 33 33"));
}

TEST(CodecControl, AutoPongCanBeTurnedOff) {
  CodecSettings s;
  s.auto_pong = false;
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const FeedResult r = feed_all_splits(setup_for(role, s), frame_to(role, kPing, "x"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{ping_event("x")});
    EXPECT_TRUE(r.output.empty());
  }
}

TEST(CodecControl, ControlFrameOver125Bytes) {
  for (Role role : kRoles) {
    for (std::uint8_t op : {kPing, kPong, kClose}) {
      for (std::size_t n : {126u, 200u, 65535u}) {
        SCOPED_TRACE(::testing::Message() << role_name(role) << " op " << unsigned{op} << " len " << n);
        Bytes payload(n, 'p');
        if (op == kClose) payload = cat(close_payload(1000), Bytes(n - 2, 'r'));
        const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, op, payload), 400);
        expect_failure(r, Error::control_frame_too_long, 1002, role);
        EXPECT_TRUE(r.events.empty());
      }
    }
    // Detected from the header alone (7E 00 7E: 126 bytes follow, none sent).
    FrameOpts o;
    o.declared_length = 126;
    if (role == Role::server) o.mask = kTestMask;
    const FeedResult r = feed_all_splits(setup_for(role), build_frame(kPing, {}, o));
    expect_failure(r, Error::control_frame_too_long, 1002, role);
  }
}

TEST(CodecControl, FragmentedControlFrame) {
  for (Role role : kRoles) {
    for (std::uint8_t op : {kPing, kPong, kClose}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " op " << unsigned{op});
      const Bytes payload = op == kClose ? close_payload(1000) : to_bytes("frag");
      const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, op, payload, /*fin=*/false));
      expect_failure(r, Error::fragmented_control_frame, 1002, role);
      EXPECT_TRUE(r.events.empty());
    }
  }
  // A fragmented ping inside a fragmented message, too.
  const Bytes stream = cat(to_server(kText, "a", false), to_server(kPing, "p", false));
  expect_failure(feed_all_splits(server_setup(), stream), Error::fragmented_control_frame, 1002, Role::server);
}

TEST(CodecControl, NoPongAfterCloseWasSent) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    CodecSetup s = setup_for(role);
    s.before = [](Codec& c) { ASSERT_FALSE(c.close(1000, "")); };
    const FeedResult r = feed_all_splits(s, frame_to(role, kPing, "late"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{ping_event("late")});
    // Only our close frame: 88 02 03 e8.
    EXPECT_EQ(r.frames, std::vector<ParsedFrame>{sent_frame(role, kClose, close_payload(1000))});
    EXPECT_EQ(r.state, CodecState::closing);
  }
}

TEST(CodecControl, PingAndPongTruncateTo125Bytes) {
  const Bytes long_payload = random_bytes(300, 300);
  {
    Codec c(Role::server);
    EXPECT_FALSE(c.ping(long_payload));
    EXPECT_FALSE(c.pong(long_payload));
    const auto out = c.pending_output();
    const Bytes expected = cat(from_hex("89 7d"), std::span(long_payload).first(125), from_hex("8a 7d"),
                               std::span(long_payload).first(125));
    EXPECT_EQ(Bytes(out.begin(), out.end()), expected);
  }
  {
    Codec c(Role::client);
    EXPECT_FALSE(c.ping(long_payload));
    EXPECT_FALSE(c.pong(std::span(long_payload).first(126)));
    const auto out = c.pending_output();
    bool complete = false;
    const auto frames = parse_frames(out, &complete);
    EXPECT_TRUE(complete);
    const Bytes first125(long_payload.begin(), long_payload.begin() + 125);
    EXPECT_EQ(frames, (std::vector<ParsedFrame>{sent_frame(Role::client, kPing, first125),
                                                sent_frame(Role::client, kPong, first125)}));
  }
}

TEST(CodecControl, PingAndPongExactBytes) {
  Codec c(Role::server);
  EXPECT_FALSE(c.ping());
  EXPECT_FALSE(c.ping(as_span("hi")));
  EXPECT_FALSE(c.pong(as_span("125")));
  const auto out = c.pending_output();
  EXPECT_EQ(Bytes(out.begin(), out.end()), from_hex("89 00 89 02 68 69 8a 03 31 32 35"));
}

TEST(CodecControl, PingAndPongAfterCloseAreRefused) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Codec c(role);
    ASSERT_FALSE(c.close());
    const std::size_t after_close = c.pending_output().size();
    EXPECT_EQ(c.ping(as_span("x")), make_error_code(Error::connection_closed));
    EXPECT_EQ(c.pong(as_span("x")), make_error_code(Error::connection_closed));
    EXPECT_EQ(c.pending_output().size(), after_close);
  }
}

TEST(CodecControl, ControlFramesWithAnyBinaryPayload) {
  // Ping payloads are application data, not text: any bytes are echoed back.
  const Bytes payload = from_hex("ff fe 00 c0 80 ed a0 80");
  const FeedResult r = feed_all_splits(server_setup(), to_server(kPing, payload));
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.output, cat(from_hex("8a 08"), payload));
}

TEST(CodecControl, PongWhileTheReplyIsBeingConsumed) {
  // consume_output() in pieces, with a ping arriving in between: bytes stay in order.
  Codec c(Role::server);
  Recorder rec(&c);
  Bytes a = to_server(kPing, "first");
  ASSERT_FALSE(c.receive(a, rec));
  Bytes written;
  auto out = c.pending_output();
  written.insert(written.end(), out.begin(), out.begin() + 3);
  c.consume_output(3);
  Bytes b = to_server(kPing, "second");
  ASSERT_FALSE(c.receive(b, rec));
  out = c.pending_output();
  written.insert(written.end(), out.begin(), out.end());
  c.consume_output(out.size());
  EXPECT_FALSE(c.has_output());
  EXPECT_EQ(written, cat(server_bytes(kPong, as_span("first")), server_bytes(kPong, as_span("second"))));
  c.consume_output(100);  // consuming more than there is is harmless
  EXPECT_FALSE(c.has_output());
}

}  // namespace
}  // namespace sluice::protocol::test
