// Subscription filters (SPEC §3): predicates on an event's type, key, topic and
// data, combined with all/any. Compiled once when a subscription is created and
// evaluated for every event routed to it, so matching does no allocation.
// The language is described in docs/filters.md.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace sluice::topic {

/// Groups (all/any, or an array) nest at most this deep; the top-level group is depth 1.
inline constexpr std::size_t kMaxFilterDepth = 4;
/// Predicates in one filter, counted over every group.
inline constexpr std::size_t kMaxFilterPredicates = 64;
/// Items in the value array of one `in` predicate.
inline constexpr std::size_t kMaxFilterInItems = 256;
/// Bytes in one predicate's field name, e.g. "data.status.success".
inline constexpr std::size_t kMaxFilterFieldLength = 256;
/// Segments after "data." in one field name.
inline constexpr std::size_t kMaxFilterPathSegments = 32;

/// A compiled subscription filter.
///
/// Thread safety: a compiled Filter is immutable; copies share the compiled form
/// (copying is cheap) and any number of threads may call matches() and spec() on
/// the same Filter or its copies concurrently.
class Filter {
 public:
  /// Compiles a filter from its JSON form (grammar in docs/filters.md). On success
  /// returns the filter and clears `error`; on error returns nullopt and sets
  /// `error` to a message that names the offending part by its JSON path, e.g.
  /// `filter.all[2].op: unknown operator "=>" (use ==, !=, <, <=, >, >=, in, exists)`.
  /// `spec` is only read during the call; the Filter keeps its own canonical copy.
  /// Thread-safe (pure).
  static std::optional<Filter> compile(const boost::json::value& spec, std::string& error);

  /// Compiles a filter from its JSON text. Besides compile()'s checks, refuses a
  /// number that a double cannot hold (1e400, 1e-400): once parsed it would be
  /// infinity, or 0 and equal to 0, so the filter would not say what was written.
  /// compile(value) refuses infinities too, but cannot tell 1e-400 from 0.
  /// `json_text` is only read during the call. Thread-safe (pure).
  static std::optional<Filter> compile(std::string_view json_text, std::string& error);

  /// True if the event matches. `type` and `key` are "" when the event has none
  /// (an empty type or key counts as absent); `data` is the event's parsed data,
  /// which always exists (it may be null). Reads its arguments only during the call;
  /// does not allocate.
  bool matches(std::string_view topic, std::string_view type, std::string_view key,
               const boost::json::value& data) const;

  /// The filter in canonical JSON, for storing and returning the subscription:
  /// always `{"all": [...]}` or `{"any": [...]}` at the top, every group written
  /// as an object, and every predicate as {"field", "op", "value"} (`exists`
  /// included, with its default `true` filled in). Compiling it again gives an
  /// equivalent filter with the same canonical form. Valid as long as this Filter
  /// or a copy of it lives.
  const boost::json::value& spec() const noexcept;

  /// True if the filter has no predicates, so it matches every event
  /// (`[]` or `{"all": []}`); lets the router skip evaluation.
  bool matches_everything() const noexcept;

 private:
  struct Compiled;
  explicit Filter(std::shared_ptr<const Compiled> compiled) noexcept;

  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace sluice::topic
