// The seed bugs of SPEC §1 as regression tests: each scenario crashes, hangs
// or reports a race (under ASan/TSan) in a design without one owner per
// connection, posted cross-thread requests and bounded queues.
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

#include "server/server_harness.hpp"
#include "sluice/protocol/codec.hpp"
#include "sluice/protocol/handshake.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

std::vector<std::unique_ptr<JsonClient>> subscribed_clients(asio::io_context& io, TestServer& server, int count,
                                                            const std::string& pattern) {
  std::vector<std::unique_ptr<JsonClient>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<JsonClient>(io, server.url()));
  }
  EXPECT_TRUE(run_until(io, [&] {
    for (auto& c : clients) {
      if (!c->open) return false;
    }
    return true;
  }));
  for (auto& c : clients) c->subscribe(pattern);
  EXPECT_TRUE(run_until(io, [&] {
    for (auto& c : clients) {
      if (c->count("ack") < 1) return false;
    }
    return true;
  }));
  return clients;
}

// (a) The topic of many live subscriptions is dropped while events flow, twice
// and from two threads at once: every subscriber is told exactly once, nothing
// arrives for it afterwards, and subscribers of other topics see every event.
TEST(ServerLifecycle, TopicDroppedUnderLiveSubscriptions) {
  TestServer server;
  asio::io_context io;
  auto doomed = subscribed_clients(io, server, 100, "drop.me");
  auto keepers = subscribed_clients(io, server, 20, "keep.me");
  // Paced by the slowest subscriber still listening (at most 50 events ahead),
  // so that no one is closed as a slow consumer, however slow the build.
  std::atomic<std::int64_t> slowest{0};
  auto update_slowest = [&] {
    std::int64_t low = INT64_MAX;
    for (auto& c : doomed) {
      if (c->count("unsubscribed") == 0) low = std::min<std::int64_t>(low, static_cast<std::int64_t>(c->count("event")));
    }
    for (auto& c : keepers) {
      if (c->count("event") < 300) low = std::min<std::int64_t>(low, static_cast<std::int64_t>(c->count("event")));
    }
    slowest = low;
  };
  Background publisher([&](std::atomic<bool>& stop) {
    for (std::int64_t i = 0; !stop; ++i) {
      while (!stop && i - slowest.load() > 50) std::this_thread::yield();
      server.server->broker().publish({"drop.me", std::to_string(i), "", "", ""});
      if (i < 300) server.server->broker().publish({"keep.me", std::to_string(i), "", "", ""});
    }
  });
  ASSERT_TRUE(run_until(io, [&] {
    update_slowest();
    return doomed[0]->count("event") >= 20;
  }));
  Background a([&](std::atomic<bool>&) { server.server->drop_topic("drop.me"); });
  Background b([&](std::atomic<bool>&) { server.server->drop_topic("drop.me"); });
  a.join();
  b.join();
  ASSERT_TRUE(run_until(io, [&] {
    update_slowest();
    for (auto& c : doomed) {
      if (c->count("unsubscribed") < 1) return false;
    }
    for (auto& c : keepers) {
      if (c->count("event") < 300) return false;
    }
    return true;
  }));
  // A little more publishing after everyone was told: none of it may arrive.
  std::vector<std::size_t> seen;
  for (auto& c : doomed) seen.push_back(c->count("event"));
  const auto published_before = server.server->broker().published();
  ASSERT_TRUE(run_until(io, [&] {
    update_slowest();
    return server.server->broker().published() > published_before + 1000;
  }));
  publisher.join();
  for (std::size_t i = 0; i < doomed.size(); ++i) {
    EXPECT_EQ(doomed[i]->count("unsubscribed"), 1u);
    EXPECT_EQ(doomed[i]->count("event"), seen[i]) << "events after the topic was dropped";
    // Whatever arrived before the notice arrived in order with no gap.
    auto events = doomed[i]->events();
    for (std::size_t k = 0; k < events.size(); ++k) {
      EXPECT_EQ(events[k].at("offset").as_int64(), events[0].at("offset").as_int64() + static_cast<std::int64_t>(k));
    }
    EXPECT_FALSE(doomed[i]->closed);  // connections stay open
  }
  for (auto& c : keepers) EXPECT_EQ(c->count("event"), 300u);
}

