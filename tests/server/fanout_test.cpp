// Fan-out correctness: every subscriber gets every event exactly once and in
// order; pattern subscriptions get exactly the topics they match.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <map>
#include <random>

#include "server/server_harness.hpp"
#include "sluice/protocol/codec.hpp"
#include "sluice/topic/topic.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

TEST(ServerFanOut, ThousandSubscribersGetEveryEventOnceInOrder) {
  TestServer server;
  asio::io_context io;
  constexpr int kSubscribers = 1000;
  constexpr int kEvents = 100;
  std::vector<std::unique_ptr<JsonClient>> subs;
  for (int i = 0; i < kSubscribers; ++i) subs.push_back(std::make_unique<JsonClient>(io, server.url()));
  ASSERT_TRUE(run_until(io, [&] {
    return std::all_of(subs.begin(), subs.end(), [](auto& c) { return c->open; });
  }));
  for (auto& c : subs) c->subscribe("fan.out");
  ASSERT_TRUE(run_until(io, [&] {
    return std::all_of(subs.begin(), subs.end(), [](auto& c) { return c->count("ack") == 1; });
  }));
  JsonClient publisher(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return publisher.open; }));
  for (int i = 0; i < kEvents; ++i) publisher.publish("fan.out", i, i);
  ASSERT_TRUE(run_until(io, [&] {
    return std::all_of(subs.begin(), subs.end(), [](auto& c) { return c->count("event") >= kEvents; });
  }, 120s));
  // Let anything extra (a duplicate) arrive before counting exactly.
  publisher.send({{"op", "ping"}, {"id", 999}});
  ASSERT_TRUE(run_until(io, [&] { return publisher.count("ack") == kEvents + 1; }));
  for (auto& c : subs) {
    const auto events = c->events();
    ASSERT_EQ(events.size(), static_cast<std::size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) {
      EXPECT_EQ(events[i].at("offset").as_int64(), i + 1);
      EXPECT_EQ(events[i].at("data").as_int64(), i);
    }
    EXPECT_FALSE(c->closed);
  }
}

TEST(ServerFanOut, PatternsReceiveExactlyTheTopicsTheyMatch) {
  TestServer server;
  asio::io_context io;
  const std::vector<std::string> patterns = {"a.b", "a.*", "a.>", "*.b", "*.*.c", ">", "a.b.c", "x.>"};
  const std::vector<std::string> topics = {"a", "a.b", "a.c", "b.b", "a.b.c", "x.y.c", "x", "a.b.c.d"};
  std::vector<std::unique_ptr<JsonClient>> subs;
  for (std::size_t i = 0; i < patterns.size(); ++i) subs.push_back(std::make_unique<JsonClient>(io, server.url()));
  // One more client holds every pattern at once: it must still get each event once.
  JsonClient all(io, server.url());
  ASSERT_TRUE(run_until(io, [&] {
    return all.open && std::all_of(subs.begin(), subs.end(), [](auto& c) { return c->open; });
  }));
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    subs[i]->subscribe(patterns[i]);
    subs[i]->subscribe("sentinel", 100);
    all.subscribe(patterns[i], static_cast<int>(i));
  }
  all.subscribe("sentinel", 100);
  ASSERT_TRUE(run_until(io, [&] {
    return all.count("ack") == patterns.size() + 1 &&
           std::all_of(subs.begin(), subs.end(), [](auto& c) { return c->count("ack") == 2; });
  }));
  JsonClient publisher(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return publisher.open; }));
  for (const auto& t : topics) publisher.publish(t, json::value(t));
  // Published last: a loop delivers in order, so once a client has it, it has
  // everything it will ever get from the topics above.
  publisher.publish("sentinel", "end");
  auto has_sentinel = [](const JsonClient& c) {
    for (const auto& e : c.events()) {
      if (e.at("topic").as_string() == "sentinel") return true;
    }
    return false;
  };
  ASSERT_TRUE(run_until(io, [&] {
    return has_sentinel(all) && std::all_of(subs.begin(), subs.end(), [&](auto& c) { return has_sentinel(*c); });
  }));
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    std::vector<std::string> expected, got;
    for (const auto& t : topics) {
      if (topic::pattern_matches(patterns[i], t)) expected.push_back(t);
    }
    expected.push_back("sentinel");
    for (const auto& e : subs[i]->events()) got.emplace_back(e.at("topic").as_string());
    EXPECT_EQ(got, expected) << patterns[i];
  }
  // The client holding all patterns got each topic exactly once (">" matches every one).
  std::vector<std::string> got_all;
  for (const auto& e : all.events()) got_all.emplace_back(e.at("topic").as_string());
  std::vector<std::string> expected_all = topics;
  expected_all.push_back("sentinel");
  EXPECT_EQ(got_all, expected_all);
}

