// Codec: framing, masking and fragmentation (RFC 6455 §5.2-5.4, §5.6, §5.7).
// Every stream is fed whole, at every 2-way split and one byte at a time.
#include <gtest/gtest.h>

#include "protocol/test_util.hpp"
#include "sluice/protocol/codec.hpp"

namespace sluice::protocol::test {
namespace {

// ---------------------------------------------------------------------------
// RFC 6455 §5.7 examples

TEST(CodecFraming, RfcExamplesReceivedByAClient) {
  const CodecSetup client = client_setup();
  {
    const FeedResult r = feed_all_splits(client, from_hex("81 05 48 65 6c 6c 6f"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
    EXPECT_TRUE(r.output.empty());
    EXPECT_EQ(r.state, CodecState::open);
  }
  {
    const FeedResult r = feed_all_splits(client, from_hex("01 03 48 65 6c 80 02 6c 6f"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
  }
  {
    // Unmasked ping: a client answers with a masked pong carrying the same payload.
    const FeedResult r = feed_all_splits(client, from_hex("89 05 48 65 6c 6c 6f"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{ping_event("Hello")});
    EXPECT_EQ(r.frames, std::vector<ParsedFrame>{sent_frame(Role::client, kPong, "Hello")});
    ASSERT_EQ(r.output.size(), 2u + 4u + 5u);
    EXPECT_EQ(r.output[0], 0x8A);
    EXPECT_EQ(r.output[1], 0x85);
  }
  {
    const Bytes payload = random_bytes(256, 1);
    const FeedResult r = feed_all_splits(client, cat(from_hex("82 7e 01 00"), payload));
    EXPECT_EQ(r.events, std::vector<Event>{binary_event(payload)});
  }
  {
    const Bytes payload = random_bytes(65536, 2);
    const FeedResult r = feed_all_splits(client, cat(from_hex("82 7f 00 00 00 00 00 01 00 00"), payload));
    EXPECT_EQ(r.events, std::vector<Event>{binary_event(payload)});
  }
}

TEST(CodecFraming, RfcExamplesReceivedByAServer) {
  const CodecSetup server = server_setup();
  {
    const FeedResult r = feed_all_splits(server, from_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello")});
    EXPECT_TRUE(r.output.empty());
  }
  {
    const FeedResult r = feed_all_splits(server, from_hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{pong_event("Hello")});
    EXPECT_TRUE(r.output.empty());
  }
}

// ---------------------------------------------------------------------------
// Masking rules (§5.1, §5.3)

TEST(CodecFraming, ServerRejectsUnmaskedFrames) {
  for (std::uint8_t op : {kText, kBinary, kPing, kPong, kClose}) {
    SCOPED_TRACE(unsigned{op});
    const Bytes frame = build_frame(op, as_span(op == kClose ? "\x03\xe8" : "Hello"));
    const FeedResult r = feed_all_splits(server_setup(), frame);
    expect_failure(r, Error::unmasked_client_frame, 1002, Role::server);
    EXPECT_TRUE(r.events.empty());
    EXPECT_EQ(r.peer_close_code, 1006);
  }
}

TEST(CodecFraming, ServerRejectsUnmaskedFrameFromItsHeaderAlone) {
  // The complete header (announcing 256 bytes) is enough: no payload byte has to arrive.
  const FeedResult r = feed_all_splits(server_setup(), from_hex("82 7e 01 00"));
  expect_failure(r, Error::unmasked_client_frame, 1002, Role::server);
}

TEST(CodecFraming, ClientRejectsMaskedFrames) {
  for (std::uint8_t op : {kText, kBinary, kPing, kPong}) {
    SCOPED_TRACE(unsigned{op});
    FrameOpts o;
    o.mask = kTestMask;
    const FeedResult r = feed_all_splits(client_setup(), build_frame(op, as_span("Hello"), o));
    expect_failure(r, Error::masked_server_frame, 1002, Role::client);
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(CodecFraming, ServerFailureCloseFrameIsUnmaskedWithCode1002) {
  const FeedResult r = feed_chunks(server_setup(), from_hex("81 05 48 65 6c 6c 6f"), {});
  ASSERT_GE(r.output.size(), 4u);
  EXPECT_EQ(r.output[0], 0x88);
  EXPECT_EQ(r.output[1], r.output.size() - 2);
  EXPECT_EQ(r.output[2], 0x03);
  EXPECT_EQ(r.output[3], 0xEA);
}

// ---------------------------------------------------------------------------
// Reserved bits and opcodes (§5.2)

TEST(CodecFraming, ReservedBitsWithoutAnExtension) {
  for (Role role : kRoles) {
    for (int bit = 1; bit <= 3; ++bit) {
      for (std::uint8_t op : {kText, kBinary, kPing}) {
        SCOPED_TRACE(::testing::Message() << role_name(role) << " rsv" << bit << " op " << unsigned{op});
        FrameOpts o;
        o.rsv1 = bit == 1;
        o.rsv2 = bit == 2;
        o.rsv3 = bit == 3;
        if (role == Role::server) o.mask = kTestMask;
        const FeedResult r = feed_all_splits(setup_for(role), build_frame(op, as_span("abc"), o));
        expect_failure(r, Error::reserved_bits_set, 1002, role);
        EXPECT_TRUE(r.events.empty());
      }
    }
  }
}

TEST(CodecFraming, ReservedBitsOnAContinuationFrame) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    FrameOpts o;
    o.rsv3 = true;
    if (role == Role::server) o.mask = kTestMask;
    const Bytes stream = cat(frame_to(role, kText, "ab", false), build_frame(kCont, as_span("cd"), o));
    const FeedResult r = feed_all_splits(setup_for(role), stream);
    expect_failure(r, Error::reserved_bits_set, 1002, role);
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(CodecFraming, ReservedOpcodes) {
  for (Role role : kRoles) {
    for (std::uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " opcode " << unsigned{op});
      const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, op, "xyz"));
      expect_failure(r, Error::reserved_opcode, 1002, role);
      EXPECT_TRUE(r.events.empty());
    }
  }
}

TEST(CodecFraming, ReservedOpcodeAfterValidFrames) {
  // Messages before the bad frame are delivered; nothing after it.
  const Bytes stream = cat(to_server(kText, "one"), to_server(kBinary, "two"), to_server(0x3, ""), to_server(kText, "three"));
  const FeedResult r = feed_all_splits(server_setup(), stream);
  expect_failure(r, Error::reserved_opcode, 1002, Role::server);
  EXPECT_EQ(r.events, (std::vector<Event>{text_event("one"), binary_event("two")}));
}

// ---------------------------------------------------------------------------
// Payload length encodings (§5.2)

TEST(CodecFraming, NonMinimalLengthEncodings) {
  struct Case {
    std::size_t len;
    LengthForm form;
  };
  const Case cases[] = {{0, LengthForm::bits16},  {5, LengthForm::bits16},  {125, LengthForm::bits16},
                        {0, LengthForm::bits64},  {125, LengthForm::bits64}, {126, LengthForm::bits64},
                        {65535, LengthForm::bits64}};
  for (Role role : kRoles) {
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " len " << c.len << " form " << static_cast<int>(c.form));
      FrameOpts o;
      o.length_form = c.form;
      if (role == Role::server) o.mask = kTestMask;
      const Bytes payload(c.len, 'x');
      const FeedResult r = feed_all_splits(setup_for(role), build_frame(kBinary, payload, o));
      expect_failure(r, Error::non_minimal_length, 1002, role);
      EXPECT_TRUE(r.events.empty());
    }
  }
}

TEST(CodecFraming, MinimalLengthsAtTheBoundariesAreAccepted) {
  for (Role role : kRoles) {
    for (std::size_t len : {0u, 125u, 126u, 65535u, 65536u}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " len " << len);
      const Bytes payload = random_bytes(len, static_cast<std::uint32_t>(len));
      const Bytes frame = frame_to(role, kBinary, payload);
      const FeedResult r = feed_all_splits(setup_for(role), frame, 400);
      EXPECT_FALSE(r.error) << r.error.message();
      EXPECT_EQ(r.events, std::vector<Event>{binary_event(payload)});
      EXPECT_TRUE(r.output.empty());
    }
  }
}

TEST(CodecFraming, SixtyFourBitLengthWithTheHighBitSet) {
  for (Role role : kRoles) {
    for (std::uint64_t len : {0x8000000000000000ull, 0xFFFFFFFFFFFFFFFFull, 0x8000000000000005ull}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " len " << std::hex << len);
      FrameOpts o;
      o.declared_length = len;
      if (role == Role::server) o.mask = kTestMask;
      const FeedResult r = feed_all_splits(setup_for(role), build_frame(kBinary, {}, o));  // header only
      expect_failure(r, Error::length_high_bit_set, 1002, role);
    }
  }
}

// ---------------------------------------------------------------------------
// Fragmentation (§5.4)

TEST(CodecFraming, TextInThreeFragments) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes stream = cat(frame_to(role, kText, "Hel", false), frame_to(role, kCont, "lo, ", false),
                             frame_to(role, kCont, "world", true));
    const FeedResult r = feed_all_splits(setup_for(role), stream);
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{text_event("Hello, world")});
    EXPECT_TRUE(r.output.empty());
    EXPECT_EQ(r.state, CodecState::open);
  }
}

