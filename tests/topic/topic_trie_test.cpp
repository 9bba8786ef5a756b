#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "sluice/topic/topic.hpp"
#include "sluice/topic/topic_trie.hpp"

namespace {

using namespace sluice::topic;

TEST(Topic, ValidNamesAndPatterns) {
  for (const char* ok : {"a", "orders", "orders.eu.btc-usd", "a.b.c.d", "x_1.Y-2.z:3"}) {
    EXPECT_EQ(topic_error(ok), "") << ok;
    EXPECT_EQ(pattern_error(ok), "") << ok;
  }
  for (const char* ok : {"*", ">", "a.*", "a.>", "*.b.>", "*.*"}) EXPECT_EQ(pattern_error(ok), "") << ok;
}

TEST(Topic, InvalidNamesSayWhy) {
  EXPECT_EQ(topic_error(""), "topic is empty");
  EXPECT_EQ(topic_error("a..b"), "topic has an empty token (leading, trailing or double '.')");
  EXPECT_EQ(topic_error(".a"), "topic has an empty token (leading, trailing or double '.')");
  EXPECT_EQ(topic_error("a."), "topic has an empty token (leading, trailing or double '.')");
  EXPECT_EQ(topic_error("a.*"), "topic names cannot contain '*' or '>'");
  EXPECT_EQ(topic_error("a b"), "topic contains a space or a non-printable character");
  EXPECT_EQ(topic_error(std::string(257, 'a')), "topic is longer than 256 bytes");
  std::string many = "a";
  for (int i = 0; i < 32; ++i) many += ".a";
  EXPECT_EQ(topic_error(many), "topic has more than 32 tokens");
  EXPECT_EQ(pattern_error("a.>.b"), "'>' may only be the last token of a pattern");
  EXPECT_EQ(pattern_error("a.b*"), "wildcards '*' and '>' must be whole tokens");
  EXPECT_EQ(pattern_error("a.\x01"), "pattern contains a space or a non-printable character");
}

TEST(Topic, ReferenceMatching) {
  EXPECT_TRUE(pattern_matches("a.b", "a.b"));
  EXPECT_FALSE(pattern_matches("a.b", "a.b.c"));
  EXPECT_TRUE(pattern_matches("a.*", "a.b"));
  EXPECT_FALSE(pattern_matches("a.*", "a"));
  EXPECT_FALSE(pattern_matches("a.*", "a.b.c"));
  EXPECT_TRUE(pattern_matches("a.>", "a.b"));
  EXPECT_TRUE(pattern_matches("a.>", "a.b.c"));
  EXPECT_FALSE(pattern_matches("a.>", "a"));  // '>' needs at least one token
  EXPECT_TRUE(pattern_matches(">", "x"));
  EXPECT_TRUE(pattern_matches("*.b.>", "a.b.c.d"));
  EXPECT_FALSE(pattern_matches("*.b.>", "a.c.c.d"));
}

std::multiset<int> trie_matches(const TopicTrie<int>& trie, std::string_view topic) {
  std::multiset<int> out;
  trie.match(topic, [&](int s) { out.insert(s); });
  return out;
}

TEST(TopicTrie, MatchesExactlyWhatTheReferenceMatches) {
  // Random patterns and topics over a small alphabet, so that many match.
  std::mt19937 rng(12345);
  const std::vector<std::string> tokens = {"a", "b", "c"};
  auto random_topic = [&](bool pattern) {
    const int n = 1 + static_cast<int>(rng() % 4);
    std::string out;
    for (int i = 0; i < n; ++i) {
      if (i) out += '.';
      const unsigned r = rng() % 10;
      if (pattern && r == 0) {
        out += '*';
      } else if (pattern && r == 1 && i == n - 1) {
        out += '>';
      } else {
        out += tokens[rng() % tokens.size()];
      }
    }
    return out;
  };
  TopicTrie<int> trie;
  std::vector<std::pair<std::string, int>> subs;
  for (int i = 0; i < 400; ++i) {
    auto p = random_topic(true);
    ASSERT_EQ(pattern_error(p), "");
    if (trie.insert(p, i % 50)) subs.emplace_back(p, i % 50);
  }
  EXPECT_EQ(trie.size(), subs.size());
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 300; ++i) {
      const auto topic = random_topic(false);
      std::multiset<int> expected;
      for (const auto& [pattern, id] : subs) {
        if (pattern_matches(pattern, topic)) expected.insert(id);
      }
      EXPECT_EQ(trie_matches(trie, topic), expected) << topic;
    }
    // Remove half, then check again.
    for (std::size_t i = 0; i < subs.size(); i += 2) EXPECT_TRUE(trie.erase(subs[i].first, subs[i].second));
    std::vector<std::pair<std::string, int>> kept;
    for (std::size_t i = 1; i < subs.size(); i += 2) kept.push_back(subs[i]);
    subs = kept;
    EXPECT_EQ(trie.size(), subs.size());
  }
}

TEST(TopicTrie, DuplicatesAndUnknownErases) {
  TopicTrie<int> trie;
  EXPECT_TRUE(trie.insert("a.b", 1));
  EXPECT_FALSE(trie.insert("a.b", 1));
  EXPECT_TRUE(trie.insert("a.b", 2));
  EXPECT_FALSE(trie.erase("a.b", 3));
  EXPECT_FALSE(trie.erase("a.c", 1));
  EXPECT_FALSE(trie.erase("a.b.c", 1));
  EXPECT_EQ(trie.size(), 2u);
}

TEST(TopicTrie, ErasePrunesEmptyBranches) {
  TopicTrie<int> trie;
  trie.insert("a.b.c", 1);
  trie.insert("a.*.>", 2);
  trie.insert("x", 3);
  EXPECT_EQ(trie.node_count(), 6u);  // a (shared), b, c, *, >, x
  EXPECT_TRUE(trie.erase("a.b.c", 1));
  EXPECT_EQ(trie.node_count(), 4u);  // a, *, >, x
  EXPECT_TRUE(trie.erase("a.*.>", 2));
  EXPECT_TRUE(trie.erase("x", 3));
  EXPECT_EQ(trie.node_count(), 0u);
  EXPECT_TRUE(trie.empty());
}

TEST(TopicTrie, UnrelatedPatternsAreNotVisited) {
  // 10,000 patterns on other topics: matching "orders.eu" must only reach its own.
  TopicTrie<int> trie;
  for (int i = 0; i < 10000; ++i) trie.insert("other." + std::to_string(i) + ".*", i);
  trie.insert("orders.*", -1);
  trie.insert("orders.>", -2);
  EXPECT_EQ(trie_matches(trie, "orders.eu"), (std::multiset<int>{-1, -2}));
  EXPECT_EQ(trie_matches(trie, "other.42.x"), (std::multiset<int>{42}));
}

}  // namespace
