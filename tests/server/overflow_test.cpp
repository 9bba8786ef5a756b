// The overflow policies (SPEC §3 delivery and backpressure), with publishes
// that reach a loop in big batches (delivered as runs of one topic):
// - drop-and-mark-gap: a subscriber whose queue is full misses events, never
//   silently: the next event it gets is preceded by {"type":"gap","dropped":N}
//   with N exactly the events it missed;
// - close (default): a subscriber that does not read is closed with 4008 once
//   its queue is full; a run bigger than the queue's room is no way around it.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

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
    // Bounded: a read that would wait longer fails the test instead of hanging it.
    timeval bound{30, 0};
    ::setsockopt(peer.socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
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
    while (!done() && !closed) {
      // recv() itself, not Asio's blocking read (which polls on past SO_RCVTIMEO).
      const ssize_t n = ::recv(peer.socket.native_handle(), chunk.data(), chunk.size(), 0);
      if (n <= 0) return done();
      feed(std::vector<std::uint8_t>(chunk.begin(), chunk.begin() + n));
    }
    return done();
  }
};

// The server's send-queue and delivery series, from /metrics.
std::string queue_metrics(TestServer& server) {
  RawHttp http(server.server->port());
  http.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string text = http.read_response();
  std::string out;
  for (const char* name : {"sluice_send_queue_bytes", "sluice_slow_consumer_closes_total", "sluice_deliveries_total",
                           "sluice_websocket_sent_bytes_total", "sluice_connections_closed_total"}) {
    for (std::size_t at = text.find(std::string("\n") + name); at != std::string::npos;
         at = text.find(std::string("\n") + name, at + 1)) {
      out += text.substr(at + 1, text.find('\n', at + 1) - at);
    }
  }
  return out;
}

// Publishes `count` events of `payload` to "firehose" from a /v1/ws client
// that writes them all in one go: the server reads many per loop turn.
void publish_pipelined(RawWsPeer& publisher, const std::string& payload, int count) {
  protocol::Codec codec(protocol::Role::client);
  for (int i = 0; i < count; ++i) {
    ASSERT_FALSE(codec.send_text(R"({"op":"publish","id":)" + std::to_string(i) + R"(,"topic":"firehose","data":)" +
                                 payload + "}"));
  }
  asio::write(publisher.socket, asio::buffer(codec.pending_output().data(), codec.pending_output().size()));
}

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
  publish_pipelined(publisher, payload, kEvents);
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

TEST(ServerOverflowClose, ANonReaderIsClosedWith4008EvenWhenEventsComeInRuns) {
  auto settings = test_settings();
  settings.threads = 1;
  settings.send_queue_limit = 64 * 1024;
  settings.close_timeout = 120s;  // the peer reads only at the end: the close frame must still be there
  TestServer server(settings);

  RawWsPeer peer(server.server->port(), 4096);
  BlockingReader reader(peer);
  reader.send_text(R"({"op":"subscribe","id":1,"topic":"firehose"})");
  ASSERT_TRUE(reader.read_until([&] { return !reader.messages.empty(); }));

  const std::string payload = "\"" + std::string(16 * 1024, 'q') + "\"";
  constexpr int kEvents = 600;  // ~10 MiB: 150 times the queue limit
  RawWsPeer publisher(server.server->port());
  publish_pipelined(publisher, payload, kEvents);
  ASSERT_TRUE(eventually([&] { return server.server->broker().published() >= kEvents; }));

  ASSERT_TRUE(reader.read_until([&] { return false; }) || reader.closed)
      << reader.messages.size() << " messages, then nothing for 30 s; the server's view:\n"
      << queue_metrics(server);  // a rare flake: what the server held when it happened
  EXPECT_TRUE(reader.closed);
  EXPECT_EQ(reader.codec.peer_close_code(), 4008);
  std::size_t events = 0;
  for (const auto& m : reader.messages) events += m.at("type") == "event";
  // What reached the peer is what fit its queue and socket buffers, not the flood.
  EXPECT_LT(events, static_cast<std::size_t>(kEvents) / 2);
}

}  // namespace
}  // namespace sluice::test
