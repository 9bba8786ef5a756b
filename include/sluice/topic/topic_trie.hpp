// Subscriptions indexed by pattern in a token trie, so matching a topic costs
// O(tokens x wildcard branches), not O(number of patterns) (SPEC §3; the
// anti-pattern STYLE.md names in Redis). Empty branches are pruned on erase.
//
// Not thread-safe: each event loop owns its own trie (per-loop shards).
#pragma once

#include <algorithm>
#include <array>
#include <functional>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/topic/topic.hpp"

namespace sluice::topic {

/// `Subscriber` must be equality-comparable and cheap to copy (an id or a pointer).
namespace detail {
// Lets the trie look tokens up by string_view without building a std::string.
struct TokenHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
}  // namespace detail

template <class Subscriber>
class TopicTrie {
 public:
  /// Adds `subscriber` under `pattern` (assumed valid: see pattern_error).
  /// Returns false if that pair was already present.
  bool insert(std::string_view pattern, const Subscriber& subscriber) {
    Node* node = &root_;
    for (const auto token : split_tokens(pattern)) node = &node->child(token);
    auto& subs = node->subscribers;
    if (std::find(subs.begin(), subs.end(), subscriber) != subs.end()) return false;
    subs.push_back(subscriber);
    ++size_;
    return true;
  }

  /// Removes the pair; returns false if it was not present. Prunes empty nodes.
  bool erase(std::string_view pattern, const Subscriber& subscriber) {
    const auto tokens = split_tokens(pattern);
    std::vector<std::pair<Node*, std::string_view>> path;  // (parent, token) to prune upward
    Node* node = &root_;
    for (const auto token : tokens) {
      Node* next = node->find(token);
      if (!next) return false;
      path.emplace_back(node, token);
      node = next;
    }
    auto& subs = node->subscribers;
    auto it = std::find(subs.begin(), subs.end(), subscriber);
    if (it == subs.end()) return false;
    *it = subs.back();  // order among subscribers of one pattern carries no meaning
    subs.pop_back();
    --size_;
    for (auto step = path.rbegin(); step != path.rend(); ++step) {
      Node* child = step->first->find(step->second);
      if (!child->empty()) break;
      step->first->remove(step->second);
    }
    return true;
  }

  /// Calls visit(subscriber) for every subscription whose pattern matches
  /// `topic` (a valid topic name). A subscriber under two matching patterns is
  /// visited twice: the caller deduplicates if it needs to.
  template <class Visit>
  void match(std::string_view topic, Visit&& visit) const {
    if (root_.empty()) return;  // nobody subscribed: nothing to split
    // The tokens on the stack: a match per event per loop must not allocate.
    std::array<std::string_view, topic::kMaxTopicTokens> buffer;
    std::size_t n = 0;
    for (std::string_view rest = topic;;) {
      if (n == buffer.size()) {  // over the limit of a valid topic: still answer
        const auto tokens = split_tokens(topic);
        return match_from(root_, std::span<const std::string_view>(tokens), 0, visit);
      }
      const std::size_t dot = rest.find('.');
      buffer[n++] = rest.substr(0, dot);
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    match_from(root_, std::span<const std::string_view>(buffer.data(), n), 0, visit);
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Nodes below the root; for tests that check pruning.
  std::size_t node_count() const noexcept { return root_.count(); }

 private:
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, detail::TokenHash, std::equal_to<>> literal;
    std::unique_ptr<Node> star;  // '*'
    std::unique_ptr<Node> rest;  // '>'
    std::vector<Subscriber> subscribers;

    Node& child(std::string_view token) {
      std::unique_ptr<Node>* slot;
      if (token == "*") {
        slot = &star;
      } else if (token == ">") {
        slot = &rest;
      } else {
        slot = &literal[std::string(token)];
      }
      if (!*slot) *slot = std::make_unique<Node>();
      return **slot;
    }
    Node* find(std::string_view token) const {
      if (token == "*") return star.get();
      if (token == ">") return rest.get();
      auto it = literal.find(token);
      return it == literal.end() ? nullptr : it->second.get();
    }
    void remove(std::string_view token) {
      if (token == "*") {
        star.reset();
      } else if (token == ">") {
        rest.reset();
      } else {
        literal.erase(literal.find(token));
      }
    }
    bool empty() const { return subscribers.empty() && literal.empty() && !star && !rest; }
    std::size_t count() const {
      std::size_t n = 0;
      for (const auto& [token, node] : literal) n += 1 + node->count();
      if (star) n += 1 + star->count();
      if (rest) n += 1 + rest->count();
      return n;
    }
  };

  template <class Visit>
  static void match_from(const Node& node, std::span<const std::string_view> tokens, std::size_t i,
                         Visit& visit) {
    if (i == tokens.size()) {
      for (const auto& s : node.subscribers) visit(s);
      return;
    }
    // '>' matches the one or more tokens that remain.
    if (node.rest) {
      for (const auto& s : node.rest->subscribers) visit(s);
    }
    if (node.star) match_from(*node.star, tokens, i + 1, visit);
    if (!node.literal.empty()) {
      auto it = node.literal.find(tokens[i]);
      if (it != node.literal.end()) match_from(*it->second, tokens, i + 1, visit);
    }
  }

  Node root_;
  std::size_t size_ = 0;
};

}  // namespace sluice::topic
