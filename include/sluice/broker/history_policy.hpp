// How much history each topic keeps (SPEC §3: "bounded by count, bytes and
// age (configurable defaults, and per-topic-pattern overrides)").
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::broker {

/// Bounds of one topic's history; the oldest events go first.
struct HistoryLimits {
  std::size_t max_events = 10'000;
  std::size_t max_bytes = 16 * 1024 * 1024;  ///< sizes of the events' WebSocket frames
  std::chrono::milliseconds max_age = std::chrono::hours(24);
};

/// Other bounds for the topics matching `pattern`; unset ones keep the defaults.
struct HistoryOverride {
  std::string pattern;
  std::optional<std::size_t> max_events;
  std::optional<std::size_t> max_bytes;
  std::optional<std::chrono::milliseconds> max_age;
};

/// Defaults plus per-pattern overrides. For a topic, the most specific
/// matching pattern wins: patterns are compared token by token from the
/// left, and at the first difference a literal token beats `*`, which beats
/// `>` (so `orders.eu` beats `orders.*` beats `orders.>`). Immutable once
/// built; thread-safe.
class HistoryPolicy {
 public:
  /// Implicit: plain limits are a policy without overrides.
  HistoryPolicy(HistoryLimits defaults = {}) : defaults_(defaults) {}  // NOLINT(google-explicit-constructor)
  /// `overrides` must be valid (see parse); a pattern given twice: the last wins.
  HistoryPolicy(HistoryLimits defaults, std::vector<HistoryOverride> overrides);

  /// The bounds for `topic`. Costs a scan of the overrides: call it when a
  /// topic is created, not per publish.
  HistoryLimits limits_for(std::string_view topic) const;
  const HistoryLimits& defaults() const noexcept { return defaults_; }
  const std::vector<HistoryOverride>& overrides() const noexcept { return overrides_; }
  /// The largest count and age of the defaults and every override (how much
  /// to load from a store at start-up so that any topic's history is full).
  HistoryLimits widest() const;

  /// Parses "PATTERN=count:N,bytes:SIZE,age:DURATION" (each bound optional,
  /// at least one; SIZE in bytes with an optional B, KiB, MiB or GiB suffix;
  /// DURATION a number with ms, s, m, h or d, plain seconds without). On
  /// error returns nullopt and a message naming the bad part in `error`.
  static std::optional<HistoryOverride> parse(std::string_view text, std::string& error);

 private:
  HistoryLimits defaults_;
  std::vector<HistoryOverride> overrides_;  // most specific first
};

}  // namespace sluice::broker