TEST(CodecFraming, BinaryFragments) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes payload = random_bytes(300, 3);
    Bytes stream;
    for (std::size_t i = 0; i < 300; i += 50) {
      const Bytes part = frame_to(role, i == 0 ? kBinary : kCont, std::span(payload).subspan(i, 50), i + 50 == 300);
      stream.insert(stream.end(), part.begin(), part.end());
    }
    const FeedResult r = feed_all_splits(setup_for(role), stream);
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{binary_event(payload)});
  }
}

TEST(CodecFraming, EmptyFragments) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    {
      const Bytes stream = cat(frame_to(role, kText, "", false), frame_to(role, kCont, "abc", false),
                               frame_to(role, kCont, "", false), frame_to(role, kCont, "", true));
      const FeedResult r = feed_all_splits(setup_for(role), stream);
      EXPECT_FALSE(r.error);
      EXPECT_EQ(r.events, std::vector<Event>{text_event("abc")});
    }
    {
      const Bytes stream = cat(frame_to(role, kBinary, "", false), frame_to(role, kCont, "", false),
                               frame_to(role, kCont, "", true));
      const FeedResult r = feed_all_splits(setup_for(role), stream);
      EXPECT_FALSE(r.error);
      EXPECT_EQ(r.events, std::vector<Event>{binary_event(Bytes{})});
    }
    {
      // Empty first fragments, then the whole text in the last one.
      const Bytes stream = cat(frame_to(role, kText, "", false), frame_to(role, kCont, "", false),
                               frame_to(role, kCont, "\xc3\xa9t\xc3\xa9", true));
      const FeedResult r = feed_all_splits(setup_for(role), stream);
      EXPECT_FALSE(r.error);
      EXPECT_EQ(r.events, std::vector<Event>{text_event("\xc3\xa9t\xc3\xa9")});
    }
  }
}

