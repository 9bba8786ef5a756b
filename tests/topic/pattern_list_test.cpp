// A connection's subscribed patterns in one allocation: what is added is
// found and iterated in order, removing any one keeps the others intact, and
// the storage goes with the last one. Checked against a std::vector model.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "sluice/topic/pattern_list.hpp"

namespace sluice::test {
namespace {

std::vector<std::string> listed(const topic::PatternList& list) {
  std::vector<std::string> out;
  for (const std::string_view p : list) out.emplace_back(p);
  return out;
}

TEST(PatternList, AddsFindsIteratesAndRemovesInAnyOrder) {
  topic::PatternList list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.begin(), list.end());
  EXPECT_FALSE(list.remove("a"));

  list.add("orders.>");
  list.add("a");
  list.add("prices.*.eur");
  EXPECT_EQ(listed(list), (std::vector<std::string>{"orders.>", "a", "prices.*.eur"}));
  EXPECT_EQ(list.size(), 3u);
  EXPECT_TRUE(list.contains("a"));
  EXPECT_FALSE(list.contains("orders"));   // a prefix is not the pattern
  EXPECT_FALSE(list.contains("orders.>.x"));

  EXPECT_TRUE(list.remove("a"));  // from the middle
  EXPECT_FALSE(list.remove("a"));
  EXPECT_EQ(listed(list), (std::vector<std::string>{"orders.>", "prices.*.eur"}));
  EXPECT_TRUE(list.remove("prices.*.eur"));  // the last one
  EXPECT_EQ(listed(list), (std::vector<std::string>{"orders.>"}));
  EXPECT_TRUE(list.remove("orders.>"));
  EXPECT_TRUE(list.empty());
  list.add("again");
  EXPECT_EQ(listed(list), (std::vector<std::string>{"again"}));
  list.clear();
  EXPECT_TRUE(list.empty());
}

TEST(PatternList, MatchesAVectorThroughRandomAddsAndRemoves) {
  std::mt19937 random(17);
  topic::PatternList list;
  std::vector<std::string> model;
  for (int step = 0; step < 5000; ++step) {
    const std::string pattern = "t" + std::to_string(random() % 40) + (random() % 2 ? ".>" : ".x");
    const bool there = std::find(model.begin(), model.end(), pattern) != model.end();
    ASSERT_EQ(list.contains(pattern), there) << pattern;
    if (random() % 3 != 0 && !there) {
      list.add(pattern);
      model.push_back(pattern);
    } else {
      ASSERT_EQ(list.remove(pattern), there) << pattern;
      if (there) model.erase(std::find(model.begin(), model.end(), pattern));
    }
    ASSERT_EQ(listed(list), model) << "after step " << step;
    ASSERT_EQ(list.size(), model.size());
    ASSERT_EQ(list.empty(), model.empty());
  }
}

}  // namespace
}  // namespace sluice::test
