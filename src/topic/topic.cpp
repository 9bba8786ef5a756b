#include "sluice/topic/topic.hpp"

namespace sluice::topic {
namespace {

bool is_token_char(char c) noexcept {
  return c > ' ' && c < 0x7F && c != '.' && c != '*' && c != '>';
}

std::string check(std::string_view text, bool pattern) {
  const char* what = pattern ? "pattern" : "topic";
  if (text.empty()) return std::string(what) + " is empty";
  if (text.size() > kMaxTopicLength) {
    return std::string(what) + " is longer than " + std::to_string(kMaxTopicLength) + " bytes";
  }
  // Token by token, without splitting into a vector (every publish checks its topic).
  std::size_t count = 1;
  for (const char c : text) count += c == '.' ? 1 : 0;
  if (count > kMaxTopicTokens) {
    return std::string(what) + " has more than " + std::to_string(kMaxTopicTokens) + " tokens";
  }
  std::string_view rest = text;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t dot = rest.find('.');
    const std::string_view token = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    if (token.empty()) return std::string(what) + " has an empty token (leading, trailing or double '.')";
    if (pattern && token == "*") continue;
    if (pattern && token == ">") {
      if (i + 1 != count) return "'>' may only be the last token of a pattern";
      continue;
    }
    for (char c : token) {
      if (!is_token_char(c)) {
        if (c == '*' || c == '>') {
          return pattern ? "wildcards '*' and '>' must be whole tokens" : "topic names cannot contain '*' or '>'";
        }
        return std::string(what) + " contains a space or a non-printable character";
      }
    }
  }
  return {};
}

}  // namespace

std::string topic_error(std::string_view topic) { return check(topic, false); }
std::string pattern_error(std::string_view pattern) { return check(pattern, true); }

bool is_wildcard_pattern(std::string_view pattern) noexcept {
  for (const auto token : split_tokens(pattern)) {
    if (token == "*" || token == ">") return true;
  }
  return false;
}

std::vector<std::string_view> split_tokens(std::string_view text) {
  std::vector<std::string_view> tokens;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    tokens.push_back(text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return tokens;
}

// Token by token, without allocating (the client matches every event it gets).
bool pattern_matches(std::string_view pattern, std::string_view topic) {
  auto next = [](std::string_view& rest) {
    const std::size_t dot = rest.find('.');
    const std::string_view token = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    return token;
  };
  bool topic_done = false;
  while (!pattern.empty()) {
    const std::string_view p = next(pattern);
    if (p == ">") return !topic_done;  // one or more remaining tokens
    if (topic_done) return false;
    const bool last = topic.find('.') == std::string_view::npos;
    const std::string_view t = next(topic);
    topic_done = last;
    if (p != "*" && p != t) return false;
  }
  return topic_done;
}

}  // namespace sluice::topic
