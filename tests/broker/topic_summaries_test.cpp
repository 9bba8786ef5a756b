// Broker::topic_summaries (GET /v1/topics, the /ui dashboard): pages in name
// order whatever the shards' order, each topic's position and history size.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sluice/broker/broker.hpp"

namespace sluice::broker {
namespace {

TEST(TopicSummaries, PagesWalkEveryTopicOnceInNameOrder) {
  Broker broker([](const EventPtr&) {});
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) names.push_back("t." + std::to_string(i * 7919 % 1000));
  std::shuffle(names.begin(), names.end(), std::mt19937(42));
  for (const auto& name : names) ASSERT_TRUE(broker.publish({name, "1", "", "", ""}));
  std::vector<std::string> seen;
  std::string cursor;
  for (;;) {
    const auto page = broker.topic_summaries(cursor, 37);
    ASSERT_LE(page.size(), 37u);
    for (const auto& t : page) seen.push_back(t.topic);
    if (page.size() < 37) break;
    cursor = page.back().topic;
  }
  std::vector<std::string> expected(names);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(seen, expected);
  EXPECT_TRUE(broker.topic_summaries("", 0).empty());
}

TEST(TopicSummaries, GiveOffsetsAndHistorySizes) {
  Broker broker([](const EventPtr&) {}, HistoryPolicy(HistoryLimits{3, 1 << 20, std::chrono::hours(1)}));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(broker.publish({"a", "{\"n\":1}", "", "", ""}));
  ASSERT_TRUE(broker.publish({"b", "2", "", "", ""}));
  const auto page = broker.topic_summaries("", 10);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].topic, "a");
  EXPECT_EQ(page[0].last_offset, 5u);
  EXPECT_EQ(page[0].history_events, 3u);  // the count bound
  EXPECT_GT(page[0].history_bytes, 3 * 7u);
  EXPECT_GT(page[0].last_event_ms, 0);
  EXPECT_EQ(page[0].epoch, broker.topic_info("a")->second);
  EXPECT_EQ(page[1].topic, "b");
  EXPECT_EQ(page[1].last_offset, 1u);
  EXPECT_EQ(broker.topic_summaries("a", 10).size(), 1u);
  EXPECT_TRUE(broker.topic_summaries("b", 10).empty());
}

}  // namespace
}  // namespace sluice::broker
