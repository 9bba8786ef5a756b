#include "sluice/limits/keyed_rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sluice::limits {
namespace {

struct FakeClock {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(5'000'000);
  KeyedRateLimiter::Clock clock() const {
    return [n = now] { return n->load(); };
  }
  void advance(std::int64_t ms) { now->fetch_add(ms); }
};

// Takes tokens until refused; returns how many were allowed (at most `cap`).
int drain(KeyedRateLimiter& limiter, const std::string& key, int cap = 1000) {
  int allowed = 0;
  while (allowed < cap && limiter.acquire(key)) ++allowed;
  return allowed;
}

TEST(KeyedRateLimiter, OffAllowsEverythingAndTracksNothing) {
  for (double rate : {0.0, -1.0, std::nan("")}) {
    KeyedRateLimiter limiter({rate, 5, 10});
    EXPECT_FALSE(limiter.enabled());
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.acquire("10.0.0.1"));
    EXPECT_EQ(limiter.tracked(), 0u);
    EXPECT_EQ(limiter.refused(), 0u);
  }
}

TEST(KeyedRateLimiter, BurstThenRefusedWithRetryAfterThenRefills) {
  FakeClock clock;
  KeyedRateLimiter limiter({2, 3, 100}, clock.clock());
  EXPECT_EQ(drain(limiter, "a"), 3);
  const auto refused = limiter.acquire("a");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 1);
  EXPECT_EQ(limiter.refused(), 2u);  // drain's last try and this one
  // Another key has its own bucket.
  EXPECT_EQ(drain(limiter, "b"), 3);
  // Half a second at 2/s refills one token.
  clock.advance(500);
  EXPECT_TRUE(limiter.acquire("a"));
  EXPECT_FALSE(limiter.acquire("a"));
  // A long pause refills up to the burst, not beyond.
  clock.advance(3'600'000);
  EXPECT_EQ(drain(limiter, "a"), 3);
}

TEST(KeyedRateLimiter, ReconfigureTurnsOnChangesAndTurnsOff) {
  FakeClock clock;
  KeyedRateLimiter limiter({0, 0, 100}, clock.clock());
  EXPECT_EQ(drain(limiter, "a", 50), 50);  // off
  limiter.reconfigure({1, 2});
  EXPECT_TRUE(limiter.enabled());
  EXPECT_EQ(drain(limiter, "a"), 2);  // a new bucket starts full at the new burst
  // A bigger burst does not hand out tokens at once; the bucket refills to it.
  limiter.reconfigure({10, 5});
  clock.advance(1000);
  EXPECT_EQ(drain(limiter, "a"), 5);
  // A smaller burst caps what a bucket holds.
  clock.advance(60'000);
  limiter.reconfigure({10, 1});
  EXPECT_EQ(drain(limiter, "a"), 1);
  limiter.reconfigure({0, 0});
  EXPECT_FALSE(limiter.enabled());
  EXPECT_EQ(drain(limiter, "a", 50), 50);
}

TEST(KeyedRateLimiter, ReconfigureWhileAcquiringFromOtherThreads) {
  KeyedRateLimiter limiter({1000, 10, 100});
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      while (!stop.load()) (void)limiter.acquire("k" + std::to_string(t));
    });
  }
  for (int i = 0; i < 2000; ++i) limiter.reconfigure({i % 2 ? 0.0 : 1000.0, static_cast<double>(i % 7)});
  stop = true;
  for (auto& thread : threads) thread.join();
  limiter.reconfigure({5, 5});
  EXPECT_EQ(limiter.burst(), 5);
  EXPECT_EQ(limiter.per_second(), 5);
}

TEST(KeyedRateLimiter, DefaultBurstIsTheRateAndAtLeastOne) {
  FakeClock clock;
  KeyedRateLimiter five({5, 0, 100}, clock.clock());
  EXPECT_EQ(five.burst(), 5);
  EXPECT_EQ(drain(five, "k"), 5);
  KeyedRateLimiter slow({0.5, 0, 100}, clock.clock());
  EXPECT_EQ(slow.burst(), 1);
  EXPECT_EQ(drain(slow, "k"), 1);
  // A burst below one token would never admit anything: it counts as one.
  KeyedRateLimiter tiny({10, 0.25, 100}, clock.clock());
  EXPECT_EQ(drain(tiny, "k"), 1);
}

