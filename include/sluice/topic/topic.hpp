// Topic names and subscription patterns (SPEC §3): dot-separated tokens;
// in patterns `*` stands for exactly one token and `>` (last) for one or more.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::topic {

inline constexpr std::size_t kMaxTopicLength = 256;
inline constexpr std::size_t kMaxTopicTokens = 32;

/// Why a topic or pattern is invalid; empty when valid. Pure, thread-safe.
/// A token is 1+ printable ASCII characters other than '.', '*', '>' and
/// space; a topic has at most kMaxTopicTokens tokens and kMaxTopicLength bytes.
std::string topic_error(std::string_view topic);
/// As topic_error, but `*` may stand for a token and `>` for the last one.
std::string pattern_error(std::string_view pattern);

/// True if the pattern contains `*` or `>`.
bool is_wildcard_pattern(std::string_view pattern) noexcept;

/// Splits a topic or pattern at '.' (views into `text`).
std::vector<std::string_view> split_tokens(std::string_view text);

/// True if `topic` matches `pattern` (both assumed valid). The reference
/// definition; TopicTrie does the same without scanning every pattern.
bool pattern_matches(std::string_view pattern, std::string_view topic);

/// True if every topic `requested` matches is also matched by `granted`
/// (pattern containment; both assumed valid, and a topic is a pattern
/// without wildcards). `orders.>` covers `orders.eu`, `orders.*` and
/// `orders.eu.>`; `orders.*` covers `orders.eu` but not `orders.>`; neither
/// covers `orders`. Used for permissions: a grant allows what it covers.
/// Pure, thread-safe, no allocation. (Inline here so that src/broker need
/// not change for it; token by token: `>` only ends a pattern, so no
/// backtracking is needed.)
inline bool pattern_covers(std::string_view granted, std::string_view requested) noexcept {
  auto next = [](std::string_view& rest) {
    const std::size_t dot = rest.find('.');
    const std::string_view token = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    return token;
  };
  while (!granted.empty()) {
    const std::string_view g = next(granted);
    if (g == ">") return !requested.empty();  // one or more tokens, whatever they are
    if (requested.empty()) return false;      // granted needs more tokens than requested has
    const std::string_view r = next(requested);
    if (r == ">") return false;                // only `>` covers `>`
    if (g == "*") continue;                    // one token: a literal or `*`
    if (r == "*" || g != r) return false;      // a literal covers only itself
  }
  return requested.empty();
}

}  // namespace sluice::topic
