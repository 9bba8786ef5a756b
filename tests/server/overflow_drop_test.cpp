// The drop-and-mark-gap overflow policy (SPEC §3 delivery and backpressure):
// a subscriber whose queue is full misses events, never silently: the next
// event it gets is preceded by {"type":"gap","dropped":N} with N exactly the
// events it missed, whether events were delivered one by one or as a run.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "server/server_harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

// Reads frames from a raw peer's socket on demand and decodes them to JSON.
struct BlockingReader : protocol::CodecHandler {
  RawWsPeer& peer;
  protocol::Codec codec{protocol::Role::client};
  std::vector<json::object> messages;
  bool closed = false;

  explicit BlockingReader(RawWsPeer& p) : peer(p) {
    std::string leftover(asio::buffers_begin(peer.head.data()), asio::buffers_end(peer.head.data()));
    leftover.erase(0, leftover.find("\r\n\r\n") + 4);
    feed(std::vector<std::uint8_t>(leftover.begin(), leftover.end()));
  }
  void on_message(protocol::MessageType, std::span<const std::uint8_t> p) override {
    messages.push_back(json::parse(std::string_view(reinterpret_cast<const char*>(p.data()), p.size())).as_object());
  }
  void on_close(std::uint16_t, std::string_view) override { closed = true; }
  void feed(std::vector<std::uint8_t> bytes) {
    if (!bytes.empty()) (void)codec.receive(bytes, *this);
  }
  void send_text(std::string_view text) {
    ASSERT_FALSE(codec.send_text(text));
    asio::write(peer.socket, asio::buffer(codec.pending_output().data(), codec.pending_output().size()));
    codec.consume_output(codec.pending_output().size());
  }
  /// Reads until `done()` or the connection ends; returns done().
  template <class Done>
  bool read_until(Done done) {
    std::array<std::uint8_t, 65536> chunk;
    boost::system::error_code ec;
    while (!done() && !closed) {
      const std::size_t n = peer.socket.read_some(asio::buffer(chunk), ec);
      if (ec) return done();
      feed(std::vector<std::uint8_t>(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n)));
    }
    return done();
  }
};

TEST(ServerOverflowDrop, EveryMissedEventIsCountedInAGapMarkerBeforeTheNextEvent) {
  auto settings = test_settings();
  settings.threads = 1;  // one loop: publishes queue up in its inbox and go out in runs
  settings.send_queue_limit = 64 * 1024;
  settings.overflow = net::OverflowPolicy::drop;
  TestServer server(settings);

  RawWsPeer peer(server.server->port(), 4096);  // a small window: the server's queue fills sooner
  BlockingReader reader(peer);
  reader.send_text(R"({"op":"subscribe","id":1,"topic":"firehose"})");
  ASSERT_TRUE(reader.read_until([&] { return !reader.messages.empty(); }));
  ASSERT_EQ(reader.messages[0].at("type").as_string(), "ack");

  // ~10 MiB while the peer does not read: far beyond its queue and socket
  // buffers. Written by a /v1/ws publisher in one go, so the server reads many
  // publishes per loop turn and delivers them in runs.
  const std::string payload = "\"" + std::string(16 * 1024, 'q') + "\"";
  constexpr int kEvents = 600;
  RawWsPeer publisher(server.server->port());
  protocol::Codec publisher_codec(protocol::Role::client);
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_FALSE(publisher_codec.send_text(R"({"op":"publish","id":)" + std::to_string(i) +
                                           R"(,"topic":"firehose","data":)" + payload + "}"));
  }
  asio::write(publisher.socket,
              asio::buffer(publisher_codec.pending_output().data(), publisher_codec.pending_output().size()));
  ASSERT_TRUE(eventually([&] { return server.server->broker().published() >= kEvents; }));

  // Now the peer reads; small "end" events follow until one gets through
  // (each is dropped too while the queue is still full).
  std::mutex mutex;
  std::condition_variable changed;
  bool seen_end = false;
  Background end_publisher([&](std::atomic<bool>& stop) {
    std::unique_lock lock(mutex);
    while (!seen_end && !stop) {
      lock.unlock();
      server.server->broker().publish({"firehose", "\"end\"", "", "", ""});
      lock.lock();
      changed.wait_for(lock, 20ms, [&] { return seen_end; });
    }
  });
  const bool got_end = reader.read_until([&] {
    const bool end = reader.messages.back().at("type").as_string() == "event" &&
                     reader.messages.back().at("event").at("data") == "end";
    if (end) {
      std::lock_guard lock(mutex);
      seen_end = true;
      changed.notify_all();
    }
    return end;
  });
  end_publisher.join();
  ASSERT_TRUE(got_end);
  ASSERT_FALSE(reader.closed);

  // Offsets only grow; every jump is announced by a gap marker right before it
  // with the exact count; no marker without a jump.
  std::int64_t last_offset = 0;
  std::int64_t announced = 0;
  std::int64_t dropped_total = 0;
  std::size_t events = 0;
  for (std::size_t i = 1; i < reader.messages.size(); ++i) {
    const auto& m = reader.messages[i];
    if (m.at("type") == "gap") {
      ASSERT_EQ(announced, 0) << "two gap markers in a row at message " << i;
      announced = m.at("dropped").as_int64();
      ASSERT_GT(announced, 0);
      continue;
    }
    ASSERT_EQ(m.at("type"), "event") << json::serialize(m);
    const std::int64_t offset = m.at("event").at("offset").as_int64();
    ASSERT_EQ(offset, last_offset + 1 + announced) << "at message " << i;
    dropped_total += announced;
    announced = 0;
    last_offset = offset;
    ++events;
  }
  EXPECT_GT(dropped_total, 0) << "the queue never overflowed: the test did not test the policy";
  EXPECT_GT(events, 1u);
  EXPECT_GE(last_offset, kEvents + 1);  // the "end" event came after all the others
}

}  // namespace
}  // namespace sluice::test