TEST(CodecFraming, ZeroLengthMessages) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes stream = cat(frame_to(role, kText, ""), frame_to(role, kBinary, ""), frame_to(role, kText, ""));
    const FeedResult r = feed_all_splits(setup_for(role), stream);
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, (std::vector<Event>{text_event(""), binary_event(""), text_event("")}));
  }
  // Exact bytes: a masked empty text frame is 81 80 + key.
  const FeedResult r = feed_all_splits(server_setup(), from_hex("81 80 01 02 03 04 82 80 00 00 00 00"));
  EXPECT_EQ(r.events, (std::vector<Event>{text_event(""), binary_event("")}));
}

TEST(CodecFraming, ContinuationWithoutAStart) {
  for (Role role : kRoles) {
    for (bool fin : {true, false}) {
      SCOPED_TRACE(::testing::Message() << role_name(role) << " fin " << fin);
      const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, kCont, "abc", fin));
      expect_failure(r, Error::unexpected_continuation, 1002, role);
      EXPECT_TRUE(r.events.empty());
    }
    // After a complete message, a continuation is just as unexpected.
    const Bytes stream = cat(frame_to(role, kText, "done"), frame_to(role, kCont, "more"));
    const FeedResult r = feed_all_splits(setup_for(role), stream);
    expect_failure(r, Error::unexpected_continuation, 1002, role);
    EXPECT_EQ(r.events, std::vector<Event>{text_event("done")});
  }
}

