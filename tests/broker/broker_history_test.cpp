// Broker history bounds and what store retention learns from them:
// take_history_starts reports each topic whose history start moved (by
// count, bytes or age, or a restore), with the first offset a store keeps.
#include <gtest/gtest.h>

#include <map>

#include "sluice/broker/broker.hpp"

namespace sluice::broker {
namespace {

std::map<std::string, std::uint64_t> starts(Broker& broker, std::int64_t now_ms) {
  std::map<std::string, std::uint64_t> out;
  for (auto& [topic, keep_from] : broker.take_history_starts(now_ms)) out[topic] = keep_from;
  return out;
}

std::int64_t now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(BrokerHistory, CountBoundMovesTheStartAndIsReportedOnce) {
  HistoryLimits limits;
  limits.max_events = 3;
  Broker broker([](const EventPtr&) {}, limits);
  for (int i = 0; i < 3; ++i) broker.publish({"a", "1", "", "", ""});
  broker.publish({"b", "1", "", "", ""});
  EXPECT_TRUE(starts(broker, now()).empty());  // nothing dropped yet
  for (int i = 0; i < 5; ++i) broker.publish({"a", "1", "", "", ""});
  EXPECT_EQ(starts(broker, now()), (std::map<std::string, std::uint64_t>{{"a", 6}}));
  EXPECT_TRUE(starts(broker, now()).empty());  // reported once
  broker.mark_history_moved("a");              // e.g. the trim failed
  EXPECT_EQ(starts(broker, now()), (std::map<std::string, std::uint64_t>{{"a", 6}}));
  EXPECT_EQ(broker.history("a", 0, 100).size(), 3u);
}

TEST(BrokerHistory, AgeBoundAppliesAtTheSweepToIdleTopics) {
  HistoryLimits limits;
  limits.max_age = std::chrono::minutes(1);
  Broker broker([](const EventPtr&) {}, limits);
  for (int i = 0; i < 4; ++i) broker.publish({"idle", "1", "", "", ""});
  EXPECT_TRUE(starts(broker, now()).empty());
  // Two minutes later everything is too old: history empties, and the store
  // may drop everything committed (offsets 1..4).
  EXPECT_EQ(starts(broker, now() + 120'000), (std::map<std::string, std::uint64_t>{{"idle", 5}}));
  EXPECT_TRUE(broker.history("idle", 0, 100).empty());
  // Offsets continue; replay from before the trim is not recovered.
  EXPECT_EQ(broker.publish({"idle", "1", "", "", ""})->offset, 5u);
  ReplayRequest request;
  request.pattern = "idle";
  request.positions["idle"] = Position{2, {}};
  const auto replay = broker.replay(request);
  EXPECT_FALSE(replay.recovered);
  ASSERT_EQ(replay.events.size(), 1u);
  EXPECT_EQ(replay.events[0]->offset, 5u);
}

TEST(BrokerHistory, RestoredTopicsAreReportedSoTheStoreIsTrimmedToHistory) {
  HistoryLimits limits;
  limits.max_events = 2;
  Broker broker([](const EventPtr&) {}, limits);
  std::vector<store::StoredEvent> recent;
  for (std::uint64_t o = 8; o <= 10; ++o) {
    store::StoredEvent e;
    e.id = "evt_" + std::to_string(o);
    e.topic = "r";
    e.offset = o;
    e.epoch = "ep";
    e.time_ms = now();
    e.data = "1";
    recent.push_back(e);
  }
  // "r" has history 8..10 in the store (over the count bound); "gone" has
  // only its position (everything trimmed before).
  broker.restore({{"r", "ep", 10}, {"gone", "ep2", 7}}, recent);
  // History keeps the newest 2 of what the store gave: the store keeps 9 on.
  EXPECT_EQ(starts(broker, now()), (std::map<std::string, std::uint64_t>{{"gone", 8}, {"r", 9}}));
  EXPECT_EQ(broker.history("r", 0, 100).size(), 2u);
  EXPECT_EQ(broker.publish({"r", "1", "", "", ""})->offset, 11u);
  EXPECT_EQ(starts(broker, now()), (std::map<std::string, std::uint64_t>{{"r", 10}}));
  EXPECT_EQ(broker.publish({"gone", "1", "", "", ""})->offset, 8u);
}

}  // namespace
}  // namespace sluice::broker
