// Codec: the close frame and the closing handshake (RFC 6455 §5.5.1, §7).
#include <gtest/gtest.h>

#include "protocol/test_util.hpp"
#include "sluice/protocol/close_code.hpp"
#include "sluice/protocol/codec.hpp"

namespace sluice::protocol::test {
namespace {

const std::uint16_t kValidCodes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
const std::uint16_t kInvalidCodes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};

Bytes output_of(const Codec& c) {
  const auto out = c.pending_output();
  return Bytes(out.begin(), out.end());
}

// ---------------------------------------------------------------------------
// Receiving a close frame

TEST(CodecClose, EveryValidCodeIsAcceptedAndEchoed) {
  for (Role role : kRoles) {
    for (std::uint16_t code : kValidCodes) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " code " << code);
      const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, kClose, close_payload(code, "bye")));
      EXPECT_FALSE(r.error) << r.error.message();
      EXPECT_EQ(r.events, std::vector<Event>{close_event(code, "bye")});
      EXPECT_EQ(r.state, CodecState::closed);
      EXPECT_TRUE(r.close_received);
      EXPECT_TRUE(r.close_sent);
      EXPECT_EQ(r.peer_close_code, code);
      EXPECT_EQ(r.peer_close_reason, "bye");
      EXPECT_FALSE(r.failure);
      // The reply carries the same code.
      EXPECT_EQ(r.frames, std::vector<ParsedFrame>{sent_frame(role, kClose, close_payload(code))});
      if (role == Role::server) {
        EXPECT_EQ(r.output, bytes({0x88, 0x02, static_cast<unsigned>(code >> 8), static_cast<unsigned>(code & 0xFF)}));
      }
    }
  }
}

TEST(CodecClose, EveryInvalidCodeIsAProtocolError) {
  for (Role role : kRoles) {
    for (std::uint16_t code : kInvalidCodes) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " code " << code);
      const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, kClose, close_payload(code)));
      expect_failure(r, Error::bad_close_code, 1002, role);
      EXPECT_TRUE(r.events.empty());
      EXPECT_EQ(r.peer_close_code, 1006);
    }
  }
}

TEST(CodecClose, EveryCodeAgreesWithTheWireRule) {
  // All 65536 codes through a server codec: accepted exactly when RFC 6455 §7.4 allows them on the wire.
  for (std::uint32_t code = 0; code <= 0xFFFF; ++code) {
    const bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
    Codec c(Role::server);
    Recorder rec(&c);
    Bytes frame = to_server(kClose, close_payload(static_cast<std::uint16_t>(code)));
    const std::error_code ec = c.receive(frame, rec);
    ASSERT_EQ(!ec, valid) << code;
    if (!valid) {
      ASSERT_EQ(ec, make_error_code(Error::bad_close_code)) << code;
    }
  }
}

TEST(CodecClose, EmptyCloseIsReportedAs1005AndAnsweredWithAnEmptyClose) {
  {
    const FeedResult r = feed_all_splits(server_setup(), to_server(kClose, ""));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{close_event(1005)});
    EXPECT_EQ(r.peer_close_code, 1005);
    EXPECT_EQ(r.output, from_hex("88 00"));
    EXPECT_EQ(r.state, CodecState::closed);
  }
  {
    const FeedResult r = feed_all_splits(client_setup(), to_client(kClose, ""));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{close_event(1005)});
    ASSERT_EQ(r.output.size(), 6u);  // 88 80 + key
    EXPECT_EQ(r.output[0], 0x88);
    EXPECT_EQ(r.output[1], 0x80);
  }
}

TEST(CodecClose, OneBytePayload) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, kClose, bytes({0x03})));
    expect_failure(r, Error::bad_close_payload, 1002, role);
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(CodecClose, InvalidUtf8Reason) {
  for (Role role : kRoles) {
    for (const char* reason : {"\xff", "ok\xc0\x80", "\xed\xa0\x80", "cut\xe2\x82"}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " " << to_hex(as_span(reason)));
      const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, kClose, close_payload(1000, reason)));
      expect_failure(r, Error::invalid_close_reason, 1007, role);
      EXPECT_TRUE(r.events.empty());
    }
  }
}

TEST(CodecClose, ReasonOfExactly123Bytes) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    std::string reason(120, 'r');
    reason += "\xe2\x82\xac";  // ends with a 3-byte character: 123 bytes
    ASSERT_EQ(reason.size(), 123u);
    const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, kClose, close_payload(4000, reason)));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{close_event(4000, reason)});
    EXPECT_EQ(r.peer_close_reason, reason);
  }
}