TEST(CodecFraming, NewMessageDuringFragmentation) {
  for (Role role : kRoles) {
    for (std::uint8_t second : {kText, kBinary}) {
      for (bool fin : {true, false}) {
        SCOPED_TRACE(::testing::Message() << role_name(role) << " second op " << unsigned{second} << " fin " << fin);
        const Bytes stream = cat(frame_to(role, kText, "part", false), frame_to(role, second, "new", fin));
        const FeedResult r = feed_all_splits(setup_for(role), stream);
        expect_failure(r, Error::expected_continuation, 1002, role);
        EXPECT_TRUE(r.events.empty());
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Control frames inside a fragmented message (§5.4, §5.5)

TEST(CodecFraming, PingBetweenFragmentsIsAnsweredBeforeTheMessageCompletes) {
  // Server: the pong bytes are exact (unmasked).
  const Bytes frag1 = to_server(kText, "Hel", false);
  const Bytes ping = to_server(kPing, "are you there?");
  const Bytes frag2 = to_server(kCont, "lo", true);
  const Bytes pong = server_bytes(kPong, as_span("are you there?"));
  {
    // Only the first fragment and the ping have arrived.
    const FeedResult r = feed_all_splits(server_setup(), cat(frag1, ping));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, std::vector<Event>{ping_event("are you there?")});
    EXPECT_EQ(r.output, pong);
  }
  {
    const FeedResult r = feed_all_splits(server_setup(), cat(frag1, ping, frag2));
    EXPECT_FALSE(r.error);
    ASSERT_EQ(r.events, (std::vector<Event>{ping_event("are you there?"), text_event("Hello")}));
    // When the message was reported, the pong was already queued.
    EXPECT_EQ(r.events[1].output_at, pong.size());
    EXPECT_EQ(r.output, pong);
  }
}

TEST(CodecFraming, ClientAnswersPingBetweenFragmentsWithAMaskedPong) {
  const Bytes stream = cat(to_client(kBinary, "ab", false), to_client(kPing, "p1"), to_client(kCont, "cd", false),
                           to_client(kPong, "p2"), to_client(kPing, ""), to_client(kCont, "ef", true));
  const FeedResult r = feed_all_splits(client_setup(), stream);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.events, (std::vector<Event>{ping_event("p1"), pong_event("p2"), ping_event(""), binary_event("abcdef")}));
  EXPECT_EQ(r.frames, (std::vector<ParsedFrame>{sent_frame(Role::client, kPong, "p1"), sent_frame(Role::client, kPong, "")}));
  ASSERT_EQ(r.output.size(), (2u + 4 + 2) + (2u + 4 + 0));
}

TEST(CodecFraming, PingBetweenTextFragmentsSplittingACharacter) {
  // "€" (e2 82 ac) cut over two fragments with a ping between them.
  const Bytes stream = cat(to_server(kText, "\xe2\x82", false), to_server(kPing, "x"), to_server(kCont, "\xac", true));
  const FeedResult r = feed_all_splits(server_setup(), stream);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.events, (std::vector<Event>{ping_event("x"), text_event("\xe2\x82\xac")}));
  EXPECT_EQ(r.output, server_bytes(kPong, as_span("x")));
}

TEST(CodecFraming, CloseInsideAFragmentedMessageDropsTheMessage) {
  const Bytes stream = cat(to_server(kText, "never", false), to_server(kClose, close_payload(1000)),
                           to_server(kCont, "delivered", true));
  const FeedResult r = feed_all_splits(server_setup(), stream);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.events, std::vector<Event>{close_event(1000)});
  EXPECT_EQ(r.output, from_hex("88 02 03 e8"));
  EXPECT_EQ(r.state, CodecState::closed);
}

// ---------------------------------------------------------------------------
// Zero-copy and reassembly paths

