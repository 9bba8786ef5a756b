// HistoryPolicy: per-pattern history bounds, the most specific pattern first;
// and the parser of the `--history PATTERN=count:N,bytes:SIZE,age:DURATION` flag.
#include "sluice/broker/history_policy.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>

#include "sluice/topic/topic.hpp"

namespace sluice::broker {

namespace {

// A token's rank: a literal is more specific than `*`, which is more than `>`.
int token_rank(std::string_view token) { return token == ">" ? 0 : token == "*" ? 1 : 2; }

// True if pattern `a` is more specific than `b` (see HistoryPolicy).
bool more_specific(std::string_view a, std::string_view b) {
  const auto ta = topic::split_tokens(a), tb = topic::split_tokens(b);
  for (std::size_t i = 0; i < std::min(ta.size(), tb.size()); ++i) {
    const int ra = token_rank(ta[i]), rb = token_rank(tb[i]);
    if (ra != rb) return ra > rb;
  }
  // One is a prefix of the other in ranks: the longer one names more tokens.
  return ta.size() > tb.size();
}

bool parse_number(std::string_view text, double& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && std::isfinite(out) && out >= 0;
}

// Splits "123KiB" into the number and its unit.
std::pair<std::string_view, std::string_view> number_and_unit(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  return {text.substr(0, i), text.substr(i)};
}

// A unit and how many base units it is worth.
struct Unit {
  std::string_view name;
  double scale;
};

// "12.5KiB" with `units` -> 12800; no unit means the first of `units`.
bool parse_scaled(std::string_view text, std::initializer_list<Unit> units, double& out) {
  const auto [number, unit] = number_and_unit(text);
  double value = 0;
  if (!parse_number(number, value)) return false;
  const std::string_view name = unit.empty() ? units.begin()->name : unit;
  for (const Unit& u : units) {
    if (u.name == name) {
      out = value * u.scale;
      return true;
    }
  }
  return false;
}

bool parse_size(std::string_view text, std::size_t& out) {
  double bytes = 0;
  if (!parse_scaled(text, {{"B", 1}, {"KiB", 1024.0}, {"MiB", 1024.0 * 1024}, {"GiB", 1024.0 * 1024 * 1024}}, bytes)) {
    return false;
  }
  if (bytes != std::floor(bytes) || bytes > 9.0e15) return false;
  out = static_cast<std::size_t>(bytes);
  return true;
}

bool parse_duration(std::string_view text, std::chrono::milliseconds& out) {
  double ms = 0;
  if (!parse_scaled(text, {{"s", 1000}, {"ms", 1}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}, ms)) {
    return false;
  }
  if (ms < 1 || ms > 1.0e15) return false;
  out = std::chrono::milliseconds(static_cast<long long>(ms));
  return true;
}

}  // namespace

HistoryPolicy::HistoryPolicy(HistoryLimits defaults, std::vector<HistoryOverride> overrides)
    : defaults_(defaults) {
  // The last of a repeated pattern wins: keep one per pattern.
  for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
    const bool seen = std::any_of(overrides_.begin(), overrides_.end(),
                                  [&](const HistoryOverride& o) { return o.pattern == it->pattern; });
    if (!seen) overrides_.push_back(std::move(*it));
  }
  std::stable_sort(overrides_.begin(), overrides_.end(), [](const HistoryOverride& a, const HistoryOverride& b) {
    return more_specific(a.pattern, b.pattern);
  });
}

HistoryLimits HistoryPolicy::limits_for(std::string_view topic) const {
  for (const auto& o : overrides_) {
    if (!topic::pattern_matches(o.pattern, topic)) continue;
    HistoryLimits limits = defaults_;
    if (o.max_events) limits.max_events = *o.max_events;
    if (o.max_bytes) limits.max_bytes = *o.max_bytes;
    if (o.max_age) limits.max_age = *o.max_age;
    return limits;
  }
  return defaults_;
}

HistoryLimits HistoryPolicy::widest() const {
  HistoryLimits out = defaults_;
  for (const auto& o : overrides_) {
    if (o.max_events) out.max_events = std::max(out.max_events, *o.max_events);
    if (o.max_bytes) out.max_bytes = std::max(out.max_bytes, *o.max_bytes);
    if (o.max_age) out.max_age = std::max(out.max_age, *o.max_age);
  }
  return out;
}

std::optional<HistoryOverride> HistoryPolicy::parse(std::string_view text, std::string& error) {
  const std::string quoted = "'" + std::string(text) + "'";
  const std::size_t equals = text.rfind('=');
  if (equals == std::string_view::npos) {
    error = "history override " + quoted + ": expected PATTERN=count:N,bytes:SIZE,age:DURATION";
    return std::nullopt;
  }
  HistoryOverride out;
  out.pattern = std::string(text.substr(0, equals));
  if (auto why = topic::pattern_error(out.pattern); !why.empty()) {
    error = "history override " + quoted + ": invalid pattern '" + out.pattern + "': " + why;
    return std::nullopt;
  }
  std::string_view bounds = text.substr(equals + 1);
  if (bounds.empty()) {
    error = "history override " + quoted + ": give at least one of count:N, bytes:SIZE, age:DURATION";
    return std::nullopt;
  }
  while (!bounds.empty()) {
    const std::size_t comma = bounds.find(',');
    const std::string_view item = bounds.substr(0, comma);
    bounds = comma == std::string_view::npos ? std::string_view() : bounds.substr(comma + 1);
    const std::size_t colon = item.find(':');
    const std::string_view name = item.substr(0, colon);
    const std::string_view value = colon == std::string_view::npos ? std::string_view() : item.substr(colon + 1);
    auto bad = [&](std::string_view what) {
      error = "history override " + quoted + ": " + std::string(what);
      return std::nullopt;
    };
    if (colon == std::string_view::npos || value.empty()) {
      return bad("'" + std::string(item) + "' is not NAME:VALUE (count:N, bytes:SIZE or age:DURATION)");
    }
    if ((name == "count" && out.max_events) || (name == "bytes" && out.max_bytes) || (name == "age" && out.max_age)) {
      return bad(std::string(name) + " is given twice");
    }
    if (name == "count") {
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return bad("count '" + std::string(value) + "' is not a whole number >= 0");
      }
      out.max_events = n;
    } else if (name == "bytes") {
      std::size_t n = 0;
      if (!parse_size(value, n)) {
        return bad("bytes '" + std::string(value) + "' is not a size (e.g. 65536, 512KiB, 64MiB, 1GiB)");
      }
      out.max_bytes = n;
    } else if (name == "age") {
      std::chrono::milliseconds age{};
      if (!parse_duration(value, age)) {
        return bad("age '" + std::string(value) + "' is not a duration of at least 1 ms (e.g. 500ms, 30s, 15m, 24h, 7d)");
      }
      out.max_age = age;
    } else {
      return bad("unknown bound '" + std::string(name) + "' (count, bytes or age)");
    }
  }
  return out;
}

}  // namespace sluice::broker
