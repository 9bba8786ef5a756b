// Deadlines: one timer per loop for many entries, one FIFO lane per duration.
// Every armed entry fires once, not before its time, in deadline order;
// re-arming replaces the earlier arm; a cancelled entry never fires.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "sluice/net/deadlines.hpp"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Probe : Deadlines::Entry {
  int id = 0;
  std::vector<int>* fired = nullptr;
  Clock::time_point armed_at{};
  std::chrono::milliseconds after{};
  Clock::duration late_by{};  // how long after its deadline it fired (negative: early)
  std::function<void(Probe&)> then;
  void on_deadline() override {
    late_by = Clock::now() - (armed_at + after);
    fired->push_back(id);
    if (then) then(*this);
  }
};

void arm(Deadlines& d, Probe& p, std::chrono::milliseconds after) {
  p.armed_at = Clock::now();
  p.after = after;
  d.arm(p, after);
}

TEST(NetDeadlines, EntriesOfSeveralDurationsFireOnceInDeadlineOrder) {
  boost::asio::io_context io;
  auto& deadlines = Deadlines::of(io);
  std::vector<int> fired;
  std::vector<std::unique_ptr<Probe>> probes;
  // Durations interleaved so that lanes' heads alternate in the global order.
  const std::vector<std::chrono::milliseconds> afters = {60ms, 20ms, 40ms, 20ms, 60ms, 40ms, 1ms};
  for (std::size_t i = 0; i < afters.size(); ++i) {
    probes.push_back(std::make_unique<Probe>());
    probes.back()->id = static_cast<int>(i);
    probes.back()->fired = &fired;
    arm(deadlines, *probes.back(), afters[i]);
  }
  EXPECT_EQ(deadlines.size(), afters.size());
  io.run();  // returns when nothing is armed any more
  EXPECT_EQ(fired, (std::vector<int>{6, 1, 3, 2, 5, 0, 4}));
  for (const auto& p : probes) {
    EXPECT_GE(p->late_by, Clock::duration::zero()) << "entry " << p->id << " fired early";
    EXPECT_FALSE(p->armed());
  }
  EXPECT_EQ(deadlines.size(), 0u);
}

TEST(NetDeadlines, RearmReplacesAndCancelPreventsFiring) {
  boost::asio::io_context io;
  auto& deadlines = Deadlines::of(io);
  std::vector<int> fired;
  Probe moved, cancelled, kept;
  moved.id = 1, cancelled.id = 2, kept.id = 3;
  moved.fired = cancelled.fired = kept.fired = &fired;
  arm(deadlines, moved, 5ms);
  arm(deadlines, cancelled, 5ms);
  arm(deadlines, kept, 30ms);
  arm(deadlines, moved, 50ms);  // replaces its 5 ms arm: fires once, after `kept`
  Deadlines::cancel(cancelled);
  Deadlines::cancel(cancelled);  // twice is harmless
  EXPECT_FALSE(cancelled.armed());
  EXPECT_EQ(deadlines.size(), 2u);
  io.run();
  EXPECT_EQ(fired, (std::vector<int>{3, 1}));
  EXPECT_GE(moved.late_by, Clock::duration::zero());
}

TEST(NetDeadlines, CancellingTheLastEntryLeavesNoWorkSoRunReturns) {
  boost::asio::io_context io;
  auto& deadlines = Deadlines::of(io);
  std::vector<int> fired;
  Probe a, b;
  a.fired = b.fired = &fired;
  arm(deadlines, a, 1h);
  arm(deadlines, b, 2h);
  arm(deadlines, b, 3h);  // re-arming keeps the wait
  Deadlines::cancel(a);
  Deadlines::cancel(b);
  // A client that ran its loop to completion must get run() back when its
  // connection closed, not when a cancelled timeout would have passed.
  io.run_for(10s);
  EXPECT_TRUE(io.stopped()) << "a pending wait outlived every entry";
  EXPECT_TRUE(fired.empty());
}

TEST(NetDeadlines, AnEntryMayRearmItselfAndOthersFromItsCallback) {
  boost::asio::io_context io;
  auto& deadlines = Deadlines::of(io);
  std::vector<int> fired;
  Probe ticker, other;
  ticker.id = 1, other.id = 2;
  ticker.fired = other.fired = &fired;
  int ticks = 0;
  ticker.then = [&](Probe& self) {
    if (++ticks < 3) arm(deadlines, self, 10ms);       // a keep-alive tick re-arms itself
    if (ticks == 1) arm(deadlines, other, 25ms);       // a new duration: a new lane mid-expiry
  };
  arm(deadlines, ticker, 10ms);
  io.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 1, 1, 2}));
  EXPECT_EQ(ticks, 3);
}

TEST(NetDeadlines, DestroyedEntryLeavesItsLaneAndShutdownDetachesTheRest) {
  std::vector<int> fired;
  auto outlives = std::make_unique<Probe>();
  outlives->fired = &fired;
  {
    boost::asio::io_context io;
    auto& deadlines = Deadlines::of(io);
    {
      Probe gone;
      gone.fired = &fired;
      arm(deadlines, gone, 1ms);
      arm(deadlines, *outlives, 1h);
    }  // `gone` unlinks itself; the lane's other entry stays intact
    EXPECT_EQ(deadlines.size(), 1u);
    io.run_for(20ms);
    EXPECT_TRUE(fired.empty());
    EXPECT_TRUE(outlives->armed());
  }  // the io_context goes first: its entries are detached, never fired
  EXPECT_FALSE(outlives->armed());
  outlives.reset();  // and destroying one later touches nothing freed
  EXPECT_TRUE(fired.empty());
}

}  // namespace
}  // namespace sluice::net
