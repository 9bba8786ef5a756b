// The pool that keeps connections and sessions side by side (idle memory):
// blocks are distinct, aligned and reused; objects built in them are
// destroyed; blocks taken and given back on several threads never overlap.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sluice/util/block_pool.hpp"

namespace sluice::test {
namespace {

struct alignas(16) Sized {
  std::uint8_t bytes[328];
};

TEST(BlockPool, GivesDistinctAlignedBlocksAndReusesAFreedOne) {
  util::BlockPool pool(sizeof(Sized));
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(pool.take());  // several slabs
  std::set<std::uintptr_t> addresses;
  for (void* b : blocks) {
    const auto at = reinterpret_cast<std::uintptr_t>(b);
    EXPECT_EQ(at % alignof(Sized), 0u);
    addresses.insert(at);
  }
  ASSERT_EQ(addresses.size(), blocks.size());
  // No two blocks overlap.
  for (auto it = addresses.begin(); std::next(it) != addresses.end(); ++it) {
    ASSERT_GE(*std::next(it) - *it, sizeof(Sized));
  }
  void* freed = blocks[500];
  pool.give(freed);
  EXPECT_EQ(pool.take(), freed);
  for (void* b : blocks) pool.give(b);
}

struct Counted {
  static inline std::atomic<int> alive{0};
  explicit Counted(int v) : value(v) { ++alive; }
  ~Counted() { --alive; }
  int value;
  char padding[100] = {};
};

TEST(BlockPool, SharedObjectsAndMapNodesAreBuiltAndDestroyedInPooledBlocks) {
  {
    auto a = std::allocate_shared<Counted>(util::PooledAllocator<Counted>{}, 1);
    auto b = std::allocate_shared<Counted>(util::PooledAllocator<Counted>{}, 2);
    EXPECT_EQ(a->value + b->value, 3);
    EXPECT_EQ(Counted::alive.load(), 2);
    std::weak_ptr<Counted> weak = a;
    a.reset();
    EXPECT_TRUE(weak.expired());
    EXPECT_EQ(Counted::alive.load(), 1);
  }
  EXPECT_EQ(Counted::alive.load(), 0);

  std::unordered_map<int, Counted, std::hash<int>, std::equal_to<int>,
                     util::PooledAllocator<std::pair<const int, Counted>>>
      map;
  for (int i = 0; i < 500; ++i) map.try_emplace(i, i);  // buckets grow (arrays: operator new)
  EXPECT_EQ(Counted::alive.load(), 500);
  for (int i = 0; i < 500; i += 2) map.erase(i);
  EXPECT_EQ(map.size(), 250u);
  EXPECT_EQ(map.at(7).value, 7);
  map.clear();
  EXPECT_EQ(Counted::alive.load(), 0);
}

TEST(BlockPool, BlocksTakenAndGivenOnSeveralThreadsNeverOverlap) {
  util::BlockPool pool(64);
  constexpr int kThreads = 4, kRounds = 2000, kHeld = 16;
  std::vector<std::thread> threads;
  std::atomic<int> overlaps{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&pool, &overlaps, t] {
      std::vector<std::uint64_t*> held;
      for (int round = 0; round < kRounds; ++round) {
        auto* block = static_cast<std::uint64_t*>(pool.take());
        // Stamp the whole block: another thread holding it would see its stamp change.
        const std::uint64_t stamp = (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint64_t>(round);
        std::fill(block, block + 8, stamp);
        held.push_back(block);
        if (held.size() == kHeld) {
          for (auto* b : held) {
            if (std::any_of(b, b + 8, [&](std::uint64_t v) { return v >> 32 != static_cast<std::uint64_t>(t); })) {
              ++overlaps;
            }
            pool.give(b);
          }
          held.clear();
        }
      }
      for (auto* b : held) pool.give(b);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(overlaps.load(), 0);
}

}  // namespace
}  // namespace sluice::test