TEST(CodecFraming, SingleFrameAndFragmentedFormsGiveIdenticalEvents) {
  std::mt19937 rng(5);
  for (Role role : kRoles) {
    for (int iter = 0; iter < 20; ++iter) {
      const bool text = iter % 2 == 0;
      const Bytes payload = text ? random_utf8(rng() % 200, rng) : random_bytes(rng() % 200, static_cast<std::uint32_t>(iter));
      const std::uint8_t op = text ? kText : kBinary;
      const Bytes single = frame_to(role, op, payload);
      // The same payload cut into 1..4 fragments at arbitrary byte positions (even inside a character).
      Bytes fragmented;
      std::size_t pos = 0;
      const std::size_t parts = 1 + rng() % 4;
      for (std::size_t p = 0; p < parts; ++p) {
        const std::size_t end = p + 1 == parts ? payload.size() : pos + rng() % (payload.size() - pos + 1);
        const Bytes f = frame_to(role, p == 0 ? op : kCont, std::span(payload).subspan(pos, end - pos), p + 1 == parts);
        fragmented.insert(fragmented.end(), f.begin(), f.end());
        pos = end;
      }
      SCOPED_TRACE(::testing::Message() << role_name(role) << " iteration " << iter);
      const FeedResult a = feed_all_splits(setup_for(role), single, 256);
      const FeedResult b = feed_all_splits(setup_for(role), fragmented, 256);
      EXPECT_FALSE(a.error);
      EXPECT_FALSE(b.error);
      const Event expected = text ? text_event(payload) : binary_event(payload);
      EXPECT_EQ(a.events, std::vector<Event>{expected});
      EXPECT_EQ(b.events, std::vector<Event>{expected});
    }
  }
}

TEST(CodecFraming, ManyFramesInOneBuffer) {
  std::mt19937 rng(11);
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Bytes stream;
    std::vector<Event> expected;
    for (int i = 0; i < 120; ++i) {
      const std::size_t len = i % 10 == 0 ? 126 + rng() % 300 : rng() % 20;
      if (i % 3 == 0) {
        const Bytes t = random_utf8(len, rng);
        const Bytes f = frame_to(role, kText, t);
        stream.insert(stream.end(), f.begin(), f.end());
        expected.push_back(text_event(t));
      } else if (i % 7 == 0) {
        const Bytes p = random_bytes(len % 126, static_cast<std::uint32_t>(i));
        const Bytes f = frame_to(role, kPong, p);
        stream.insert(stream.end(), f.begin(), f.end());
        expected.push_back(pong_event(p));
      } else {
        const Bytes b = random_bytes(len, static_cast<std::uint32_t>(i));
        const Bytes f = frame_to(role, kBinary, b);
        stream.insert(stream.end(), f.begin(), f.end());
        expected.push_back(binary_event(b));
      }
    }
    const FeedResult r = feed_all_splits(setup_for(role), stream, 1500);
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.events, expected);
    EXPECT_TRUE(r.output.empty());
  }
}

TEST(CodecFraming, EmptyReceiveIsANoOp) {
  Codec codec(Role::server);
  Recorder rec(&codec);
  EXPECT_FALSE(codec.receive({}, rec));
  EXPECT_TRUE(rec.events.empty());
  EXPECT_FALSE(codec.has_output());
  // Also in the middle of a header.
  Bytes half = from_hex("81 85 37");
  EXPECT_FALSE(codec.receive(half, rec));
  EXPECT_FALSE(codec.receive({}, rec));
  Bytes rest = from_hex("fa 21 3d 7f 9f 4d 51 58");
  EXPECT_FALSE(codec.receive(rest, rec));
  EXPECT_EQ(rec.events, std::vector<Event>{text_event("Hello")});
}

TEST(CodecFraming, ReceiveUnmasksInPlace) {
  // The contract allows (and the zero-copy path relies on) unmasking the caller's buffer.
  Codec codec(Role::server);
  Recorder rec(&codec);
  Bytes data = from_hex("82 85 37 fa 21 3d 7f 9f 4d 51 58");
  EXPECT_FALSE(codec.receive(data, rec));
  EXPECT_EQ(rec.events, std::vector<Event>{binary_event("Hello")});
}

TEST(CodecFraming, HandlerMayEchoFromTheCallback) {
  CodecSetup s = server_setup();
  s.on_event = [](Codec& c, const Event& e) {
    if (e.kind == Event::Kind::text) {
      EXPECT_FALSE(c.send(MessageType::text, e.data));
    }
  };
  const Bytes stream = cat(to_server(kText, "one"), to_server(kText, "tw", false), to_server(kCont, "o"));
  const FeedResult r = feed_all_splits(s, stream);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.output, cat(server_bytes(kText, as_span("one")), server_bytes(kText, as_span("two"))));
}

