// LoopHub and FanOut delivery (SPEC §3 pub/sub): every matching subscriber gets each
// event once and in order, whether events come one by one or in a batch whose
// same-topic runs are handed over as one unit.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "sluice/broker/fan_out.hpp"
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
  void missed(std::uint64_t count) override { seen.push_back("missed " + std::to_string(count)); }
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


TEST(FanOut, OverItsBoundTheMailboxRefusesUntilDrainedAndSubscribersHearOfTheHoleAfterWhatCameBefore) {
  const auto first = event("orders.eu", 1);
  FanOut fan_out(first->frame->size() * 2);  // room for two events
  Recorder orders(false), users(false);
  ASSERT_TRUE(fan_out.hub().subscribe("orders.*", &orders));
  ASSERT_TRUE(fan_out.hub().subscribe("users.*", &users));
  EXPECT_TRUE(fan_out.offer(first));                       // empty: the caller posts a drain
  EXPECT_FALSE(fan_out.offer(event("orders.eu", 2)));      // a drain is pending
  EXPECT_FALSE(fan_out.offer(event("orders.eu", 3)));      // over the bound: refused
  EXPECT_FALSE(fan_out.offer(event("users.x", 1)));        // refused too: nothing passes a hole
  std::size_t observed = 0;
  fan_out.drain([&](std::span<const EventPtr> batch) { observed = batch.size(); });
  EXPECT_EQ(observed, 2u);
  EXPECT_EQ(orders.seen, (std::vector<std::string>{"orders.eu/1", "orders.eu/2", "missed 1"}));
  EXPECT_EQ(users.seen, (std::vector<std::string>{"missed 1"}));
  EXPECT_EQ(fan_out.missed_total(), 2u);
  // Drained: accepted again, and the hole is reported once.
  EXPECT_TRUE(fan_out.offer(event("orders.eu", 4)));
  fan_out.drain([](std::span<const EventPtr>) {});
  EXPECT_EQ(orders.seen.back(), "orders.eu/4");
  EXPECT_EQ(orders.seen.size(), 4u);
}

TEST(FanOut, ASingleEventLargerThanTheBoundStillPassesAlone) {
  FanOut fan_out(1);
  Recorder r(false);
  ASSERT_TRUE(fan_out.hub().subscribe(">", &r));
  EXPECT_TRUE(fan_out.offer(event("a", 1)));
  fan_out.drain([](std::span<const EventPtr>) {});
  EXPECT_EQ(r.seen, (std::vector<std::string>{"a/1"}));
}

TEST(LoopMailbox, ManyThreadsPushOneDrainsEverythingInEachThreadsOrder) {
  net::LoopMailbox<std::pair<int, int>> mailbox;
  constexpr int kThreads = 4, kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) (void)mailbox.push({t, i}, 1);
    });
  }
  std::vector<std::pair<int, int>> all, batch;
  std::vector<int> next(kThreads, 0);
  while (all.size() < static_cast<std::size_t>(kThreads * kEach)) {
    mailbox.drain(batch);
    for (const auto& [t, i] : batch) {
      ASSERT_EQ(i, next[t]++);
      all.emplace_back(t, i);
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mailbox.bytes(), 0u);
}

}  // namespace
}  // namespace sluice::broker