TEST(CodecClose, BytesAfterThePeersCloseAreIgnored) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    // In the same buffer: a message, a ping, even garbage after the close frame.
    const Bytes stream = cat(frame_to(role, kText, "before"), frame_to(role, kClose, close_payload(1001)),
                             frame_to(role, kText, "after"), frame_to(role, kPing, "p"), bytes({0xFF, 0xFF, 0xFF}));
    const FeedResult r = feed_all_splits(setup_for(role), stream);
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, (std::vector<Event>{text_event("before"), close_event(1001)}));
    EXPECT_EQ(r.frames, std::vector<ParsedFrame>{sent_frame(role, kClose, close_payload(1001))});
    EXPECT_EQ(r.state, CodecState::closed);
  }
}

TEST(CodecClose, LaterReceiveCallsAfterThePeersCloseAreIgnored) {
  Codec c(Role::server);
  Recorder rec(&c);
  Bytes close = to_server(kClose, close_payload(1000));
  ASSERT_FALSE(c.receive(close, rec));
  const Bytes out = output_of(c);
  Bytes more = cat(to_server(kText, "x"), to_server(0x3, "reserved"));
  EXPECT_FALSE(c.receive(more, rec));
  EXPECT_EQ(rec.events, std::vector<Event>{close_event(1000)});
  EXPECT_EQ(output_of(c), out);
  EXPECT_FALSE(c.failure());
}

// ---------------------------------------------------------------------------
// The closing handshake's state machine (§7.1.2-§7.1.4)

TEST(CodecClose, WeCloseFirstThenThePeerAnswers) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Codec c(role);
    Recorder rec(&c);
    EXPECT_EQ(c.state(), CodecState::open);
    EXPECT_EQ(c.peer_close_code(), 1006);
    ASSERT_FALSE(c.close(1000, "bye"));
    EXPECT_EQ(c.state(), CodecState::closing);
    EXPECT_TRUE(c.close_sent());
    EXPECT_FALSE(c.close_received());
    EXPECT_FALSE(c.should_close_transport());
    bool complete = false;
    EXPECT_EQ(parse_frames(c.pending_output(), &complete),
              std::vector<ParsedFrame>{sent_frame(role, kClose, close_payload(1000, "bye"))});
    if (role == Role::server) {
      EXPECT_EQ(output_of(c), from_hex("88 05 03 e8 62 79 65"));
    }
    const std::size_t out_size = c.pending_output().size();

    // Data from the peer still arrives while we wait for its close.
    Bytes data = frame_to(role, kText, "in flight");
    EXPECT_FALSE(c.receive(data, rec));
    EXPECT_EQ(c.state(), CodecState::closing);

    Bytes reply = frame_to(role, kClose, close_payload(1000));
    EXPECT_FALSE(c.receive(reply, rec));
    EXPECT_EQ(c.state(), CodecState::closed);
    EXPECT_TRUE(c.close_received());
    EXPECT_TRUE(c.should_close_transport());
    EXPECT_EQ(c.peer_close_code(), 1000);
    EXPECT_EQ(rec.events, (std::vector<Event>{text_event("in flight"), close_event(1000)}));
    EXPECT_EQ(c.pending_output().size(), out_size);  // no second close frame
    EXPECT_FALSE(c.failure());
  }
}

TEST(CodecClose, PeerAnswersWithADifferentCode) {
  CodecSetup s = server_setup();
  s.before = [](Codec& c) { ASSERT_FALSE(c.close(1001)); };
  const FeedResult r = feed_all_splits(s, to_server(kClose, close_payload(4000, "x")));
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.events, std::vector<Event>{close_event(4000, "x")});
  EXPECT_EQ(r.output, from_hex("88 02 03 e9"));
  EXPECT_EQ(r.state, CodecState::closed);
  EXPECT_EQ(r.peer_close_code, 4000);
}

