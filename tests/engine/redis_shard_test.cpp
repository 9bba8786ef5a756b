// Which Redis shard holds a topic: every node must agree, on every build and
// platform, so the choice is FNV-1a (64 bits) modulo the shard count, checked
// here against the published FNV-1a test vectors.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sluice/engine/redis_engine.hpp"

namespace sluice::engine {
namespace {

TEST(RedisShard, IsFnv1aOfTheTopicModuloTheShardCount) {
  // FNV-1a 64 of "" is 0xcbf29ce484222325, of "a" 0xaf63dc4c8601ec8c, of
  // "foobar" 0x85944171f73967e8 (the FNV reference test vectors).
  constexpr std::uint64_t empty = 0xcbf29ce484222325ULL, a = 0xaf63dc4c8601ec8cULL, foobar = 0x85944171f73967e8ULL;
  for (const std::size_t n : {1u, 2u, 3u, 7u, 64u}) {
    EXPECT_EQ(RedisEngine::shard_of("", n), empty % n) << n;
    EXPECT_EQ(RedisEngine::shard_of("a", n), a % n) << n;
    EXPECT_EQ(RedisEngine::shard_of("foobar", n), foobar % n) << n;
  }
}

TEST(RedisShard, SpreadsTopicsOverEveryShard) {
  for (const std::size_t n : {2u, 3u, 4u}) {
    std::set<std::size_t> used;
    for (int i = 0; i < 64; ++i) {
      const std::size_t shard = RedisEngine::shard_of("orders." + std::to_string(i), n);
      EXPECT_LT(shard, n);
      used.insert(shard);
    }
    EXPECT_EQ(used.size(), n) << "64 topics over " << n << " shards";
  }
}

}  // namespace
}  // namespace sluice::engine