// (b) Shutdown while many clients are subscribed and events are published:
// every client gets 1001, shutdown returns, nothing crashes.
TEST(ServerLifecycle, ShutdownWithLiveSubscribersAndPublishing) {
  TestServer server;
  asio::io_context io;
  auto clients = subscribed_clients(io, server, 200, "live.>");
  // Bounded volume (about 0.5 MiB per client), so no client becomes a slow consumer.
  Background publisher([&](std::atomic<bool>& stop) {
    for (int i = 0; !stop && i < 5000; ++i) server.server->broker().publish({"live.x", std::to_string(i), "", "", ""});
  });
  ASSERT_TRUE(run_until(io, [&] { return clients[0]->count("event") >= 10; }));
  // A generous drain: it ends as soon as every close handshake is done, and a
  // sanitizer build on a busy machine may need more than the default 10 s.
  Background stopper([&](std::atomic<bool>&) { server.server->shutdown(60s); });
  ASSERT_TRUE(run_until(io, [&] {
    for (auto& c : clients) {
      if (!c->closed) return false;
    }
    return true;
  }, 90s));
  stopper.join();
  publisher.join();
  for (auto& c : clients) {
    EXPECT_EQ(c->close_info.code, 1001);
    EXPECT_EQ(c->close_info.reason, "server shutting down");
  }
  EXPECT_EQ(server.server->connection_count(), 0u);
}

// Past the drain deadline, shutdown cuts off whoever is left: no socket
// outlives shutdown(), so a client that never answers the close still learns
// the connection is gone.
TEST(ServerLifecycle, ShutdownCutsOffWhoIsLeftAfterTheDeadline) {
  TestServer server;
  RawWsPeer silent(server.server->port());  // never answers the close frame
  asio::io_context io;
  auto clients = subscribed_clients(io, server, 5, "x");
  ASSERT_TRUE(run_until(io, [&] { return server.server->connection_count() == 6; }));
  server.server->shutdown(200ms);
  EXPECT_EQ(server.server->connection_count(), 0u);
  boost::system::error_code ec;
  std::array<char, 4096> sink;
  while (!ec) silent.socket.read_some(asio::buffer(sink), ec);  // the close frame, then the end
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  ASSERT_TRUE(run_until(io, [&] {
    return std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->closed; });
  }));
}

// (c) Clients vanish abruptly (no close handshake) while the server writes to
// them: the server frees each connection once, and counts drop to zero.
TEST(ServerLifecycle, AbruptDisconnectsMidWrite) {
  TestServer server;
  asio::io_context io;
  auto clients = subscribed_clients(io, server, 50, "flood");
  const std::string payload = "\"" + std::string(4096, 'z') + "\"";
  Background publisher([&](std::atomic<bool>& stop) {
    while (!stop) server.server->broker().publish({"flood", payload, "", "", ""});
  });
  // Each client aborts after a different number of events (unless the server
  // already closed it as a slow consumer: the flood is faster than this thread reads).
  std::size_t aborted = 0;
  ASSERT_TRUE(run_until(io, [&] {
    std::size_t ended = 0;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      auto& c = clients[i];
      if (!c->closed && c->connection->state() != net::Connection::State::closed &&
          c->count("event") >= 1 + i * 3) {
        c->connection->abort();
        ++aborted;
      }
      if (c->closed) ++ended;
    }
    return ended == clients.size();
  }));
  EXPECT_GT(aborted, 0u);
  ASSERT_TRUE(run_until(io, [&] { return server.server->connection_count() == 0; }));
  publisher.join();
}

