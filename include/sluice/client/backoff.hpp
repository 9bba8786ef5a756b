// Reconnect delays: exponential backoff with full jitter and a floor (SPEC §1.7, §4).
//
// The n-th consecutive attempt waits a delay drawn uniformly from
// [floor, min(max, floor * factor^n)]: it never waits less than the floor (no
// tight loop, whatever ended the connection), never more than max, and the
// spread keeps a crowd of clients from reconnecting in lock-step after a
// server restart. The ceiling is computed in floating point and clamped, so
// any attempt number, up to UINT32_MAX, is safe (no overflow, no wrap to 0).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace sluice::client {

/// Settings of the backoff, with their defaults (SPEC §4: 500 ms to 20 s).
struct BackoffOptions {
  std::chrono::milliseconds floor{500};  ///< shortest wait before any reconnect; must be >= 1 ms
  std::chrono::milliseconds max{20'000}; ///< longest wait; must be >= floor
  double factor = 2.0;                   ///< growth per attempt; must be finite and >= 1

  /// "" when valid, otherwise a message naming the bad field.
  std::string validate() const;
};

/// Not thread-safe: one policy belongs to one client and is used on its thread.
class BackoffPolicy {
 public:
  /// `seed`: fixed for reproducible tests; nullopt draws one from std::random_device.
  /// `options` must be valid (BackoffOptions::validate()).
  explicit BackoffPolicy(BackoffOptions options = {}, std::optional<std::uint64_t> seed = std::nullopt);

  /// The largest delay of attempt `attempt` (1 = the first retry):
  /// min(max, floor * factor^attempt); attempt 0 gives the floor. Pure, noexcept.
  std::chrono::milliseconds ceiling(std::uint32_t attempt) const noexcept;

  /// A delay for attempt `attempt`, uniform in [floor, ceiling(attempt)].
  std::chrono::milliseconds delay(std::uint32_t attempt);

  /// Stateful use: counts one more attempt (saturating at UINT32_MAX) and
  /// returns its delay.
  std::chrono::milliseconds next();
  /// Back to attempt 0, after a connection made progress (stable, or delivered data).
  void reset() noexcept { attempts_ = 0; }
  /// Attempts counted by next() since the last reset().
  std::uint32_t attempts() const noexcept { return attempts_; }

  const BackoffOptions& options() const noexcept { return options_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  std::uint32_t attempts_ = 0;
};

}  // namespace sluice::client
