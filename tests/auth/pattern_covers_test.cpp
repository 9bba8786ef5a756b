// topic::pattern_covers, the containment behind token permissions: a table
// of the cases people reason about, then a brute-force check against
// pattern_matches (the reference) over every pattern and topic of a small
// alphabet: covers(g, r) exactly when every topic r matches, g matches.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/auth/token_claims.hpp"
#include "sluice/topic/topic.hpp"

namespace sluice::broker {
namespace {

TEST(PatternCovers, Table) {
  struct Case {
    const char* granted;
    const char* requested;
    bool covers;
  };
  const Case cases[] = {
      {"orders.>", "orders.eu", true},     {"orders.>", "orders.*", true},     {"orders.>", "orders.eu.>", true},
      {"orders.>", "orders.>", true},      {"orders.>", "orders", false},      {"orders.>", ">", false},
      {"orders.>", "news.eu", false},      {"orders.*", "orders.eu", true},    {"orders.*", "orders.*", true},
      {"orders.*", "orders.>", false},     {"orders.*", "orders.eu.x", false}, {"orders.eu", "orders.eu", true},
      {"orders.eu", "orders.*", false},    {"orders.eu", "orders", false},     {"orders", "orders.eu", false},
      {">", "anything.at.all", true},      {">", ">", true},                   {">", "*", true},
      {"*", ">", false},                   {"*", "a", true},                   {"*", "a.b", false},
      {"*.eu", "orders.eu", true},         {"*.eu", "*.eu", true},             {"*.eu", "*.us", false},
      {"*.>", "a.b", true},                {"*.>", ">", false},                {"a.*.c", "a.b.c", true},
      {"a.*.c", "a.*.*", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(topic::pattern_covers(c.granted, c.requested), c.covers) << c.granted << " covers " << c.requested;
  }
}

// Every topic of 1..4 tokens over {a, b}: enough to tell any two of the small patterns apart.
std::vector<std::string> all_topics() {
  std::vector<std::string> out;
  std::vector<std::string> level{"a", "b"};
  for (int depth = 1; depth <= 4; ++depth) {
    out.insert(out.end(), level.begin(), level.end());
    std::vector<std::string> next;
    for (const auto& t : level) {
      next.push_back(t + ".a");
      next.push_back(t + ".b");
    }
    level = std::move(next);
  }
  return out;
}

// Every valid pattern of 1..3 tokens over {a, b, *, >}.
std::vector<std::string> all_patterns() {
  std::vector<std::string> out;
  std::vector<std::string> level{""};
  for (int depth = 1; depth <= 3; ++depth) {
    std::vector<std::string> next;
    for (const auto& p : level) {
      for (const char* token : {"a", "b", "*", ">"}) {
        std::string candidate = p.empty() ? token : p + "." + token;
        if (topic::pattern_error(candidate).empty()) {
          out.push_back(candidate);
          next.push_back(candidate);
        }
      }
    }
    level = std::move(next);
  }
  return out;
}

TEST(PatternCovers, AgreesWithMatchingOnEveryTopic) {
  const auto topics = all_topics();
  const auto patterns = all_patterns();
  ASSERT_GT(patterns.size(), 50u);
  int covered = 0;
  for (const auto& g : patterns) {
    for (const auto& r : patterns) {
      // 4-token topics exceed every 3-token pattern, so `>` is told apart from `*.*.*`.
      bool contained = true;
      for (const auto& t : topics) {
        if (topic::pattern_matches(r, t) && !topic::pattern_matches(g, t)) {
          contained = false;
          break;
        }
      }
      EXPECT_EQ(topic::pattern_covers(g, r), contained) << g << " covers " << r;
      covered += contained ? 1 : 0;
    }
  }
  EXPECT_GT(covered, 100);  // the check saw both answers many times
}

TEST(PatternsAllow, AnyGrantSuffices) {
  const std::vector<std::string> granted{"orders.>", "news.*"};
  EXPECT_TRUE(auth::patterns_allow(granted, "orders.eu.fr"));
  EXPECT_TRUE(auth::patterns_allow(granted, "news.sport"));
  EXPECT_FALSE(auth::patterns_allow(granted, "news.>"));
  EXPECT_FALSE(auth::patterns_allow({}, "orders.eu"));
}

}  // namespace
}  // namespace sluice::broker