TEST(CodecFraming, SendingFragmentsFollowsTheSameRules) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Codec c(role);
    const Bytes part = to_bytes("part");
    // A continuation with nothing started, and a second start, are refused and queue nothing.
    EXPECT_EQ(c.send_fragment(MessageType::text, part, false, true), make_error_code(Error::unexpected_continuation));
    EXPECT_FALSE(c.has_output());
    ASSERT_FALSE(c.send_fragment(MessageType::text, part, true, false));
    const std::size_t after_first = c.pending_output().size();
    EXPECT_EQ(c.send_fragment(MessageType::binary, part, true, false), make_error_code(Error::expected_continuation));
    // A whole message cannot be slipped into the middle of a fragmented one.
    EXPECT_EQ(c.send(MessageType::binary, part), make_error_code(Error::expected_continuation));
    EXPECT_EQ(c.pending_output().size(), after_first);
    // Control frames can.
    EXPECT_FALSE(c.ping(as_span("p")));
    EXPECT_FALSE(c.send_fragment(MessageType::text, part, false, true));
    EXPECT_FALSE(c.send(MessageType::binary, part));  // and after the last fragment, a new message is fine
    EXPECT_EQ(parse_frames(c.pending_output()),
              (std::vector<ParsedFrame>{sent_frame(role, kText, "part", false), sent_frame(role, kPing, "p"),
                                        sent_frame(role, kCont, "part", true), sent_frame(role, kBinary, "part")}));
    if (role == Role::server) {
      const auto out = c.pending_output();
      EXPECT_EQ(Bytes(out.begin(), out.end()),
                from_hex("01 04 70 61 72 74 89 01 70 80 04 70 61 72 74 82 04 70 61 72 74"));
    }
  }
}

TEST(CodecFraming, SentFramesAreReceivedByThePeerRole) {
  // What one role sends, the other role accepts: masking is right both ways.
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    Codec sender(role);
    ASSERT_FALSE(sender.send_text("text"));
    ASSERT_FALSE(sender.send(MessageType::binary, Bytes(70000, 7)));
    ASSERT_FALSE(sender.send_fragment(MessageType::text, as_span("a"), true, false));
    ASSERT_FALSE(sender.send_fragment(MessageType::text, as_span("b"), false, true));
    ASSERT_FALSE(sender.close(4001, "end"));
    const auto out = sender.pending_output();
    const Role receiver = role == Role::server ? Role::client : Role::server;
    const FeedResult r = feed_all_splits(setup_for(receiver), Bytes(out.begin(), out.end()));
    EXPECT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.events, (std::vector<Event>{text_event("text"), binary_event(Bytes(70000, 7)), text_event("ab"),
                                            close_event(4001, "end")}));
  }
}

// ---------------------------------------------------------------------------
// UTF-8 in text messages (§8.1), validated incrementally across fragments

TEST(CodecFraming, InvalidUtf8InASingleFrame) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    for (const char* bad : {"\xff", "a\xc0\x80", "\xed\xa0\x80", "abc\xe2\x82"}) {
      const FeedResult r = feed_all_splits(setup_for(role), frame_to(role, kText, bad));
      expect_failure(r, Error::invalid_utf8, 1007, role);
      EXPECT_TRUE(r.events.empty());
    }
    // The same bytes as binary are fine.
    const FeedResult ok = feed_all_splits(setup_for(role), frame_to(role, kBinary, "\xff\xfe"));
    EXPECT_FALSE(ok.error);
  }
}

