#include "sluice/webhook/retry_policy.hpp"

#include <algorithm>
#include <cmath>

#include "sluice/webhook/retry_after.hpp"

namespace sluice::webhook {

using std::chrono::milliseconds;

std::string RetryOptions::validate() const {
  if (floor < milliseconds(1)) return "webhook retry floor must be at least 1 ms";
  if (max_delay < floor) return "webhook retry max delay must be at least the floor";
  if (!std::isfinite(factor) || factor < 1.0) return "webhook retry factor must be a finite number >= 1";
  if (max_attempts < 1) return "webhook maxAttempts must be at least 1";
  if (max_age < milliseconds(1)) return "webhook maxAge must be at least 1 ms";
  if (max_retry_after < milliseconds(0)) return "webhook max Retry-After must not be negative";
  return "";
}

Classification classify(const AttemptOutcome& outcome, std::chrono::system_clock::time_point now) {
  switch (outcome.kind) {
    case AttemptOutcome::Kind::connection_error:
    case AttemptOutcome::Kind::timeout:
      return {Verdict::retry, std::nullopt, DeadLetterReason::rejected};
    case AttemptOutcome::Kind::forbidden_address:
      return {Verdict::park, std::nullopt, DeadLetterReason::forbidden_address};
    case AttemptOutcome::Kind::response:
      break;
  }
  const unsigned s = outcome.status;
  if (s >= 200 && s <= 299) return {Verdict::acknowledged, std::nullopt, DeadLetterReason::rejected};
  if (s == 408 || s == 429 || (s >= 500 && s <= 599)) {
    return {Verdict::retry, outcome.retry_after.empty() ? std::nullopt : parse_retry_after(outcome.retry_after, now),
            DeadLetterReason::rejected};
  }
  return {Verdict::park, std::nullopt, DeadLetterReason::rejected};  // 3xx (redirects are not followed), other 4xx, anything odd
}

std::string_view to_string(DeadLetterReason reason) noexcept {
  switch (reason) {
    case DeadLetterReason::rejected: return "rejected";
    case DeadLetterReason::forbidden_address: return "forbidden_address";
    case DeadLetterReason::max_attempts: return "max_attempts";
    case DeadLetterReason::max_age: return "max_age";
  }
  return "rejected";
}

milliseconds backoff_ceiling(const RetryOptions& options, std::uint32_t retry) noexcept {
  const double floor_ms = static_cast<double>(options.floor.count());
  const double max_ms = static_cast<double>(options.max_delay.count());
  // pow may give inf for huge exponents; min() with max_ms makes that harmless.
  const double ceiling = std::min(max_ms, floor_ms * std::pow(options.factor, static_cast<double>(retry)));
  return milliseconds(static_cast<milliseconds::rep>(std::max(floor_ms, ceiling)));
}

milliseconds backoff_delay(const RetryOptions& options, std::uint32_t retry, std::mt19937_64& rng) {
  std::uniform_int_distribution<milliseconds::rep> pick(options.floor.count(),
                                                        backoff_ceiling(options, retry).count());
  return milliseconds(pick(rng));
}

RetryDecision decide(const RetryOptions& options, const Classification& c, std::uint32_t attempts_made,
                     milliseconds age, std::mt19937_64& rng) {
  RetryDecision d;
  switch (c.verdict) {
    case Verdict::acknowledged:
      d.action = RetryDecision::Action::done;
      return d;
    case Verdict::park:
      d.action = RetryDecision::Action::dead_letter;
      d.reason = c.park_reason;
      return d;
    case Verdict::retry:
      break;
  }
  if (attempts_made >= options.max_attempts) {
    d.action = RetryDecision::Action::dead_letter;
    d.reason = DeadLetterReason::max_attempts;
    return d;
  }
  milliseconds delay = backoff_delay(options, attempts_made, rng);
  if (c.retry_after) {
    const milliseconds asked = std::min<milliseconds>(*c.retry_after, options.max_retry_after);
    delay = std::max(delay, asked);
  }
  if (age + delay > options.max_age) {
    d.action = RetryDecision::Action::dead_letter;
    d.reason = DeadLetterReason::max_age;
    return d;
  }
  d.action = RetryDecision::Action::retry;
  d.delay = delay;
  return d;
}

}  // namespace sluice::webhook
