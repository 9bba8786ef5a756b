// FanoutShared: the slowest thread's progress, and the publisher's wake-up
// when another load thread's subscribers catch up (no wake-up lost, none
// sent while the publisher is not waiting).
#include <gtest/gtest.h>
#include <poll.h>

#include <thread>

#include "fanout_shared.hpp"

namespace sluice::bench {
namespace {

bool woken(Wakeup& wakeup, int timeout_ms = 0) {
  pollfd p{wakeup.fd(), POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  wakeup.drain();
  return true;
}

TEST(FanoutShared, SumsAndSlowestThread) {
  FanoutShared shared(3);
  shared.progress(0).subscribed.store(4);
  shared.progress(2).subscribed.store(5);
  shared.progress(1).synced.store(2);
  EXPECT_EQ(shared.subscribed(), 9u);
  EXPECT_EQ(shared.synced(), 2u);
  shared.completed(0, 7, false);
  shared.completed(1, 3, true);
  shared.completed(2, 9, true);
  EXPECT_EQ(shared.complete(), 3u);
  EXPECT_FALSE(woken(shared.wakeup));  // the publisher was not waiting
}

TEST(FanoutShared, WakesTheWaitingPublisherOnce) {
  FanoutShared shared(2);
  ASSERT_TRUE(shared.publisher_may_sleep(0));
  shared.completed(0, 1, false);  // the publisher's own thread: no wake-up needed
  EXPECT_FALSE(woken(shared.wakeup));
  shared.completed(1, 1, true);
  EXPECT_TRUE(woken(shared.wakeup));
  shared.completed(1, 2, true);  // woken already: no second call until it waits again
  EXPECT_FALSE(woken(shared.wakeup));
}

TEST(FanoutShared, ProgressMadeWhileGoingToSleepIsSeen) {
  FanoutShared shared(2);
  shared.completed(0, 5, false);
  shared.completed(1, 4, true);
  EXPECT_FALSE(shared.publisher_may_sleep(3));  // it moved past 3 meanwhile: publish on
  EXPECT_TRUE(shared.publisher_may_sleep(4));
}

TEST(FanoutShared, AnotherThreadWakesTheSleeper) {
  FanoutShared shared(2);
  shared.completed(0, 100, false);
  std::thread subscribers([&] {
    for (std::uint64_t seq = 1; seq <= 100; ++seq) shared.completed(1, seq, true);
  });
  // Wait for complete() == 100 as the publisher does: sleep only when told it may.
  std::uint64_t seen = shared.complete();
  while (seen < 100) {
    if (shared.publisher_may_sleep(seen)) {
      ASSERT_TRUE(woken(shared.wakeup, 10'000)) << "lost wake-up at " << seen;
    }
    seen = shared.complete();
  }
  subscribers.join();
}

}  // namespace
}  // namespace sluice::bench