TEST(CodecFraming, InvalidUtf8InTheSecondFragmentFailsBeforeTheFinalFragment) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes frag1 = frame_to(role, kText, "h\xc3\xa9llo ", false);
    const Bytes frag2 = frame_to(role, kCont, "wor\xffld", false);
    const FeedResult r = feed_all_splits(setup_for(role), cat(frag1, frag2));  // the FIN fragment never comes
    expect_failure(r, Error::invalid_utf8, 1007, role);
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(CodecFraming, InvalidUtf8FailsAtTheBadByteOfAnIncompleteFragment) {
  // The second fragment is announced as 100 bytes; the bad byte arrives long before the rest.
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes frag1 = frame_to(role, kText, "ok ", false);
    Bytes payload(100, 'a');
    payload[10] = 0xED;
    payload[11] = 0xA0;  // a surrogate: impossible from this byte on
    const Bytes frag2 = frame_to(role, kCont, payload, true);
    const std::size_t bad_at = frag1.size() + (frag2.size() - payload.size()) + 11;  // index of A0 in the stream
    const Bytes stream = cat(frag1, frag2);
    const FeedResult before = feed_all_splits(setup_for(role), std::span(stream).first(bad_at));
    EXPECT_FALSE(before.error);
    EXPECT_EQ(before.state, CodecState::open);
    const FeedResult at = feed_all_splits(setup_for(role), std::span(stream).first(bad_at + 1));
    expect_failure(at, Error::invalid_utf8, 1007, role);
    // Fed one byte at a time, the call that fails is the one carrying the A0.
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
    const FeedResult bytewise = feed_chunks(setup_for(role), stream, every, "bytewise");
    EXPECT_EQ(bytewise.error, make_error_code(Error::invalid_utf8));
    EXPECT_EQ(bytewise.bytes_before_error, bad_at + 1);
  }
}

