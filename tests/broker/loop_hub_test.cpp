// LoopHub delivery (SPEC §3 pub/sub): every matching subscriber gets each
// event once and in order, whether events come one by one or in a batch whose
// same-topic runs are handed over as one unit.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/broker/loop_hub.hpp"

namespace sluice::broker {
namespace {

EventPtr event(std::string topic, std::uint64_t offset) {
  const std::string id = "evt_" + std::to_string(offset);
  const std::string data = "{\"n\":" + std::to_string(offset) + "}";
  return make_event({id, topic, offset, "00000000000000aa", "", "", 1'795'000'000'000, data});
}

// Records what reached it as "topic/offset", and the bytes it would send.
class Recorder : public LoopHub::Subscriber {
 public:
  explicit Recorder(bool takes_runs) : takes_runs_(takes_runs) {}
  void deliver(const EventPtr& e) override {
    seen.push_back(e->topic + "/" + std::to_string(e->offset));
    wire += *e->frame;
  }
  void deliver_run(EventRun& run) override {
    if (!takes_runs_) return LoopHub::Subscriber::deliver_run(run);
    ++runs;
    for (const auto& e : run.events()) seen.push_back(e->topic + "/" + std::to_string(e->offset));
    wire += *run.joined_frames();
    joined.push_back(run.joined_frames());
  }
  std::vector<std::string> seen;
  std::string wire;
  int runs = 0;
  std::vector<std::shared_ptr<const std::string>> joined;

 private:
  bool takes_runs_;
};

std::string frames_of(const std::vector<EventPtr>& events) {
  std::string out;
  for (const auto& e : events) out += *e->frame;
  return out;
}

TEST(LoopHub, BatchKeepsOrderAcrossTopicsAndJoinsOnlySameTopicRuns) {
  LoopHub hub;
  Recorder both(true), orders_only(true), one_by_one(false);
  ASSERT_TRUE(hub.subscribe("orders.*", &both));
  ASSERT_TRUE(hub.subscribe("users.new", &both));
  ASSERT_TRUE(hub.subscribe("orders.eu", &orders_only));
  ASSERT_TRUE(hub.subscribe(">", &one_by_one));

  const std::vector<EventPtr> batch = {event("orders.eu", 1), event("orders.eu", 2), event("users.new", 1),
                                       event("orders.eu", 3), event("orders.us", 1), event("orders.us", 2),
                                       event("orders.us", 3)};
  hub.deliver_batch(batch);

  EXPECT_EQ(both.seen, (std::vector<std::string>{"orders.eu/1", "orders.eu/2", "users.new/1", "orders.eu/3",
                                                 "orders.us/1", "orders.us/2", "orders.us/3"}));
  EXPECT_EQ(both.wire, frames_of(batch));  // same bytes, same order as event by event
  EXPECT_EQ(both.runs, 2);                 // orders.eu 1-2 and orders.us 1-3; the rest one by one
  EXPECT_EQ(orders_only.seen, (std::vector<std::string>{"orders.eu/1", "orders.eu/2", "orders.eu/3"}));
  EXPECT_EQ(one_by_one.seen, both.seen);
  EXPECT_EQ(one_by_one.wire, both.wire);
  EXPECT_EQ(one_by_one.runs, 0);
  // A run's joined frames are built once and shared by every subscriber that takes them.
  ASSERT_EQ(orders_only.joined.size(), 1u);
  EXPECT_EQ(orders_only.joined[0].get(), both.joined[0].get());
}

TEST(LoopHub, SubscriberMatchedByTwoPatternsGetsARunOnce) {
  LoopHub hub;
  Recorder twice(true);
  ASSERT_TRUE(hub.subscribe("orders.*", &twice));
  ASSERT_TRUE(hub.subscribe("orders.>", &twice));
  ASSERT_TRUE(hub.subscribe("orders.eu", &twice));
  const std::vector<EventPtr> batch = {event("orders.eu", 1), event("orders.eu", 2), event("orders.eu", 3)};
  hub.deliver_batch(batch);
  hub.deliver(event("orders.eu", 4));
  EXPECT_EQ(twice.seen, (std::vector<std::string>{"orders.eu/1", "orders.eu/2", "orders.eu/3", "orders.eu/4"}));
  EXPECT_EQ(twice.runs, 1);
}

TEST(LoopHub, RunReachesNoSubscriberOfOtherTopics) {
  LoopHub hub;
  Recorder other(true);
  ASSERT_TRUE(hub.subscribe("users.*", &other));
  const std::vector<EventPtr> batch = {event("orders.eu", 1), event("orders.eu", 2)};
  hub.deliver_batch(batch);
  hub.deliver_batch({});
  EXPECT_TRUE(other.seen.empty());
  EXPECT_EQ(other.runs, 0);
}

}  // namespace
}  // namespace sluice::broker
