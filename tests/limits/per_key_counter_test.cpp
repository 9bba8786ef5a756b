#include "sluice/limits/per_key_counter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::limits {
namespace {

TEST(PerKeyCounter, RefusesOverTheMaximumPerKey) {
  PerKeyCounter counter(2);
  EXPECT_TRUE(counter.try_acquire("10.0.0.1"));
  EXPECT_TRUE(counter.try_acquire("10.0.0.1"));
  EXPECT_FALSE(counter.try_acquire("10.0.0.1"));
  EXPECT_EQ(counter.refused(), 1u);
  EXPECT_TRUE(counter.try_acquire("10.0.0.2"));  // another key is not affected
  EXPECT_EQ(counter.count("10.0.0.1"), 2u);
  EXPECT_EQ(counter.keys(), 2u);
  counter.release("10.0.0.1");
  EXPECT_TRUE(counter.try_acquire("10.0.0.1"));
  EXPECT_FALSE(counter.try_acquire("10.0.0.1"));
  EXPECT_EQ(counter.refused(), 2u);
}

TEST(PerKeyCounter, EntriesAreErasedAtZero) {
  PerKeyCounter counter(3);
  for (int i = 0; i < 1000; ++i) {
    const std::string ip = "10.2." + std::to_string(i);
    ASSERT_TRUE(counter.try_acquire(ip));
    counter.release(ip);
  }
  EXPECT_EQ(counter.keys(), 0u);
  EXPECT_EQ(counter.count("10.2.7"), 0u);
}

// A stray release (a double release, an unknown key) never makes room that
// was not taken.
TEST(PerKeyCounter, AReleaseOfNothingIsIgnored) {
  PerKeyCounter counter(1);
  counter.release("nobody");
  EXPECT_EQ(counter.keys(), 0u);
  EXPECT_TRUE(counter.try_acquire("a"));
  counter.release("a");
  counter.release("a");
  EXPECT_TRUE(counter.try_acquire("a"));
  EXPECT_FALSE(counter.try_acquire("a"));
}

TEST(PerKeyCounter, ZeroMeansNoLimitButStillCounts) {
  PerKeyCounter counter(0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(counter.try_acquire("a"));
  EXPECT_EQ(counter.keys(), 1u);
  EXPECT_EQ(counter.count("a"), 100u);
  for (int i = 0; i < 100; ++i) counter.release("a");
  EXPECT_EQ(counter.keys(), 0u);
  EXPECT_EQ(counter.refused(), 0u);
}

TEST(PerKeyCounter, ANewMaximumCountsWhatIsHeldAlready) {
  PerKeyCounter counter(0);
  auto first = counter.lease("a");
  auto second = counter.lease("a");
  auto third = counter.lease("a");
  counter.set_max_per_key(2);  // a reload: three held, two allowed
  EXPECT_FALSE(counter.lease("a"));
  EXPECT_TRUE(counter.lease("b"));
  first.release();
  second.release();
  EXPECT_TRUE(counter.lease("a"));  // one held (third): room for one more
  counter.set_max_per_key(0);
  auto fourth = counter.lease("a");
  auto fifth = counter.lease("a");
  EXPECT_TRUE(fourth && fifth);
  EXPECT_EQ(counter.count("a"), 3u);
}

TEST(PerKeyCounter, LeaseReleasesWhenItGoes) {
  PerKeyCounter counter(1);
  {
    auto lease = counter.lease("a");
    EXPECT_TRUE(lease);
    EXPECT_FALSE(counter.lease("a"));  // refused: an empty lease
    EXPECT_EQ(counter.refused(), 1u);
    PerKeyCounter::Lease moved = std::move(lease);
    EXPECT_TRUE(moved);
    EXPECT_EQ(counter.count("a"), 1u);
    PerKeyCounter::Lease other = counter.lease("b");
    other = std::move(moved);  // b is released, a moves over
    EXPECT_EQ(counter.count("b"), 0u);
    EXPECT_EQ(counter.count("a"), 1u);
    other.release();
    other.release();
    EXPECT_EQ(counter.count("a"), 0u);
    auto again = counter.lease("a");
    EXPECT_TRUE(again);
  }
  EXPECT_EQ(counter.keys(), 0u);
}

// Threads acquiring and releasing one key: at no moment do more than the
// maximum hold it, and everything is given back in the end.
TEST(PerKeyCounter, ConcurrentHoldersNeverExceedTheMaximum) {
  constexpr std::size_t kMax = 5;
  constexpr int kThreads = 8;
  constexpr int kRounds = 5000;
  PerKeyCounter counter(kMax);
  std::atomic<int> holding{0};
  std::atomic<int> most{0};
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        if (!counter.try_acquire("10.9.9.9")) continue;
        granted.fetch_add(1);
        const int now = holding.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        holding.fetch_sub(1);
        counter.release("10.9.9.9");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(most.load(), static_cast<int>(kMax));
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(static_cast<std::uint64_t>(granted.load()) + counter.refused(),
            static_cast<std::uint64_t>(kThreads) * kRounds);
  EXPECT_EQ(counter.keys(), 0u);
}

// Threads only acquiring: exactly the maximum succeed, the rest are counted.
TEST(PerKeyCounter, ConcurrentAcquiresGrantExactlyTheMaximum) {
  PerKeyCounter counter(300);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (counter.try_acquire("k")) granted.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), 300);
  EXPECT_EQ(counter.refused(), 500u);
  EXPECT_EQ(counter.count("k"), 300u);
}

TEST(IsLoopback, KnowsTheLoopbackAddresses) {
  for (const char* ip : {"127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::FFFF:127.0.0.2"}) {
    EXPECT_TRUE(is_loopback(ip)) << ip;
  }
  for (const char* ip : {"", "10.0.0.1", "128.0.0.1", "1.127.0.0", "::2", "::ffff:10.0.0.1", "2001:db8::1", "fe80::1"}) {
    EXPECT_FALSE(is_loopback(ip)) << ip;
  }
}

}  // namespace
}  // namespace sluice::limits