TEST(CodecClose, PeerClosesFirst) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Codec c(role);
    Recorder rec(&c);
    Bytes close = frame_to(role, kClose, close_payload(1000, "going"));
    ASSERT_FALSE(c.receive(close, rec));
    EXPECT_EQ(c.state(), CodecState::closed);
    EXPECT_TRUE(c.close_sent());
    EXPECT_TRUE(c.close_received());
    EXPECT_TRUE(c.should_close_transport());
    EXPECT_EQ(c.peer_close_reason(), "going");
    const Bytes out = output_of(c);
    EXPECT_EQ(parse_frames(out), std::vector<ParsedFrame>{sent_frame(role, kClose, close_payload(1000))});
    // The reply is already queued: close() has nothing left to do.
    EXPECT_EQ(c.close(1000, "late"), make_error_code(Error::connection_closed));
    EXPECT_EQ(output_of(c), out);
  }
}

TEST(CodecClose, CloseTwiceQueuesOneFrame) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Codec c(role);
    EXPECT_FALSE(c.close(1000, "first"));
    const Bytes out = output_of(c);
    EXPECT_EQ(c.close(1000, "second"), make_error_code(Error::connection_closed));
    EXPECT_EQ(c.close(4000), make_error_code(Error::connection_closed));
    EXPECT_EQ(output_of(c), out);
    EXPECT_EQ(parse_frames(out).size(), 1u);
    EXPECT_EQ(c.state(), CodecState::closing);
  }
}

TEST(CodecClose, SendAfterCloseIsRefused) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Codec c(role);
    ASSERT_FALSE(c.close());
    const Bytes out = output_of(c);
    const Bytes data = to_bytes("data");
    const auto closed = make_error_code(Error::connection_closed);
    EXPECT_EQ(c.send(MessageType::binary, data), closed);
    EXPECT_EQ(c.send(MessageType::text, data), closed);
    EXPECT_EQ(c.send_text("data"), closed);
    EXPECT_EQ(c.send_fragment(MessageType::text, data, true, false), closed);
    EXPECT_EQ(c.ping(data), closed);
    EXPECT_EQ(c.pong(data), closed);
    EXPECT_EQ(output_of(c), out);
  }
}

TEST(CodecClose, SendAfterThePeersCloseOrAFailureIsRefused) {
  {
    Codec c(Role::server);
    Recorder rec(&c);
    Bytes close = to_server(kClose, "");
    ASSERT_FALSE(c.receive(close, rec));
    EXPECT_EQ(c.send_text("x"), make_error_code(Error::connection_closed));
  }
  {
    Codec c(Role::server);
    Recorder rec(&c);
    Bytes bad = to_server(0x3, "");
    ASSERT_EQ(c.receive(bad, rec), make_error_code(Error::reserved_opcode));
    const Bytes out = output_of(c);
    EXPECT_EQ(c.send_text("x"), make_error_code(Error::connection_closed));
    EXPECT_EQ(c.close(), make_error_code(Error::connection_closed));
    EXPECT_EQ(output_of(c), out);
  }
}

TEST(CodecClose, CloseWithAnInvalidCodeIsRefused) {
  for (Role role : kRoles) {
    for (std::uint16_t code : {0, 999, 1004, 1006, 1015, 1016, 2999, 5000, 65535}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " " << code);
      Codec c(role);
      EXPECT_EQ(c.close(code), make_error_code(Error::bad_close_code));
      EXPECT_FALSE(c.has_output());
      EXPECT_EQ(c.state(), CodecState::open);
      EXPECT_FALSE(c.close_sent());
      // A valid close still works afterwards.
      EXPECT_FALSE(c.close(1000));
      EXPECT_EQ(c.state(), CodecState::closing);
    }
  }
}

TEST(CodecClose, CloseWithAnInvalidUtf8ReasonIsRefused) {
  Codec c(Role::server);
  EXPECT_EQ(c.close(1000, "\xff"), make_error_code(Error::invalid_close_reason));
  EXPECT_FALSE(c.has_output());
  EXPECT_EQ(c.state(), CodecState::open);
}

TEST(CodecClose, CloseWithoutACode) {
  Codec c(Role::server);
  EXPECT_FALSE(c.close(close_code::no_status, "dropped: no code means no reason"));
  EXPECT_EQ(output_of(c), from_hex("88 00"));
  EXPECT_EQ(c.state(), CodecState::closing);
}

TEST(CodecClose, EveryValidCodeCanBeSent) {
  for (std::uint16_t code : kValidCodes) {
    Codec c(Role::server);
    EXPECT_FALSE(c.close(code, "r")) << code;
    EXPECT_EQ(output_of(c), bytes({0x88, 0x03, static_cast<unsigned>(code >> 8), static_cast<unsigned>(code & 0xFF), 'r'}));
  }
}