// One topic published from every loop at once reaches subscribers on every
// loop as offsets 1..N, no gap, no reordering (connections are placed
// round-robin, so publishers and subscribers sit on both loops). The
// timing-dependent Asio ordering bug is caught reliably by ServerStress.
TEST(ServerFanOut, OneTopicFromPublishersOnEveryLoopStaysInOffsetOrder) {
  TestServer server;
  asio::io_context io;
  std::vector<std::unique_ptr<JsonClient>> subs, pubs;
  for (int i = 0; i < 4; ++i) {
    subs.push_back(std::make_unique<JsonClient>(io, server.url()));
    pubs.push_back(std::make_unique<JsonClient>(io, server.url()));
  }
  ASSERT_TRUE(run_until(io, [&] {
    return std::all_of(subs.begin(), subs.end(), [](auto& c) { return c->open; }) &&
           std::all_of(pubs.begin(), pubs.end(), [](auto& c) { return c->open; });
  }));
  for (auto& c : subs) c->subscribe("race");
  ASSERT_TRUE(run_until(io, [&] {
    return std::all_of(subs.begin(), subs.end(), [](auto& c) { return c->count("ack") == 1; });
  }));
  constexpr int kPerPublisher = 1000;
  for (int i = 0; i < kPerPublisher; ++i) {
    for (auto& p : pubs) p->publish("race", i, i);
  }
  const std::size_t total = kPerPublisher * pubs.size();
  ASSERT_TRUE(run_until(io, [&] {
    return std::all_of(subs.begin(), subs.end(), [&](auto& c) { return c->count("event") == total; });
  }, 120s));
  for (auto& c : subs) {
    const auto events = c->events();
    for (std::size_t k = 0; k < events.size(); ++k) {
      ASSERT_EQ(events[k].at("offset").as_int64(), static_cast<std::int64_t>(k + 1));
    }
  }
}

// The messages of one recv() on a raw peer (at most 64 KiB, waiting at most 30 s).
struct RecvOnce : protocol::CodecHandler {
  protocol::Codec codec{protocol::Role::client};
  std::vector<json::object> messages;
  void on_message(protocol::MessageType, std::span<const std::uint8_t> p) override {
    messages.push_back(json::parse(std::string_view(reinterpret_cast<const char*>(p.data()), p.size())).as_object());
  }
  void on_close(std::uint16_t, std::string_view) override {}
  void read(RawWsPeer& peer, std::vector<std::uint8_t> already = {}) {
    timeval bound{30, 0};
    ::setsockopt(peer.socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
    std::vector<std::uint8_t> chunk(65536);
    const ssize_t n = ::recv(peer.socket.native_handle(), chunk.data(), chunk.size(), 0);
    ASSERT_GT(n, 0);
    already.insert(already.end(), chunk.begin(), chunk.begin() + n);
    (void)codec.receive(already, *this);
  }
  void send(RawWsPeer& peer, std::string_view text) {
    ASSERT_FALSE(codec.send_text(text));
    asio::write(peer.socket, asio::buffer(codec.pending_output().data(), codec.pending_output().size()));
    codec.consume_output(codec.pending_output().size());
  }
};

// The publishes one loop reads in a turn reach a subscriber on another loop
// as one batch, in one write: that loop is woken once the turn is read, not
// at its first event (it drained a few at a time: more, smaller writes to
// every subscriber). Connections are placed round-robin: the subscriber and
// the publisher sit on different loops.
TEST(ServerFanOut, AnotherLoopGetsOneTurnsPublishesInOneWrite) {
  auto settings = test_settings();  // two loops
  TestServer server(settings);
  RawWsPeer subscriber(server.server->port());
  RecvOnce sub;
  sub.send(subscriber, R"({"op":"subscribe","id":1,"topic":"turn"})");
  std::string rest(asio::buffers_begin(subscriber.head.data()), asio::buffers_end(subscriber.head.data()));
  rest.erase(0, rest.find("\r\n\r\n") + 4);
  sub.read(subscriber, std::vector<std::uint8_t>(rest.begin(), rest.end()));
  ASSERT_EQ(sub.messages.size(), 1u);
  ASSERT_EQ(sub.messages[0].at("type").as_string(), "ack");

  RawWsPeer publisher(server.server->port());
  constexpr int kEvents = 20;  // ~1.4 KiB of frames, one write: read in one turn
  protocol::Codec codec(protocol::Role::client);
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_FALSE(codec.send_text(R"({"op":"publish","id":)" + std::to_string(i) + R"(,"topic":"turn","data":)" +
                                 std::to_string(i) + "}"));
  }
  asio::write(publisher.socket, asio::buffer(codec.pending_output().data(), codec.pending_output().size()));
  sub.messages.clear();
  sub.read(subscriber);
  ASSERT_EQ(sub.messages.size(), static_cast<std::size_t>(kEvents)) << "the turn's events in one write";
  for (int i = 0; i < kEvents; ++i) EXPECT_EQ(sub.messages[i].at("event").at("offset").as_int64(), i + 1);
}

}  // namespace
}  // namespace sluice::test
