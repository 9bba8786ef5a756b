// Topics per server (SPEC §3 Security): a publish that would create a topic
// beyond Broker::max_topics() is refused with Error::too_many_topics.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sluice/broker/broker.hpp"

namespace sluice::broker {
namespace {

// publish_async's outcome (memory mode completes inline).
struct Outcome {
  EventPtr event;
  std::error_code error;
};
Outcome publish(Broker& broker, const std::string& topic) {
  Outcome out;
  broker.publish_async({topic, "1", "", "", ""}, [&out](EventPtr event, std::error_code ec) {
    out.event = std::move(event);
    out.error = ec;
  });
  return out;
}

TEST(BrokerTopicLimit, ANewTopicBeyondTheLimitIsRefused) {
  Broker broker([](const EventPtr&) {});
  EXPECT_EQ(broker.max_topics(), Broker::kDefaultMaxTopics);
  broker.set_max_topics(3);
  for (const char* topic : {"a", "b", "c"}) EXPECT_TRUE(publish(broker, topic).event) << topic;
  const auto refused = publish(broker, "d");
  EXPECT_FALSE(refused.event);
  EXPECT_EQ(refused.error, Error::too_many_topics);
  EXPECT_EQ(refused.error.category().name(), std::string("sluice.broker"));
  EXPECT_NE(refused.error.message().find("max-topics"), std::string::npos);
  // Existing topics go on; the refused one was not created.
  EXPECT_EQ(publish(broker, "a").event->offset, 2u);
  EXPECT_FALSE(broker.topic_info("d"));
  EXPECT_FALSE(broker.publish({"e", "1", "", "", ""}));
  EXPECT_EQ(broker.topic_count(), 3u);
  EXPECT_EQ(broker.topics_refused(), 2u);
  EXPECT_EQ(broker.published(), 4u);
  // Raising the limit makes room.
  broker.set_max_topics(4);
  EXPECT_TRUE(publish(broker, "d").event);
  EXPECT_EQ(broker.topic_count(), 4u);
}

TEST(BrokerTopicLimit, ZeroMeansNoLimit) {
  Broker broker([](const EventPtr&) {});
  broker.set_max_topics(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(publish(broker, "t." + std::to_string(i)).event) << i;
  EXPECT_EQ(broker.topic_count(), 1000u);
  EXPECT_EQ(broker.topics_refused(), 0u);
}

// Topics the store brings back at start count, and are never refused: the
// limit only stops publishes from creating more.
TEST(BrokerTopicLimit, RestoredTopicsCountButAreNeverRefused) {
  Broker broker([](const EventPtr&) {});
  broker.set_max_topics(2);
  std::vector<store::TopicPosition> positions;
  for (const char* topic : {"r.a", "r.b", "r.c"}) positions.push_back({topic, "epoch", 5});
  std::vector<store::StoredEvent> recent;
  store::StoredEvent e;
  e.id = "evt_x";
  e.topic = "r.d";  // a topic known only from its events
  e.offset = 1;
  e.epoch = "epoch";
  e.data = "1";
  recent.push_back(e);
  broker.restore(positions, recent);
  EXPECT_EQ(broker.topic_count(), 4u);
  EXPECT_EQ(publish(broker, "r.a").event->offset, 6u);
  EXPECT_EQ(publish(broker, "new").error, Error::too_many_topics);
}

// Threads creating distinct topics at once: exactly max_topics are created,
// across shards, and every other attempt is refused.
TEST(BrokerTopicLimit, ConcurrentCreatorsNeverPassTheLimit) {
  Broker broker([](const EventPtr&) {});
  broker.set_max_topics(100);
  constexpr int kThreads = 4;
  constexpr int kTopics = 200;
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTopics; ++i) {
        if (publish(broker, "c." + std::to_string(t) + "." + std::to_string(i)).event) created.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(created.load(), 100);
  EXPECT_EQ(broker.topic_count(), 100u);
  EXPECT_EQ(broker.topics_refused(), static_cast<std::uint64_t>(kThreads * kTopics - 100));
}

}  // namespace
}  // namespace sluice::broker