TEST(CodecClose, LongReasonIsCutTo123BytesAtACharacterBoundary) {
  struct Case {
    std::string reason;
    std::size_t kept;
  };
  const std::string a122(122, 'a'), a121(121, 'a'), a120(120, 'a');
  const Case cases[] = {
      {std::string(123, 'b'), 123},
      {std::string(124, 'b'), 123},
      {std::string(500, 'b'), 123},
      {a122 + "\xc3\xa9", 122},          // é would end at byte 124
      {a121 + "\xe2\x82\xac", 121},      // € would end at byte 124
      {a120 + "\xf0\x9f\x98\x80", 120},  // 😀 would end at byte 124
      {a121 + "\xc3\xa9" "zz", 123},     // é ends exactly at byte 123
      {a120 + "\xe2\x82\xac" "z", 123},  // € ends exactly at byte 123
  };
  for (Role role : kRoles) {
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " reason of " << c.reason.size() << " bytes");
      Codec codec(role);
      ASSERT_FALSE(codec.close(1000, c.reason));
      const Bytes expected_payload = close_payload(1000, std::string_view(c.reason).substr(0, c.kept));
      EXPECT_EQ(parse_frames(codec.pending_output()),
                std::vector<ParsedFrame>{sent_frame(role, kClose, expected_payload)});
      if (role == Role::server) {
        EXPECT_EQ(output_of(codec), cat(bytes({0x88, static_cast<unsigned>(2 + c.kept)}), expected_payload));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Failures

TEST(CodecClose, FailureAndEveryLaterReceiveReturnTheSameError) {
  Codec c(Role::server);
  Recorder rec(&c);
  Bytes bad = cat(to_server(kText, "ok"), build_frame(kText, as_span("unmasked")));
  const std::error_code ec = c.receive(bad, rec);
  ASSERT_EQ(ec, make_error_code(Error::unmasked_client_frame));
  EXPECT_EQ(c.failure(), ec);
  EXPECT_EQ(c.state(), CodecState::closed);
  EXPECT_TRUE(c.should_close_transport());
  EXPECT_EQ(rec.events, std::vector<Event>{text_event("ok")});
  const Bytes out = output_of(c);
  for (int i = 0; i < 3; ++i) {
    Bytes good = to_server(kText, "valid");
    EXPECT_EQ(c.receive(good, rec), ec);
    Bytes close = to_server(kClose, close_payload(1000));
    EXPECT_EQ(c.receive(close, rec), ec);
    EXPECT_EQ(c.receive({}, rec), ec);
  }
  EXPECT_EQ(c.failure(), ec);
  EXPECT_EQ(rec.events.size(), 1u);  // nothing more was reported
  EXPECT_EQ(output_of(c), out);      // and nothing more was queued
}

TEST(CodecClose, FailureWhileClosingSendsNoSecondCloseFrame) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    CodecSetup s = setup_for(role);
    s.before = [](Codec& c) { ASSERT_FALSE(c.close(1000, "bye")); };
    const FeedResult r = feed_all_splits(s, frame_to(role, kClose, close_payload(1006)));
    EXPECT_EQ(r.error, make_error_code(Error::bad_close_code));
    EXPECT_EQ(r.state, CodecState::closed);
    EXPECT_EQ(r.frames, std::vector<ParsedFrame>{sent_frame(role, kClose, close_payload(1000, "bye"))});
  }
}

TEST(CodecClose, FailureCloseFramesCarryTheFittingCode) {
  struct Case {
    Bytes stream;
    Error error;
    std::uint16_t code;
  };
  Bytes too_long_ping = to_server(kPing, Bytes(126, 'x'));
  const Case cases[] = {
      {to_server(0x4, ""), Error::reserved_opcode, 1002},
      {to_server(kText, "\xc0\xaf"), Error::invalid_utf8, 1007},
      {to_server(kClose, close_payload(1000, "\xff")), Error::invalid_close_reason, 1007},
      {too_long_ping, Error::control_frame_too_long, 1002},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(make_error_code(c.error).message());
    const FeedResult r = feed_all_splits(server_setup(), c.stream);
    expect_failure(r, c.error, c.code, Role::server);
  }
  CodecSettings small;
  small.max_message_size = 10;
  expect_failure(feed_all_splits(server_setup(small), to_server(kBinary, Bytes(11, 1))), Error::message_too_big, 1009,
                 Role::server);
}

}  // namespace
}  // namespace sluice::protocol::test
