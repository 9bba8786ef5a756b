// The broker as a shared engine's CommittedSink: events committed anywhere
// come in any order and possibly twice, and enter history and fan-out in
// offset order per topic, each once.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/broker/broker.hpp"

namespace sluice::broker {
namespace {

using Accepted = engine::CommittedSink::Accepted;

EventPtr event(std::uint64_t offset, const std::string& epoch = "e1", const std::string& topic = "t") {
  const std::string id = "evt_" + std::to_string(offset);
  return make_event({id, topic, offset, epoch, "", "", 1'000, "{}"});
}

struct Fixture {
  std::vector<std::uint64_t> delivered;
  Broker broker{[this](const EventPtr& e) { delivered.push_back(e->offset); }, HistoryPolicy{},
                static_cast<engine::Engine*>(nullptr)};
};

TEST(CommittedSink, OutOfOrderEventsAreDeliveredInOffsetOrder) {
  Fixture f;
  EXPECT_EQ(f.broker.committed(event(1)), Accepted::committed);
  EXPECT_EQ(f.broker.committed(event(3)), Accepted::waiting);
  EXPECT_EQ(f.broker.committed(event(4)), Accepted::waiting);
  EXPECT_EQ(f.delivered, (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(f.broker.committed(event(2)), Accepted::committed);
  EXPECT_EQ(f.delivered, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(f.broker.view("t").committed, 4u);
  EXPECT_EQ(f.broker.history("t", 0, 10).size(), 4u);
}

TEST(CommittedSink, DuplicatesAreDroppedOnce) {
  Fixture f;
  f.broker.committed(event(1));
  f.broker.committed(event(2));
  EXPECT_EQ(f.broker.committed(event(2)), Accepted::duplicate);
  EXPECT_EQ(f.broker.committed(event(1)), Accepted::duplicate);
  f.broker.committed(event(4));
  EXPECT_EQ(f.broker.committed(event(4)), Accepted::waiting);  // held once, not twice
  f.broker.committed(event(3));
  EXPECT_EQ(f.delivered, (std::vector<std::uint64_t>{1, 2, 3, 4}));
}

TEST(CommittedSink, ATopicFirstSeenLateWaitsForItsStart) {
  Fixture f;
  // Offsets 1..2 exist in the engine but this node has not read them yet.
  EXPECT_EQ(f.broker.committed(event(3)), Accepted::waiting);
  EXPECT_TRUE(f.delivered.empty());
  f.broker.committed(event(1));
  f.broker.committed(event(2));
  EXPECT_EQ(f.delivered, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(CommittedSink, SkipMovesPastWhatHistoryLostAndReleasesTheRest) {
  Fixture f;
  f.broker.committed(event(1));
  f.broker.committed(event(7));
  f.broker.committed(event(8));
  f.broker.skip("t", "e1", 6);  // 2..6 were trimmed from the engine's history
  EXPECT_EQ(f.delivered, (std::vector<std::uint64_t>{1, 7, 8}));
  EXPECT_EQ(f.broker.history("t", 0, 10).size(), 2u);  // history restarts after the hole
  f.broker.skip("t", "e1", 3);  // never backwards
  EXPECT_EQ(f.broker.view("t").committed, 8u);
  f.broker.skip("t", "other-epoch", 100);  // another epoch's skip changes nothing
  EXPECT_EQ(f.broker.view("t").committed, 8u);
  // A resume from offset 3 can no longer be honoured.
  ReplayRequest request;
  request.pattern = "t";
  request.positions["t"] = Position{3, "e1"};
  EXPECT_FALSE(f.broker.replay(request).recovered);
}

TEST(CommittedSink, SkipOfAnUnknownTopicCreatesItThere) {
  Fixture f;
  f.broker.skip("t", "e1", 5);
  EXPECT_EQ(f.broker.view("t").committed, 5u);
  EXPECT_EQ(f.broker.view("t").epoch, "e1");
  EXPECT_EQ(f.broker.committed(event(6)), Accepted::committed);
  EXPECT_EQ(f.delivered, (std::vector<std::uint64_t>{6}));
}

TEST(CommittedSink, ANewEpochRestartsTheTopic) {
  Fixture f;
  f.broker.committed(event(1));
  f.broker.committed(event(2));
  // The engine lost the topic (Redis restarted without its data): offsets start again.
  EXPECT_EQ(f.broker.committed(event(1, "e2")), Accepted::committed);
  EXPECT_EQ(f.delivered, (std::vector<std::uint64_t>{1, 2, 1}));
  EXPECT_EQ(f.broker.view("t").epoch, "e2");
  ASSERT_EQ(f.broker.history("t", 0, 10).size(), 1u);
  ReplayRequest request;
  request.pattern = "t";
  request.positions["t"] = Position{2, "e1"};
  EXPECT_FALSE(f.broker.replay(request).recovered);  // the old epoch's position is gone
}

TEST(CommittedSink, TopicsAreIndependent) {
  Fixture f;
  f.broker.committed(event(2, "e1", "a"));
  EXPECT_EQ(f.broker.committed(event(1, "e1", "b")), Accepted::committed);
  EXPECT_EQ(f.delivered, (std::vector<std::uint64_t>{1}));
}

}  // namespace
}  // namespace sluice::broker
