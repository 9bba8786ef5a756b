// BackoffPolicy: bounds, floor, jitter spread, reset, and no overflow at any
// attempt number (SPEC §1.7).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <set>

#include "sluice/client/backoff.hpp"

namespace {

using sluice::client::BackoffOptions;
using sluice::client::BackoffPolicy;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr std::uint32_t kMaxAttempt = std::numeric_limits<std::uint32_t>::max();

TEST(Backoff, DefaultsAre500msTo20sFactor2) {
  BackoffOptions o;
  EXPECT_EQ(o.floor, 500ms);
  EXPECT_EQ(o.max, 20s);
  EXPECT_EQ(o.factor, 2.0);
  EXPECT_EQ(o.validate(), "");
}

TEST(Backoff, CeilingGrowsByTheFactorFromTheFloorUpToMax) {
  BackoffPolicy p({500ms, 20s, 2.0}, 1);
  EXPECT_EQ(p.ceiling(0), 500ms);
  EXPECT_EQ(p.ceiling(1), 1000ms);
  EXPECT_EQ(p.ceiling(2), 2000ms);
  EXPECT_EQ(p.ceiling(5), 16000ms);
  EXPECT_EQ(p.ceiling(6), 20s);  // 32 s capped
  EXPECT_EQ(p.ceiling(60), 20s);
  for (std::uint32_t a = 0; a < 100; ++a) EXPECT_LE(p.ceiling(a), p.ceiling(a + 1));
}

TEST(Backoff, EveryDelayIsWithinFloorAndCeiling) {
  BackoffPolicy p({500ms, 20s, 2.0}, 7);
  for (std::uint32_t attempt = 0; attempt < 64; ++attempt) {
    for (int i = 0; i < 200; ++i) {
      const auto d = p.delay(attempt);
      ASSERT_GE(d, 500ms) << "attempt " << attempt;
      ASSERT_LE(d, p.ceiling(attempt)) << "attempt " << attempt;
      ASSERT_LE(d, 20s);
    }
  }
}

TEST(Backoff, NoOverflowAtHugeAttemptNumbers) {
  BackoffPolicy p({500ms, 20s, 2.0}, 3);
  for (std::uint32_t attempt : {1'000u, 10'000u, 1'000'000u, kMaxAttempt - 1, kMaxAttempt}) {
    EXPECT_EQ(p.ceiling(attempt), 20s) << attempt;
    for (int i = 0; i < 100; ++i) {
      const auto d = p.delay(attempt);
      ASSERT_GE(d, 500ms) << attempt;
      ASSERT_LE(d, 20s) << attempt;
    }
  }
  // Extreme settings: a huge factor and a huge max still clamp, never wrap.
  BackoffPolicy wide({1ms, milliseconds(std::numeric_limits<milliseconds::rep>::max() / 2), 1e300}, 3);
  EXPECT_EQ(wide.ceiling(kMaxAttempt), milliseconds(std::numeric_limits<milliseconds::rep>::max() / 2));
  EXPECT_GE(wide.delay(kMaxAttempt), 1ms);
  EXPECT_EQ(wide.ceiling(0), 1ms);
}

TEST(Backoff, FactorOneIsAConstantFloor) {
  BackoffPolicy p({250ms, 10s, 1.0}, 5);
  for (std::uint32_t attempt : {0u, 1u, 10u, 10'000u, kMaxAttempt}) {
    EXPECT_EQ(p.ceiling(attempt), 250ms);
    EXPECT_EQ(p.delay(attempt), 250ms);
  }
}

TEST(Backoff, FullJitterSpreadsOverTheWholeRange) {
  BackoffPolicy p({500ms, 20s, 2.0}, 11);
  constexpr int kSamples = 20'000;
  double sum = 0;
  milliseconds low = 20s, high = 0ms;
  std::set<long long> buckets;  // tenths of the range
  for (int i = 0; i < kSamples; ++i) {
    const auto d = p.delay(10);  // range [500 ms, 20 s]
    sum += static_cast<double>(d.count());
    low = std::min(low, d);
    high = std::max(high, d);
    buckets.insert((d.count() - 500) * 10 / 19'501);
  }
  const double mean = sum / kSamples;
  EXPECT_NEAR(mean, (500.0 + 20'000.0) / 2, 20'000 * 0.03);  // uniform: the midpoint
  EXPECT_LT(low, 700ms);
  EXPECT_GT(high, 19'800ms);
  EXPECT_EQ(buckets.size(), 10u);  // every tenth of the range is hit
}

TEST(Backoff, FirstRetryIsAlreadyJittered) {
  // Attempt 1 draws from [floor, 2*floor]: a crowd does not reconnect in lock-step.
  BackoffPolicy p({500ms, 20s, 2.0}, 13);
  std::set<long long> seen;
  for (int i = 0; i < 200; ++i) seen.insert(p.delay(1).count());
  EXPECT_GT(seen.size(), 50u);
}

TEST(Backoff, NextCountsAttemptsAndResetStartsOver) {
  BackoffPolicy p({100ms, 10s, 2.0}, 17);
  EXPECT_EQ(p.attempts(), 0u);
  for (std::uint32_t i = 1; i <= 20; ++i) {
    const auto d = p.next();
    EXPECT_EQ(p.attempts(), i);
    EXPECT_GE(d, 100ms);
    EXPECT_LE(d, p.ceiling(i));
  }
  p.reset();
  EXPECT_EQ(p.attempts(), 0u);
  EXPECT_LE(p.next(), 200ms);  // attempt 1 again: at most 2 * floor
}

TEST(Backoff, SameSeedSameDelays) {
  BackoffPolicy a({500ms, 20s, 2.0}, 99), b({500ms, 20s, 2.0}, 99);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(Backoff, ValidateRejectsSettingsThatCouldSpinOrMisbehave) {
  EXPECT_NE(BackoffOptions({0ms, 20s, 2.0}).validate(), "");     // no floor: a tight loop
  EXPECT_NE(BackoffOptions({-5ms, 20s, 2.0}).validate(), "");
  EXPECT_NE(BackoffOptions({500ms, 100ms, 2.0}).validate(), ""); // max below floor
  EXPECT_NE(BackoffOptions({500ms, 20s, 0.5}).validate(), "");   // shrinking
  EXPECT_NE(BackoffOptions({500ms, 20s, std::numeric_limits<double>::infinity()}).validate(), "");
  EXPECT_NE(BackoffOptions({500ms, 20s, std::numeric_limits<double>::quiet_NaN()}).validate(), "");
  EXPECT_EQ(BackoffOptions({1ms, 1ms, 1.0}).validate(), "");
}

}  // namespace
