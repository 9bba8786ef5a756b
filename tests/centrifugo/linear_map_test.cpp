// The map a Centrifugo session keeps its subscriptions in (util::LinearMap):
// finds, adds and erases like a std::map, in any order (erase moves the last
// entry into the hole). Checked against std::map through random changes.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "sluice/util/linear_map.hpp"

namespace sluice::test {
namespace {

TEST(LinearMap, BehavesAsAMapThroughRandomChanges) {
  std::mt19937 random(23);
  util::LinearMap<std::string, int> map;
  std::map<std::string, int> model;
  for (int step = 0; step < 4000; ++step) {
    const std::string key = "topic." + std::to_string(random() % 30);
    ASSERT_EQ(map.contains(key), model.contains(key)) << key;
    if (auto it = map.find(key); it != map.end()) {
      ASSERT_EQ(it->second, model.at(key));
      if (random() % 2) {
        map.erase(it);
        model.erase(key);
      } else {
        it->second = step;  // found entries are writable
        model[key] = step;
      }
    } else {
      map.emplace(key, step);
      model.emplace(key, step);
    }
    ASSERT_EQ(map.size(), model.size());
    std::map<std::string, int> seen(map.begin(), map.end());
    ASSERT_EQ(seen, model) << "after step " << step;
  }
}

TEST(LinearMap, EraseMovesTheLastEntryIntoTheHoleAndClearEmpties) {
  util::LinearMap<std::string, int> map;
  map.emplace(std::string("a"), 1);
  map.emplace(std::string("b"), 2);
  map.erase(map.find("a"));
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.begin()->first, "b");
  map.erase(map.find("b"));
  EXPECT_TRUE(map.empty());
  map.emplace(std::string("c"), 3);
  map.clear();
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.find("c"), map.end());
}

}  // namespace
}  // namespace sluice::test