TEST(CodecFraming, AutobahnFailFastAcrossFragments) {
  // Autobahn 6.4.2: "κόσμε" | F4 | 90 80 80 "edited": fails in the third fragment, which is not final.
  const Bytes stream = cat(to_server(kText, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", false),
                           to_server(kCont, "\xf4", false), to_server(kCont, "\x90\x80\x80", false));
  const FeedResult r = feed_all_splits(server_setup(), stream);
  expect_failure(r, Error::invalid_utf8, 1007, Role::server);
  // Up to the F4 everything is still possible.
  const Bytes head = cat(to_server(kText, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", false), to_server(kCont, "\xf4", false));
  EXPECT_FALSE(feed_all_splits(server_setup(), head).error);
}

TEST(CodecFraming, TruncatedCharacterAtTheEndOfAFragmentedMessage) {
  for (Role role : kRoles) {
    SCOPED_TRACE(role_name(role));
    const Bytes stream = cat(frame_to(role, kText, "abc", false), frame_to(role, kCont, "\xf0\x9f\x98", true));
    const FeedResult r = feed_all_splits(setup_for(role), stream);
    expect_failure(r, Error::invalid_utf8, 1007, role);
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(CodecFraming, MultiByteCharacterSplitAcrossFragmentsIsValid) {
  const std::string text = "a\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9z";  // a 😀 € é z
  for (Role role : kRoles) {
    // Every way to cut the text into three fragments.
    for (std::size_t i = 0; i <= text.size(); ++i) {
      for (std::size_t j = i; j <= text.size(); ++j) {
        SCOPED_TRACE(::testing::Message() << role_name(role) << " cuts " << i << "," << j);
        const Bytes stream = cat(frame_to(role, kText, text.substr(0, i), false),
                                 frame_to(role, kCont, text.substr(i, j - i), false),
                                 frame_to(role, kCont, text.substr(j), true));
        const FeedResult r = feed_all_splits(setup_for(role), stream, 64);
        ASSERT_FALSE(r.error) << r.error.message();
        ASSERT_EQ(r.events, std::vector<Event>{text_event(text)});
      }
    }
  }
}

// ---------------------------------------------------------------------------
// A randomized conversation between a client and a server codec

std::error_code send_random_message(Codec& from, std::mt19937& rng, std::vector<Event>& expected) {
  const bool text = rng() % 2 == 0;
  std::size_t size;
  switch (rng() % 4) {
    case 0: size = rng() % 126; break;
    case 1: size = rng() % 1000; break;
    case 2: size = 125 + rng() % 65000; break;
    default: size = rng() % 70001; break;
  }
  const Bytes payload = text ? random_utf8(size, rng) : random_bytes(size, static_cast<std::uint32_t>(rng()));
  expected.push_back(text ? text_event(payload) : binary_event(payload));
  const MessageType type = text ? MessageType::text : MessageType::binary;
  if (rng() % 3 != 0) return from.send(type, payload);
  // Fragmented: 1..5 fragments at arbitrary byte positions (even inside a character).
  const std::size_t parts = 1 + rng() % 5;
  std::size_t pos = 0;
  for (std::size_t p = 0; p < parts; ++p) {
    const std::size_t end = p + 1 == parts ? payload.size() : pos + rng() % (payload.size() - pos + 1);
    if (auto ec = from.send_fragment(type, std::span(payload).subspan(pos, end - pos), p == 0, p + 1 == parts)) return ec;
    pos = end;
  }
  return {};
}

void run_random_conversation(std::optional<DeflateParams> deflate, std::uint32_t seed, int messages) {
  Conversation conv({}, {}, deflate, seed);
  std::mt19937& rng = conv.rng;
  std::vector<Event> to_server_expected, to_client_expected;
  for (int i = 0; i < messages; ++i) {
    const bool from_client = rng() % 2 == 0;
    Codec& from = from_client ? conv.client : conv.server;
    std::vector<Event>& expected = from_client ? to_server_expected : to_client_expected;
    const unsigned action = rng() % 10;
    if (action == 0) {
      const Bytes p = random_bytes(rng() % 126, rng());
      ASSERT_FALSE(from.ping(p));
      expected.push_back(ping_event(p));
      // The auto-pong goes back the other way.
      (from_client ? to_client_expected : to_server_expected).push_back(pong_event(p));
    } else {
      ASSERT_FALSE(send_random_message(from, rng, expected));
    }
    if (rng() % 4 == 0) {
      ASSERT_FALSE(conv.pump());
    }
  }
  ASSERT_FALSE(conv.pump());
  // Pongs arrive after other traffic that was already in flight, so compare by kind.
  auto only = [](const std::vector<Event>& v, bool pongs) {
    std::vector<Event> out;
    for (const Event& e : v) {
      if ((e.kind == Event::Kind::pong) == pongs) out.push_back(e);
    }
    return out;
  };
  const std::vector<Event> got_by_server = only(conv.server_rx.events, false);
  const std::vector<Event> got_by_client = only(conv.client_rx.events, false);
  const std::vector<Event> sent_to_server = only(to_server_expected, false);
  const std::vector<Event> sent_to_client = only(to_client_expected, false);
  ASSERT_EQ(got_by_server.size(), sent_to_server.size());
  for (std::size_t i = 0; i < sent_to_server.size(); ++i) {
    ASSERT_EQ(got_by_server[i], sent_to_server[i]) << "message " << i << " to the server";
  }
  ASSERT_EQ(got_by_client.size(), sent_to_client.size());
  for (std::size_t i = 0; i < sent_to_client.size(); ++i) {
    ASSERT_EQ(got_by_client[i], sent_to_client[i]) << "message " << i << " to the client";
  }
  EXPECT_EQ(only(conv.server_rx.events, true), only(to_server_expected, true));
  EXPECT_EQ(only(conv.client_rx.events, true), only(to_client_expected, true));

  // Close handshake, started by either side.
  const bool client_closes = seed % 2 == 0;
  Codec& closer = client_closes ? conv.client : conv.server;
  Codec& other = client_closes ? conv.server : conv.client;
  ASSERT_FALSE(closer.close(1000, "done"));
  EXPECT_EQ(closer.state(), CodecState::closing);
  ASSERT_FALSE(conv.pump());
  EXPECT_EQ(conv.client.state(), CodecState::closed);
  EXPECT_EQ(conv.server.state(), CodecState::closed);
  EXPECT_TRUE(conv.client.should_close_transport());
  EXPECT_TRUE(conv.server.should_close_transport());
  EXPECT_EQ(other.peer_close_code(), 1000);
  EXPECT_EQ(other.peer_close_reason(), "done");
  EXPECT_EQ(closer.peer_close_code(), 1000);  // the echo
  EXPECT_FALSE(conv.client.failure());
  EXPECT_FALSE(conv.server.failure());
  Recorder& other_rx = client_closes ? conv.server_rx : conv.client_rx;
  Recorder& closer_rx = client_closes ? conv.client_rx : conv.server_rx;
  EXPECT_EQ(other_rx.events.back(), close_event(1000, "done"));
  EXPECT_EQ(closer_rx.events.back(), close_event(1000, ""));
}

TEST(CodecConversation, RandomizedMessagesPingsAndFragmentsClientCloses) {
  run_random_conversation(std::nullopt, 1000, 1000);
}

TEST(CodecConversation, RandomizedMessagesPingsAndFragmentsServerCloses) {
  run_random_conversation(std::nullopt, 1001, 1000);
}

}  // namespace
}  // namespace sluice::protocol::test
