// sluice::TopicClient against the Sluice server (SPEC §4 topic layer):
// acknowledged subscribe and publish, resuming from the last event delivered
// after cuts and restarts, recovered:false when history cannot cover the gap,
// unsubscribe, overlapping patterns, publishes resent across reconnects, and
// close() completing what is still unacknowledged.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <thread>

#include "client/fault_proxy.hpp"
#include "client/topic_support.hpp"
#include "server/server_harness.hpp"

namespace sluice::test {
namespace {

using client::SubscriptionStatus;
using client::TopicClient;
namespace json = boost::json;

std::vector<std::int64_t> numbers(const std::vector<client::TopicEvent>& events) {
  std::vector<std::int64_t> out;
  for (const auto& e : events) out.push_back(e.data.at("n").as_int64());
  return out;
}

std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> out;
  for (auto i = first; i <= last; ++i) out.push_back(i);
  return out;
}

// Publishes n = first..last on `topic` and waits for every acknowledgement.
void publish_numbers(TopicClient& publisher, const std::string& topic, std::int64_t first, std::int64_t last) {
  std::vector<std::future<client::PublishResult>> acks;
  for (auto n = first; n <= last; ++n) acks.push_back(publisher.publish(topic, json::object{{"n", n}}));
  for (auto& ack : acks) {
    ASSERT_EQ(ack.wait_for(kWait), std::future_status::ready);
    const auto result = ack.get();
    ASSERT_TRUE(result.ok) << result.code << ": " << result.message;
  }
}

TEST(TopicClient, SubscribeIsAcknowledgedAndPublishReturnsTheEventsPlace) {
  // Before the clients: handlers may run until a client is destroyed.
  TopicRecorder orders;
  TestServer server;
  const std::string url = inband_url(server.server->port());
  TopicClient c(url, fast_topic_options());
  const auto id = c.subscribe("orders.*", orders.handler(), orders.options());
  EXPECT_NE(id, 0u);
  c.connect();
  ASSERT_TRUE(orders.wait_statuses(1));
  EXPECT_EQ(orders.copy_statuses()[0].kind, SubscriptionStatus::Kind::subscribed);

  auto ack = c.publish("orders.eu", json::object{{"n", 1}}, {.type = "created", .key = "o-1", .idempotency_key = ""});
  ASSERT_EQ(ack.wait_for(kWait), std::future_status::ready);
  const auto result = ack.get();
  ASSERT_TRUE(result.ok) << result.code << ": " << result.message;
  EXPECT_EQ(result.topic, "orders.eu");
  EXPECT_EQ(result.offset, 1u);
  EXPECT_FALSE(result.epoch.empty());
  EXPECT_FALSE(result.event_id.empty());

  ASSERT_TRUE(orders.wait_events(1));
  const auto event = orders.copy_events()[0];
  EXPECT_EQ(event.id, result.event_id);
  EXPECT_EQ(event.topic, "orders.eu");
  EXPECT_EQ(event.offset, 1u);
  EXPECT_EQ(event.type, "created");
  EXPECT_EQ(event.key, "o-1");
  EXPECT_EQ(json::parse(event.json).at("data"), event.data);
  EXPECT_EQ(c.position("orders.eu"), (client::Position{1, result.epoch}));
  EXPECT_EQ(c.pending_publishes(), 0u);
  c.close();
}

TEST(TopicClient, InvalidPatternIsRefusedAtOnceAndServerRefusalIsReported) {
  // Before the clients: handlers may run until a client is destroyed.
  TopicRecorder first, second;
  auto settings = test_settings();
  settings.max_subscriptions = 1;
  TestServer server(settings);
  TopicClient c(inband_url(server.server->port()), fast_topic_options());
  EXPECT_EQ(c.subscribe("orders..eu", first.handler(), first.options()), 0u);
  EXPECT_EQ(c.subscribe("a.>.b", first.handler(), first.options()), 0u);
  c.subscribe("a", first.handler(), first.options());
  c.subscribe("b", second.handler(), second.options());
  c.connect();
  ASSERT_TRUE(first.wait_statuses(1));
  ASSERT_TRUE(second.wait_statuses(1));
  EXPECT_EQ(first.copy_statuses()[0].kind, SubscriptionStatus::Kind::subscribed);
  const auto refused = second.copy_statuses()[0];
  EXPECT_EQ(refused.kind, SubscriptionStatus::Kind::failed);
  EXPECT_EQ(refused.code, "too_many_subscriptions");
  // A publish to an invalid topic is answered by the server, not dropped.
  auto bad = c.publish("no spaces", json::value(1));
  ASSERT_EQ(bad.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(bad.get().code, "invalid_topic");
  c.close();
}

// The subscriber's connection is cut while events keep coming; after the
// reconnect it resumes from the last event it delivered: nothing lost,
// nothing twice, and the status says it recovered.
TEST(TopicClient, ResumesFromTheLastDeliveredEventAfterACut) {
  // Before the clients: handlers may run until a client is destroyed.
  TopicRecorder exact, pattern;
  TestServer server;
  FaultProxy proxy(server.server->port());
  TopicClient subscriber(proxy.url("/v1/ws"), fast_topic_options());
  TopicClient publisher(inband_url(server.server->port()), fast_topic_options());
  subscriber.subscribe("prices.btc", exact.handler(), exact.options());
  subscriber.subscribe("prices.*", pattern.handler(), pattern.options());
  subscriber.connect();
  publisher.connect();
  ASSERT_TRUE(exact.wait_statuses(1));
  ASSERT_TRUE(pattern.wait_statuses(1));

  publish_numbers(publisher, "prices.btc", 1, 20);
  ASSERT_TRUE(exact.wait_events(20));
  proxy.stall(true);  // nothing reaches the subscriber...
  publish_numbers(publisher, "prices.btc", 21, 40);
  publish_numbers(publisher, "prices.eth", 1, 5);  // a topic it never saw: from the subscribe time
  proxy.cut_all();    // ...then its connection is gone
  proxy.stall(false);
  ASSERT_TRUE(exact.wait_statuses(2));
  ASSERT_TRUE(exact.wait_events(40));
  ASSERT_TRUE(pattern.wait_events(45));
  EXPECT_EQ(numbers(exact.copy_events()), range(1, 40));
  std::vector<std::int64_t> btc, eth;
  for (const auto& e : pattern.copy_events()) (e.topic == "prices.btc" ? btc : eth).push_back(e.data.at("n").as_int64());
  EXPECT_EQ(btc, range(1, 40));
  EXPECT_EQ(eth, range(1, 5));
  const auto status = exact.copy_statuses()[1];
  EXPECT_EQ(status.kind, SubscriptionStatus::Kind::resubscribed);
  EXPECT_TRUE(status.recovered);
  EXPECT_EQ(subscriber.position("prices.btc")->offset, 40u);

  publish_numbers(publisher, "prices.btc", 41, 41);  // and live again
  ASSERT_TRUE(exact.wait_events(41));
  EXPECT_EQ(numbers(exact.copy_events()), range(1, 41));
}

// A memory-store server restarts: the topic's history (and epoch) is new, so
// the resume point is gone; the application is told recovered:false.
TEST(TopicClient, TellsTheApplicationWhenHistoryCannotCoverTheGap) {
  // Before the clients: handlers may run until a client is destroyed.
  TopicRecorder rec;
  auto first = std::make_unique<TestServer>();
  FaultProxy proxy(first->server->port());
  TopicClient subscriber(proxy.url("/v1/ws"), fast_topic_options());
  subscriber.subscribe("t", rec.handler(), rec.options());
  subscriber.connect();
  ASSERT_TRUE(rec.wait_statuses(1));
  {
    TopicClient publisher(inband_url(first->server->port()), fast_topic_options());
    publisher.connect();
    publish_numbers(publisher, "t", 1, 3);
  }
  ASSERT_TRUE(rec.wait_events(3));
  first.reset();
  TestServer second;
  proxy.set_target(second.server->port());
  ASSERT_TRUE(rec.wait_statuses(2));
  const auto status = rec.copy_statuses()[1];
  EXPECT_EQ(status.kind, SubscriptionStatus::Kind::resubscribed);
  EXPECT_FALSE(status.recovered);
  TopicClient publisher(inband_url(second.server->port()), fast_topic_options());
  publisher.connect();
  publish_numbers(publisher, "t", 4, 4);  // offset 1 of a new epoch: delivered, not taken for a duplicate
  ASSERT_TRUE(rec.wait_events(4));
  EXPECT_EQ(numbers(rec.copy_events()), range(1, 4));
  EXPECT_EQ(rec.copy_events()[3].offset, 1u);
}

TEST(TopicClient, OverlappingSubscriptionsEachGetAnEventOnceAndUnsubscribeStopsOne) {
  // Before the clients: handlers may run until a client is destroyed.
  TopicRecorder all, eu, same;
  TestServer server;
  const std::string url = inband_url(server.server->port());
  TopicClient c(url, fast_topic_options());
  c.subscribe("orders.>", all.handler(), all.options());
  const auto eu_id = c.subscribe("orders.eu", eu.handler(), eu.options());
  c.subscribe("orders.eu", same.handler(), same.options());
  c.connect();
  ASSERT_TRUE(eu.wait_statuses(1));
  ASSERT_TRUE(same.wait_statuses(1));
  publish_numbers(c, "orders.eu", 1, 2);
  publish_numbers(c, "orders.us", 1, 1);
  ASSERT_TRUE(all.wait_events(3));
  ASSERT_TRUE(eu.wait_events(2));
  ASSERT_TRUE(same.wait_events(2));
  EXPECT_TRUE(c.unsubscribe(eu_id));
  EXPECT_FALSE(c.unsubscribe(eu_id));
  publish_numbers(c, "orders.eu", 3, 3);
  ASSERT_TRUE(same.wait_events(3));  // the other subscription on the pattern goes on
  ASSERT_TRUE(all.wait_events(4));
  EXPECT_EQ(eu.event_count(), 2u);
  EXPECT_EQ(all.event_count(), 4u);
  EXPECT_EQ(numbers(same.copy_events()), range(1, 3));
}

// Publishes made while the server is down wait, are sent after the
// reconnect, and are acknowledged once each.
TEST(TopicClient, PublishesWaitForTheServerAndAreAcknowledgedOnce) {
  // Before the clients: handlers may run until a client is destroyed.
  TopicRecorder rec;
  auto first = std::make_unique<TestServer>();
  FaultProxy proxy(first->server->port());
  TopicClient c(proxy.url("/v1/ws"), fast_topic_options());
  c.subscribe("q", rec.handler(), rec.options());
  c.connect();
  ASSERT_TRUE(rec.wait_statuses(1));
  proxy.refuse(true);
  proxy.cut_all();
  first.reset();
  std::vector<std::future<client::PublishResult>> acks;
  for (int n = 1; n <= 5; ++n) acks.push_back(c.publish("q", json::object{{"n", n}}));
  EXPECT_EQ(c.pending_publishes(), 5u);
  TestServer second;
  proxy.set_target(second.server->port());
  proxy.refuse(false);
  for (std::size_t i = 0; i < acks.size(); ++i) {
    ASSERT_EQ(acks[i].wait_for(kWait), std::future_status::ready);
    const auto r = acks[i].get();
    ASSERT_TRUE(r.ok) << r.code << ": " << r.message;
    EXPECT_EQ(r.offset, i + 1);
  }
  // Resubscribed before the publishes went out: the subscriber sees all five.
  ASSERT_TRUE(rec.wait_events(5));
  EXPECT_EQ(numbers(rec.copy_events()), range(1, 5));
  EXPECT_EQ(c.pending_publishes(), 0u);
}

TEST(TopicClient, CloseCompletesUnacknowledgedPublishesAndRefusesNewOnes) {
  RawServer silent("", true);  // closes every connection: never open
  TopicClient c(inband_url(silent.port()), fast_topic_options());
  c.connect();
  std::atomic<int> callbacks{0};
  client::PublishResult seen;
  EXPECT_EQ(c.publish("t", json::value(1), {}, [&](const client::PublishResult& r) {
              seen = r;
              ++callbacks;
            }),
            client::SendStatus::queued);
  auto later = c.publish("t", json::value(2));
  c.close();
  EXPECT_EQ(callbacks.load(), 1);
  EXPECT_EQ(seen.code, "closed");
  ASSERT_EQ(later.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(later.get().code, "closed");
  EXPECT_EQ(c.publish("t", json::value(3), {}, [&](const client::PublishResult&) { ++callbacks; }),
            client::SendStatus::closed);
  c.close();  // twice is fine
  EXPECT_EQ(callbacks.load(), 1);
}

TEST(TopicClient, PendingPublishesAreBoundedInBytes) {
  RawServer silent("", true);
  auto o = fast_topic_options();
  o.max_pending_publish_bytes = 1024;
  TopicClient c(inband_url(silent.port()), o);
  const json::value big = json::string(std::string(2000, 'x'));
  EXPECT_EQ(c.publish("t", big, {}, [](const client::PublishResult&) {}), client::SendStatus::too_large);
  const json::value small = json::string(std::string(300, 'x'));
  int accepted = 0;
  while (c.publish("t", small, {}, [](const client::PublishResult&) {}) == client::SendStatus::queued) ++accepted;
  EXPECT_EQ(accepted, 2);
  auto refused = c.publish("t", small);
  EXPECT_EQ(refused.get().code, "queue full");
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

// SPEC §1.4/§1.8 for the topic layer: threads subscribe, unsubscribe and
// publish while handlers publish and unsubscribe; then close() from another
// thread: nothing deadlocks, every accepted publish completes exactly once,
// and no handler or callback runs after close() returned.
TEST(TopicClient, ConcurrentCallsFromThreadsAndHandlersThenNoCallbackAfterClose) {
  std::atomic<bool> closed{false};
  std::atomic<int> after_close{0}, events{0}, completions{0}, accepted{0};
  TestServer server;
  auto c = std::make_unique<TopicClient>(inband_url(server.server->port()),
                                         fast_topic_options());
  auto on_done = [&](const client::PublishResult&) {
    if (closed) ++after_close;
    ++completions;
  };
  c->subscribe("load.>", [&](const client::TopicEvent& e) {
    if (closed) ++after_close;
    if (++events % 10 == 0 && client::accepted(c->publish("load.echo", json::value(e.offset), {}, on_done))) ++accepted;
  });
  c->connect();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (client::accepted(c->publish("load.t" + std::to_string(t), json::value(i), {}, on_done))) ++accepted;
        if (i % 20 == 0) {
          const auto id = c->subscribe("load.t" + std::to_string(t), [&](const client::TopicEvent&) {
            if (closed) ++after_close;
          });
          if (i % 40 == 0) c->unsubscribe(id);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(Signal().wait([&] { return events.load() >= 400; })) << events.load();
  c->close();
  closed = true;
  EXPECT_EQ(completions.load(), accepted.load());  // acknowledged, or failed with "closed", each once
  c.reset();  // joins the client's thread
  EXPECT_EQ(after_close.load(), 0);
}

}  // namespace
}  // namespace sluice::test
