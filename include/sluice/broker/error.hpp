// Errors the broker itself reports through a publish's completion, next to
// the store's (std::errc, sqlite).
#pragma once

#include <system_error>

namespace sluice::broker {

enum class Error {
  too_many_topics = 1,  ///< the publish would create a topic beyond Broker::max_topics()
  engine_unavailable,   ///< a shared engine (Redis) cannot be reached: nothing was published
  /// A shared engine already had the publish's idempotency key, for the same
  /// content: nothing was published; the completion's event is the first
  /// publish's (its id, topic, offset, epoch and time only).
  idempotent_repeat,
  /// A shared engine already had the publish's idempotency key, for other
  /// content: nothing was published.
  idempotency_conflict,
};

/// The category named "sluice.broker". Thread-safe singleton.
const std::error_category& broker_category() noexcept;

inline std::error_code make_error_code(Error e) noexcept { return {static_cast<int>(e), broker_category()}; }

}  // namespace sluice::broker

template <>
struct std::is_error_code_enum<sluice::broker::Error> : std::true_type {};
