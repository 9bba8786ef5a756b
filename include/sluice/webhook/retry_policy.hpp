// When to retry a webhook delivery, and when to give up (issue #14). Pure
// functions: the caller owns the clock, the attempt count and the RNG, so the
// policy is tested with a seeded RNG and no waiting.
//
// - A 2xx response acknowledges the delivery.
// - Connection errors, timeouts, 408, 429 and 5xx are retried, after
//   max(backoff, Retry-After): the backoff is exponential with full jitter
//   and a floor, uniform in [floor, min(max_delay, floor * factor^n)] for the
//   n-th retry; a Retry-After (seconds or HTTP-date) is honoured up to
//   max_retry_after.
// - Every other status (other 4xx, and 3xx: redirects are never followed) and
//   a refused address park the delivery at once as a dead letter.
// - A retryable failure becomes a dead letter after max_attempts attempts, or
//   when the next attempt would start later than max_age after the first one.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace sluice::webhook {

/// Retry limits, with their defaults. Settable per subscription and as server options.
struct RetryOptions {
  std::chrono::milliseconds floor{1'000};              ///< shortest wait before a retry; >= 1 ms
  std::chrono::milliseconds max_delay{3'600'000};      ///< longest backoff wait (1 h); >= floor
  double factor = 2.0;                                 ///< backoff growth per retry; finite, >= 1
  std::uint32_t max_attempts = 20;                     ///< attempts in all, the first included; >= 1
  std::chrono::milliseconds max_age{24 * 3'600'000};   ///< from the first attempt (24 h); >= 1 ms
  std::chrono::milliseconds max_retry_after{3'600'000};///< cap on an honoured Retry-After (1 h); >= 0

  /// "" when valid, otherwise a message naming the bad field.
  std::string validate() const;
};

/// What one attempt came to, as the HTTP client reports it.
struct AttemptOutcome {
  enum class Kind {
    response,           ///< a complete HTTP response: see status
    connection_error,   ///< DNS, connect, TLS or I/O failure, or the peer closed mid-request
    timeout,            ///< connect or total timeout
    forbidden_address,  ///< every resolved address is refused by the SSRF guard
  };
  Kind kind = Kind::connection_error;
  unsigned status = 0;      ///< for `response`
  std::string retry_after;  ///< the Retry-After header, if any (for `response`)
};

/// Why a delivery became a dead letter (`reason` in the API).
enum class DeadLetterReason {
  rejected,           ///< a non-retryable status (4xx other than 408/429, 3xx, ...)
  forbidden_address,  ///< the URL resolved only to addresses the SSRF guard refuses
  max_attempts,       ///< retryable failures, max_attempts of them
  max_age,            ///< retryable failures until max_age ran out
};
std::string_view to_string(DeadLetterReason reason) noexcept;

enum class Verdict {
  acknowledged,  ///< 2xx: done
  retry,         ///< transient: try again later
  park,          ///< permanent: a dead letter at once
};

struct Classification {
  Verdict verdict = Verdict::retry;
  /// The receiver's Retry-After, when the verdict is retry and it sent a valid one.
  std::optional<std::chrono::seconds> retry_after;
  /// Why, when the verdict is park.
  DeadLetterReason park_reason = DeadLetterReason::rejected;
};

/// Classifies one attempt's outcome; `now` resolves a Retry-After HTTP-date. Pure.
Classification classify(const AttemptOutcome& outcome, std::chrono::system_clock::time_point now);

struct RetryDecision {
  enum class Action { done, retry, dead_letter };
  Action action = Action::done;
  std::chrono::milliseconds delay{0};                      ///< retry: wait this long first
  DeadLetterReason reason = DeadLetterReason::max_attempts;  ///< dead_letter: why
};

/// The largest backoff before retry number `retry` (1 = after the first
/// attempt): min(max_delay, floor * factor^retry). Computed in floating point
/// and clamped: safe for any value. Pure, noexcept.
std::chrono::milliseconds backoff_ceiling(const RetryOptions& options, std::uint32_t retry) noexcept;

/// A backoff before retry number `retry`, uniform in [floor, backoff_ceiling].
/// Uses (only) `rng`. Not thread-safe for a shared rng.
std::chrono::milliseconds backoff_delay(const RetryOptions& options, std::uint32_t retry, std::mt19937_64& rng);

/// What to do after an attempt classified as `c`. `attempts_made` counts the
/// attempts so far, this one included (>= 1); `age` is the time since the
/// first attempt started. `options` must be valid. Uses `rng` only to retry.
RetryDecision decide(const RetryOptions& options, const Classification& c, std::uint32_t attempts_made,
                     std::chrono::milliseconds age, std::mt19937_64& rng);

}  // namespace sluice::webhook