// (d) A subscriber that never reads while a publisher floods: it is closed
// with 4008 "slow consumer" once its queue passes the limit; others get every event.
TEST(ServerLifecycle, SlowConsumerIsClosedWith4008OthersUnaffected) {
  auto settings = test_settings();
  settings.send_queue_limit = 256 * 1024;
  // The slow consumer reads only at the end: the server must still be waiting
  // for its close reply then (a peer that never reads cannot see a close frame).
  settings.close_timeout = 120s;
  TestServer server(settings);
  asio::io_context io;
  auto readers = subscribed_clients(io, server, 1, "firehose");

  // The slow consumer: a raw socket that subscribes, reads the ack, then stops reading.
  RawWsPeer peer(server.server->port(), 4096);  // a small window: the server's queue fills sooner
  auto& raw = peer.socket;
  auto& head = peer.head;
  protocol::Codec codec(protocol::Role::client);
  ASSERT_FALSE(codec.send_text(R"({"op":"subscribe","id":1,"topic":"firehose"})"));
  asio::write(raw, asio::buffer(codec.pending_output().data(), codec.pending_output().size()));
  codec.consume_output(codec.pending_output().size());

  const std::string payload = "\"" + std::string(16 * 1024, 'q') + "\"";
  constexpr int kEvents = 600;  // ~10 MiB: far beyond the queue limit plus socket buffers
  // Paced by the readers (at most 8 events ahead of the slowest), so only
  // the one that never reads falls behind.
  std::atomic<int> slowest_reader{0};
  Background publisher([&](std::atomic<bool>& stop) {
    for (int i = 0; i < kEvents && !stop; ++i) {
      while (i - slowest_reader.load() > 8 && !stop) std::this_thread::yield();
      server.server->broker().publish({"firehose", payload, "", "", ""});
    }
  });
  ASSERT_TRUE(run_until(io, [&] {
    std::size_t slowest = kEvents;
    for (auto& r : readers) slowest = std::min(slowest, r->count("event"));
    slowest_reader = static_cast<int>(slowest);
    return slowest == kEvents;
  }, 60s));
  publisher.join();
  for (auto& r : readers) {
    auto events = r->events();
    for (int i = 0; i < kEvents; ++i) EXPECT_EQ(events[i].at("offset").as_int64(), i + 1);
    EXPECT_FALSE(r->closed);
  }

  // Now read what the slow consumer was sent: a prefix of the events, then close 4008.
  struct Recorder : protocol::CodecHandler {
    int events = 0;
    std::uint16_t close_code = 0;
    std::string close_reason;
    void on_message(protocol::MessageType, std::span<const std::uint8_t> p) override {
      if (std::string_view(reinterpret_cast<const char*>(p.data()), p.size()).starts_with("{\"type\":\"event\"")) ++events;
    }
    void on_close(std::uint16_t code, std::string_view reason) override {
      close_code = code;
      close_reason = reason;
    }
  } recorder;
  std::string leftover(asio::buffers_begin(head.data()), asio::buffers_end(head.data()));
  leftover.erase(0, leftover.find("\r\n\r\n") + 4);
  std::vector<std::uint8_t> bytes(leftover.begin(), leftover.end());
  boost::system::error_code ec;
  std::array<std::uint8_t, 65536> chunk;
  while (!ec && recorder.close_code == 0) {
    if (!bytes.empty()) {
      (void)codec.receive(bytes, recorder);
      bytes.clear();
      if (recorder.close_code != 0) break;
    }
    const std::size_t n = raw.read_some(asio::buffer(chunk), ec);
    bytes.assign(chunk.begin(), chunk.begin() + n);
  }
  ASSERT_FALSE(ec) << ec.message();
  // Answer the close so the server ends the connection cleanly.
  asio::write(raw, asio::buffer(codec.pending_output().data(), codec.pending_output().size()));
  ASSERT_TRUE(run_until(io, [&] { return server.server->connection_count() == readers.size(); }));
  EXPECT_EQ(recorder.close_code, 4008);
  EXPECT_EQ(recorder.close_reason, "slow consumer");
  EXPECT_LT(recorder.events, kEvents);  // the rest was dropped with the connection, not buffered
}

// (e) Two threads ask to close the same connection at once, many times: it
// closes exactly once, with the first code, and the server stays healthy.
TEST(ServerLifecycle, ConcurrentCloseRequestsForOneConnection) {
  TestServer server;
  asio::io_context io;
  auto clients = subscribed_clients(io, server, 10, "x");
  const auto ids = server.server->connection_ids();
  ASSERT_EQ(ids.size(), 10u);
  Background a([&](std::atomic<bool>&) {
    for (int i = 0; i < 100; ++i) {
      for (auto id : ids) server.server->close_connection(id, 4000, "from a");
    }
  });
  Background b([&](std::atomic<bool>&) {
    for (int i = 0; i < 100; ++i) {
      for (auto id : ids) server.server->close_connection(id, 4000, "from b");
    }
  });
  a.join();
  b.join();
  ASSERT_TRUE(run_until(io, [&] {
    for (auto& c : clients) {
      if (!c->closed) return false;
    }
    return server.server->connection_count() == 0;
  }));
  for (auto& c : clients) {
    EXPECT_EQ(c->close_info.code, 4000);
    EXPECT_TRUE(c->close_info.reason == "from a" || c->close_info.reason == "from b") << c->close_info.reason;
  }
  // Asking again about connections that are gone is harmless.
  for (auto id : ids) server.server->close_connection(id, 4000, "late");
  JsonClient fresh(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return fresh.open; }));
}