TEST(KeyedRateLimiter, RetryAfterRoundsUpToWholeSecondsAndIsCapped) {
  FakeClock clock;
  KeyedRateLimiter limiter({0.2, 1, 100}, clock.clock());  // one per 5 s
  EXPECT_TRUE(limiter.acquire("k"));
  EXPECT_EQ(limiter.acquire("k").retry_after_s, 5);
  clock.advance(2'500);  // half a token back: 2.5 s to go, said as 3
  EXPECT_EQ(limiter.acquire("k").retry_after_s, 3);
  KeyedRateLimiter glacial({1e-12, 1, 100}, clock.clock());
  EXPECT_TRUE(glacial.acquire("k"));
  EXPECT_EQ(glacial.acquire("k").retry_after_s, 86'400);
}

TEST(KeyedRateLimiter, AClockSteppingBackRefillsNothing) {
  FakeClock clock;
  KeyedRateLimiter limiter({1, 1, 100}, clock.clock());
  EXPECT_TRUE(limiter.acquire("k"));
  clock.advance(-60'000);
  EXPECT_FALSE(limiter.acquire("k"));
  clock.advance(60'000);  // back where it was: still nothing earned
  EXPECT_FALSE(limiter.acquire("k"));
  clock.advance(1'000);
  EXPECT_TRUE(limiter.acquire("k"));
}

TEST(KeyedRateLimiter, TheTableStaysBounded) {
  FakeClock clock;
  KeyedRateLimiter limiter({1, 1, 8}, clock.clock());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(limiter.acquire("10.1." + std::to_string(i))) << i;  // a new key starts full
    EXPECT_LE(limiter.tracked(), 8u);
    if (i % 10 == 0) clock.advance(100);
  }
}

// When the table is full, keys whose buckets have refilled go first: a
// client being limited keeps its (empty) bucket.
TEST(KeyedRateLimiter, SweepForgetsRefilledKeysAndKeepsLimitedOnes) {
  FakeClock clock;
  KeyedRateLimiter limiter({1, 5, 3}, clock.clock());
  EXPECT_TRUE(limiter.acquire("x"));
  EXPECT_TRUE(limiter.acquire("y"));
  clock.advance(1'000);  // x and y are full again
  EXPECT_EQ(drain(limiter, "hot"), 5);
  EXPECT_EQ(limiter.tracked(), 3u);
  EXPECT_TRUE(limiter.acquire("z"));  // full table: x and y are swept
  EXPECT_EQ(limiter.tracked(), 2u);
  EXPECT_FALSE(limiter.acquire("hot"));
}

// Sweeps walk the table at most once a second; in between, a full table
// forgets an arbitrary key instead.
TEST(KeyedRateLimiter, AFullTableOfLimitedKeysEvictsOne) {
  FakeClock clock;
  KeyedRateLimiter limiter({1, 1, 2}, clock.clock());
  EXPECT_TRUE(limiter.acquire("a"));
  EXPECT_TRUE(limiter.acquire("b"));
  EXPECT_TRUE(limiter.acquire("c"));  // nothing refilled: one of a, b goes
  EXPECT_EQ(limiter.tracked(), 2u);
  EXPECT_TRUE(limiter.acquire("d"));
  EXPECT_EQ(limiter.tracked(), 2u);
}

// Many threads on one key with a frozen clock: exactly `burst` get through.
TEST(KeyedRateLimiter, ConcurrentAcquiresNeverOverspend) {
  FakeClock clock;
  KeyedRateLimiter limiter({1, 100, 1000}, clock.clock());
  constexpr int kThreads = 4;
  constexpr int kTries = 1000;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&limiter, &allowed, t] {
      for (int i = 0; i < kTries; ++i) {
        if (limiter.acquire("shared")) allowed.fetch_add(1);
        (void)limiter.acquire("own." + std::to_string(t));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed.load(), 100);
  // The shared key refused all but 100 of its tries; each own key all but 100 of its.
  EXPECT_EQ(limiter.refused(), static_cast<std::uint64_t>(kThreads * kTries - 100 + kThreads * (kTries - 100)));
  EXPECT_EQ(limiter.tracked(), 1u + kThreads);
}

}  // namespace
}  // namespace sluice::limits
