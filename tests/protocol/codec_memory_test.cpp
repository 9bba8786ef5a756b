// Codec: what a connection keeps between messages (idle memory, issue #18).
// A message or control frame split across receive() calls is assembled in a
// buffer the server side releases once it is delivered; one that arrives
// whole is delivered from the caller's buffer and needs none.
#include <gtest/gtest.h>

#include "protocol/test_util.hpp"
#include "sluice/protocol/codec.hpp"

namespace sluice::protocol::test {
namespace {

// Feeds `stream` to `codec` in pieces of at most `piece` bytes; the first error.
std::error_code feed_in_pieces(Codec& codec, Recorder& recorder, Bytes stream, std::size_t piece) {
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    const std::size_t n = std::min(piece, stream.size() - at);
    if (auto ec = codec.receive(std::span<std::uint8_t>(stream).subspan(at, n), recorder)) return ec;
  }
  return {};
}

TEST(CodecMemory, ALargeMessageSplitOverManyReadsArrivesWholeAndItsBufferIsReleased) {
  Codec server(Role::server);
  Recorder recorder(&server);
  EXPECT_FALSE(server.holds_assembly());
  std::mt19937 rng(7);
  const Bytes text = random_utf8(300 * 1024, rng);
  // Three fragments, with a ping between the first two; fed 1,000 bytes at a time.
  const std::size_t third = text.size() / 3;
  const Bytes stream = cat(cat(to_server(kText, std::span(text).first(third), false), to_server(kPing, "are you there")),
                           cat(to_server(kCont, std::span(text).subspan(third, third), false),
                               to_server(kCont, std::span(text).subspan(2 * third))));
  ASSERT_FALSE(feed_in_pieces(server, recorder, stream, 1000));
  EXPECT_EQ(recorder.events, (std::vector<Event>{ping_event("are you there"), text_event(text)}));
  EXPECT_FALSE(server.holds_assembly()) << "the message buffer outlived its message";
  // The connection still works the same afterwards: a split message, then a whole one.
  ASSERT_FALSE(feed_in_pieces(server, recorder, to_server(kBinary, random_bytes(5000, 3)), 7));
  EXPECT_FALSE(server.holds_assembly());
  ASSERT_FALSE(feed_in_pieces(server, recorder, to_server(kText, "whole"), 1 << 20));
  ASSERT_EQ(recorder.events.size(), 4u);
  EXPECT_EQ(recorder.events[2], binary_event(random_bytes(5000, 3)));
  EXPECT_EQ(recorder.events[3], text_event("whole"));
  EXPECT_FALSE(server.holds_assembly());
}

TEST(CodecMemory, AControlFrameNeedsNoBufferUnlessItIsSplit) {
  Codec server(Role::server);
  Recorder recorder(&server);
  Bytes ping = to_server(kPing, "whole ping");
  ASSERT_FALSE(server.receive(ping, recorder));
  EXPECT_FALSE(server.holds_assembly());
  // Split inside its payload (after the 6-byte header): collected, delivered once complete, released.
  Bytes split = to_server(kPong, "split pong");
  ASSERT_FALSE(server.receive(std::span<std::uint8_t>(split).first(8), recorder));
  EXPECT_TRUE(server.holds_assembly());
  ASSERT_FALSE(server.receive(std::span<std::uint8_t>(split).subspan(8), recorder));
  EXPECT_FALSE(server.holds_assembly());
  EXPECT_EQ(recorder.events, (std::vector<Event>{ping_event("whole ping"), pong_event("split pong")}));
}

TEST(CodecMemory, InvalidTextSplitOverReadsIsStillRefused) {
  Codec server(Role::server);
  Recorder recorder(&server);
  Bytes invalid = to_server(kText, from_hex("48 65 c3 28 6c"));  // c3 28: a broken two-byte sequence
  EXPECT_EQ(feed_in_pieces(server, recorder, invalid, 3), make_error_code(Error::invalid_utf8));
  EXPECT_TRUE(recorder.events.empty());
}

TEST(CodecMemory, ThePeersCloseReasonIsKept) {
  Codec server(Role::server);
  Recorder recorder(&server);
  EXPECT_EQ(server.peer_close_reason(), "");
  Bytes close = to_server(kClose, close_payload(4000, "bye now"));
  ASSERT_FALSE(feed_in_pieces(server, recorder, close, 4));
  EXPECT_EQ(server.peer_close_code(), 4000);
  EXPECT_EQ(server.peer_close_reason(), "bye now");
}

}  // namespace
}  // namespace sluice::protocol::test