// More loops than a byte holds: each connection's id names its own loop, so a
// close request reaches it and a closing session leaves its own loop's map
// (ids once kept the loop in 8 bits: loop 256's sessions were erased from loop
// 0's map, a race and a leak).
TEST(ServerLifecycle, ConnectionIdsNameTheirLoopWithMoreThan256Loops) {
  auto settings = test_settings();
  settings.threads = 260;
  TestServer server(settings);
  asio::io_context io;
  auto clients = subscribed_clients(io, server, 260, "many.loops");  // round robin: one per loop
  auto ids = server.server->connection_ids();
  ASSERT_EQ(ids.size(), 260u);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end()) << "two connections share an id";
  for (auto id : ids) server.server->close_connection(id, 4000, "by id");
  ASSERT_TRUE(run_until(io, [&] {
    for (auto& c : clients) {
      if (!c->closed) return false;
    }
    return server.server->connection_count() == 0;
  }));
  for (auto& c : clients) EXPECT_EQ(c->close_info.code, 4000);
  EXPECT_TRUE(server.server->connection_ids().empty()) << "sessions left behind in the loops' maps";
}

// Max connections: the one over the limit gets a clean 503, the others work.
TEST(ServerLifecycle, OverCapacityUpgradeGets503) {
  auto settings = test_settings();
  settings.max_connections = 3;
  TestServer server(settings);
  asio::io_context io;
  auto clients = subscribed_clients(io, server, 3, "cap");
  JsonClient extra(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return extra.closed; }));
  EXPECT_FALSE(extra.close_info.was_open);
  EXPECT_EQ(extra.close_info.http_status, 503u);
  clients[0]->publish("cap", 1);
  ASSERT_TRUE(run_until(io, [&] { return clients[2]->count("event") == 1; }));
}

// Malformed requests get error replies, not a dropped connection; abuse gets 1008.
TEST(ServerLifecycle, BadRequestsGetErrorsAndAbuseGets1008) {
  TestServer server;
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  (void)c.connection->send_text("{not json");
  c.send({{"op", "subscribe"}, {"id", 2}, {"topic", std::string(300, 'a')}});
  c.send({{"op", "nope"}, {"id", 3}});
  c.send({{"op", "unsubscribe"}, {"id", 4}, {"topic", "never.subscribed"}});
  c.send({{"op", "publish"}, {"id", 5}, {"topic", "a.*"}, {"data", 1}});
  c.send({{"op", "publish"}, {"id", 6}, {"topic", "ok"}});
  ASSERT_TRUE(run_until(io, [&] { return c.count("error") == 6; }));
  const auto errors = c.of_type("error");
  EXPECT_EQ(errors[0].at("code").as_string(), "invalid_json");
  EXPECT_EQ(errors[1].at("code").as_string(), "invalid_topic");
  EXPECT_EQ(errors[1].at("id").as_int64(), 2);
  EXPECT_EQ(errors[2].at("code").as_string(), "unknown_op");
  EXPECT_EQ(errors[3].at("code").as_string(), "not_subscribed");
  EXPECT_EQ(errors[4].at("code").as_string(), "invalid_topic");
  EXPECT_EQ(errors[5].at("code").as_string(), "bad_request");
  EXPECT_FALSE(c.closed);
  for (int i = 0; i < 40; ++i) (void)c.connection->send_text("garbage");
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  EXPECT_EQ(c.close_info.code, 1008);
}

// Too many subscriptions on one connection: an error, and the earlier ones still work.
TEST(ServerLifecycle, SubscriptionLimitPerConnection) {
  auto settings = test_settings();
  settings.max_subscriptions = 3;
  TestServer server(settings);
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  for (int i = 0; i < 4; ++i) c.subscribe("t" + std::to_string(i), i);
  ASSERT_TRUE(run_until(io, [&] { return c.count("ack") == 3 && c.count("error") == 1; }));
  EXPECT_EQ(c.of_type("error")[0].at("code").as_string(), "too_many_subscriptions");
  c.publish("t0", "x", 9);
  ASSERT_TRUE(run_until(io, [&] { return c.count("event") == 1; }));
}

}  // namespace
}  // namespace sluice::test
