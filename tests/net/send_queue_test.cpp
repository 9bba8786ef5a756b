#include <gtest/gtest.h>

#include "sluice/net/send_queue.hpp"

namespace {

using sluice::net::OutChunk;
using sluice::net::SendQueue;

OutChunk chunk(std::string text) { return OutChunk::owned(std::vector<std::uint8_t>(text.begin(), text.end())); }

std::string written(const std::vector<boost::asio::const_buffer>& buffers) {
  std::string out;
  for (const auto& b : buffers) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

TEST(SendQueue, RefusesDataOverTheLimitAndCountsBytes) {
  SendQueue q(10, 4);
  EXPECT_EQ(q.push(chunk("12345")), SendQueue::Result::queued);
  EXPECT_EQ(q.push(chunk("67890")), SendQueue::Result::queued);
  EXPECT_EQ(q.push(chunk("x")), SendQueue::Result::over_limit);
  EXPECT_EQ(q.bytes(), 10u);
  // Control frames may use the headroom, and no more.
  EXPECT_EQ(q.push_control(chunk("pong")), SendQueue::Result::queued);
  EXPECT_EQ(q.push_control(chunk("p")), SendQueue::Result::over_limit);
  EXPECT_EQ(q.bytes(), 14u);
}

TEST(SendQueue, ControlGoesAheadOfQueuedDataButNotOfTheWriteInFlight) {
  SendQueue q(1000);
  std::vector<boost::asio::const_buffer> out;
  q.push(chunk("d1"));
  ASSERT_TRUE(q.start_write(out));
  EXPECT_EQ(written(out), "d1");
  q.push(chunk("d2"));
  q.push_control(chunk("C"));
  EXPECT_FALSE(q.start_write(out));  // one write in flight at a time
  q.finish_write();
  ASSERT_TRUE(q.start_write(out));
  EXPECT_EQ(written(out), "Cd2");  // corked: one gather write, control first
  q.finish_write();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_FALSE(q.start_write(out));
}

TEST(SendQueue, SharedChunksAreNotCopied) {
  auto frame = std::make_shared<const std::string>("event");
  SendQueue a(100), b(100);
  a.push(OutChunk::shared(frame));
  b.push(OutChunk::shared(frame));
  EXPECT_EQ(frame.use_count(), 3);
  std::vector<boost::asio::const_buffer> out;
  ASSERT_TRUE(a.start_write(out));
  EXPECT_EQ(out[0].data(), frame->data());
  a.finish_write();
  EXPECT_EQ(frame.use_count(), 2);
}

TEST(SendQueue, DropPendingKeepsTheWriteInFlight) {
  SendQueue q(100);
  std::vector<boost::asio::const_buffer> out;
  q.push(chunk("aaaa"));
  ASSERT_TRUE(q.start_write(out));
  q.push(chunk("bbbb"));
  q.push(chunk("cc"));
  EXPECT_EQ(q.drop_pending_data(), 6u);
  EXPECT_EQ(q.bytes(), 4u);
  q.push_unbounded(chunk("close"));
  q.finish_write();
  ASSERT_TRUE(q.start_write(out));
  EXPECT_EQ(written(out), "close");
}

TEST(SendQueue, OneWriteIsBoundedInBuffersAndBytes) {
  SendQueue q(100 * 1024 * 1024);
  for (std::size_t i = 0; i < SendQueue::kMaxWriteBuffers + 10; ++i) q.push(chunk("x"));
  std::vector<boost::asio::const_buffer> out;
  ASSERT_TRUE(q.start_write(out));
  EXPECT_EQ(out.size(), SendQueue::kMaxWriteBuffers);
  q.finish_write();
  ASSERT_TRUE(q.start_write(out));
  EXPECT_EQ(out.size(), 10u);
  q.finish_write();
  // A single chunk larger than the per-write cap still goes out (alone).
  q.push(OutChunk::owned(std::vector<std::uint8_t>(SendQueue::kMaxWriteBytes + 1, 1)));
  q.push(chunk("y"));
  ASSERT_TRUE(q.start_write(out));
  EXPECT_EQ(out.size(), 1u);
}

TEST(SendQueue, AnEmptyQueueTakesOneFrameLargerThanTheLimit) {
  SendQueue q(10);
  EXPECT_EQ(q.push(chunk("a message of more than ten bytes")), SendQueue::Result::queued);
  EXPECT_EQ(q.push(chunk("x")), SendQueue::Result::over_limit);
  std::vector<boost::asio::const_buffer> out;
  ASSERT_TRUE(q.start_write(out));
  q.finish_write();
  EXPECT_EQ(q.push(chunk("another long message, again")), SendQueue::Result::queued);
}

}  // namespace

namespace {

std::string gathered(const SendQueue& q, std::size_t max_buffers = SendQueue::kMaxGatherBuffers) {
  std::vector<iovec> iov(max_buffers);
  std::size_t total = 0;
  const std::size_t count = q.gather(iov.data(), iov.size(), total);
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  EXPECT_EQ(out.size(), total);
  return out;
}

// /metrics' send-queue bytes: a gauge shared by many queues follows each
// one's bytes through every way in and out, and loses them with the queue.
TEST(SendQueue, MirrorsItsBytesIntoASharedGauge) {
  sluice::metrics::Gauge gauge;
  {
    SendQueue a(100), b(100);
    a.push(chunk("12345"));
    a.set_bytes_gauge(&gauge);  // what was queued before counts from now on
    b.set_bytes_gauge(&gauge);
    EXPECT_EQ(gauge.value(), 5);
    b.push(chunk("abc"));
    b.push_control(chunk("P"));
    EXPECT_EQ(gauge.value(), 9);
    iovec iov[8];
    std::size_t offered = 0;
    b.gather(iov, 8, offered);
    b.consume(2);  // a cut frame
    EXPECT_EQ(gauge.value(), 7);
    std::vector<boost::asio::const_buffer> out;
    ASSERT_TRUE(a.start_write(out));
    a.push(chunk("678"));
    a.finish_write();
    EXPECT_EQ(gauge.value(), 5);
    a.push(chunk("9"));
    EXPECT_EQ(a.drop_pending_data(), 4u);
    EXPECT_EQ(gauge.value(), 2);  // b's cut frame
    EXPECT_EQ(static_cast<std::size_t>(gauge.value()), a.bytes() + b.bytes());
  }
  EXPECT_EQ(gauge.value(), 0);
}

TEST(SendQueueGather, OffersControlThenDataAndConsumesByBytes) {
  SendQueue q(1000);
  q.push(chunk("d1"));
  q.push(chunk("d2"));
  q.push_control(chunk("C"));
  EXPECT_EQ(gathered(q), "Cd1d2");
  EXPECT_EQ(gathered(q), "Cd1d2");  // gather changes nothing
  q.consume(5);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(gathered(q), "");
}

TEST(SendQueueGather, ACutFrameFinishesBeforeNewerControlFrames) {
  SendQueue q(1000);
  q.push(chunk("aaaa"));
  q.push(chunk("bbbb"));
  q.consume(2);  // the kernel took half of "aaaa"
  EXPECT_EQ(q.bytes(), 6u);
  q.push_control(chunk("P"));
  // The rest of the cut frame first (frames never interleave), then the pong
  // ahead of the data not yet started.
  EXPECT_EQ(gathered(q), "aaPbbbb");
  q.consume(3);
  EXPECT_EQ(gathered(q), "bbbb");
  // Dropping pending data keeps a cut frame: its rest must go out.
  q.consume(1);
  EXPECT_EQ(q.drop_pending_data(), 0u);
  EXPECT_EQ(gathered(q), "bbb");
  q.push(chunk("cc"));
  EXPECT_EQ(q.drop_pending_data(), 2u);
  q.push_unbounded(chunk("close"));
  EXPECT_EQ(gathered(q), "bbbclose");
  q.consume(8);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(SendQueueGather, OneGatherIsBoundedInBuffersAndBytes) {
  SendQueue q(100 * 1024 * 1024);
  for (std::size_t i = 0; i < SendQueue::kMaxGatherBuffers + 10; ++i) q.push(chunk("x"));
  EXPECT_EQ(gathered(q).size(), SendQueue::kMaxGatherBuffers);
  q.consume(SendQueue::kMaxGatherBuffers);
  EXPECT_EQ(gathered(q).size(), 10u);
  q.consume(10);
  // A single chunk larger than the per-write cap still goes out (alone).
  q.push(OutChunk::owned(std::vector<std::uint8_t>(SendQueue::kMaxWriteBytes + 1, 1)));
  q.push(chunk("y"));
  EXPECT_EQ(gathered(q).size(), SendQueue::kMaxWriteBytes + 1);
}

TEST(SendQueueGather, SharedFramesAreReleasedOnceWritten) {
  auto frame = std::make_shared<const std::string>("event");
  SendQueue q(100);
  for (int i = 0; i < 9; ++i) q.push(OutChunk::shared(frame));  // grows the ring twice
  EXPECT_EQ(frame.use_count(), 10);
  q.consume(5 * 4 + 2);
  EXPECT_EQ(frame.use_count(), 6);  // four whole, one cut (held until finished)
  q.consume(3 + 4 * 5);
  EXPECT_EQ(frame.use_count(), 1);
  EXPECT_TRUE(q.empty());
}

// Idle memory (issue #18): a queue holds storage only while something is
// queued, cut or in flight, whichever way it is written.
TEST(SendQueueStorage, IsHeldOnlyWhileSomethingIsQueued) {
  SendQueue q(100);
  EXPECT_FALSE(q.holds_storage());
  q.push(chunk("hello"));
  q.push_control(chunk("pong"));
  EXPECT_TRUE(q.holds_storage());
  q.consume(4 + 2);  // the pong and a cut "he"
  EXPECT_TRUE(q.holds_storage()) << "the rest of a cut frame must stay";
  EXPECT_EQ(gathered(q), "llo");
  q.consume(3);
  EXPECT_FALSE(q.holds_storage());
  EXPECT_TRUE(q.empty());

  // Whole writes (TLS): in flight, then finished.
  std::vector<boost::asio::const_buffer> out;
  q.push(chunk("abc"));
  ASSERT_TRUE(q.start_write(out));
  EXPECT_TRUE(q.holds_storage());
  q.finish_write();
  EXPECT_FALSE(q.holds_storage());

  // Dropped data: nothing is left, so nothing is held.
  q.push(chunk("x"));
  q.push(chunk("y"));
  EXPECT_EQ(q.drop_pending_data(), 2u);
  EXPECT_FALSE(q.holds_storage());
  EXPECT_EQ(q.bytes(), 0u);

  // And the queue works the same after its storage came back.
  q.push(chunk("again"));
  EXPECT_EQ(gathered(q), "again");
  q.consume(5);
  EXPECT_FALSE(q.holds_storage());
}

TEST(SendQueueStorage, ADestroyedQueueReleasesWhatItHeld) {
  auto frame = std::make_shared<const std::string>("event");
  {
    SendQueue q(100);
    q.push(OutChunk::shared(frame));
    q.push_control(OutChunk::shared(frame));
    EXPECT_EQ(frame.use_count(), 3);
  }
  EXPECT_EQ(frame.use_count(), 1);  // and the storage went back to the thread's cache empty
  SendQueue next(100);
  next.push(chunk("z"));
  EXPECT_EQ(gathered(next), "z");
  EXPECT_EQ(frame.use_count(), 1);
}

}  // namespace
