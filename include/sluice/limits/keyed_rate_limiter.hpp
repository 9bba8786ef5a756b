// Token buckets keyed by a string (a client IP, an API key's name): the
// per-client request and connection rates of SPEC §3 Security.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sluice/limits/string_hash.hpp"

namespace sluice::limits {

/// One bucket per key: `per_second` tokens a second, at most `burst` saved
/// up; each admitted request takes one.
struct RateLimit {
  double per_second = 0;            ///< 0 (or less, or NaN): no limit
  double burst = 0;                 ///< 0: max(1, per_second); anything below 1 counts as 1
  std::size_t max_keys = 100'000;   ///< keys tracked at once (at least 1); idle ones are forgotten first
};

/// Token buckets keyed by a string, in a table of at most `max_keys` keys:
/// when it is full, keys whose bucket has refilled (forgetting them changes
/// nothing) are swept out, at most once a second; if none has, an arbitrary
/// key is forgotten (its client gets a fresh bucket: bounded memory wins).
///
/// Thread safety: every member function may be called from any thread at
/// once. The mutex is held only for the table lookup and the arithmetic,
/// never across I/O or a callback other than the clock.
class KeyedRateLimiter {
 public:
  /// Milliseconds on any fixed epoch (tests inject a fake). A clock that
  /// steps back refills nothing (and takes nothing away).
  using Clock = std::function<std::int64_t()>;

  /// The answer for one request: allowed, or refused with the whole seconds
  /// to wait before a token is back (for a Retry-After header, at least 1).
  struct Verdict {
    bool allowed = true;
    std::int64_t retry_after_s = 0;  ///< 0 when allowed
    explicit operator bool() const noexcept { return allowed; }
  };

  /// `clock` defaults to std::chrono::steady_clock.
  explicit KeyedRateLimiter(RateLimit limit, Clock clock = {});
  KeyedRateLimiter(const KeyedRateLimiter&) = delete;
  KeyedRateLimiter& operator=(const KeyedRateLimiter&) = delete;

  /// Takes a token from `key`'s bucket (a new key starts full). Always
  /// allowed, without locking, when the limiter is off. Thread-safe.
  Verdict acquire(std::string_view key);

  /// A new rate and burst (a reload; max_keys stays): buckets keep their
  /// tokens, capped at the new burst. Thread-safe.
  void reconfigure(RateLimit limit);

  /// False when there is no limit (per_second not > 0). Thread-safe.
  bool enabled() const noexcept { return per_second() > 0; }
  double per_second() const noexcept { return rate_.load(std::memory_order_relaxed); }
  /// Thread-safe.
  double burst() const;
  /// Requests refused so far (for metrics). Thread-safe.
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }
  /// Keys in the table now. Thread-safe.
  std::size_t tracked() const;

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t at_ms = 0;
  };
  /// Under mutex_: room for one more key.
  void make_room(std::int64_t now);

  std::atomic<double> rate_;  // written under mutex_; read without it only to skip a limiter that is off
  double burst_;              // under mutex_
  std::size_t max_keys_;
  Clock clock_;
  std::atomic<std::uint64_t> refused_{0};
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket, StringHash, std::equal_to<>> buckets_;
  bool swept_ = false;  // a sweep happened, at swept_ms_
  std::int64_t swept_ms_ = 0;
};

}  // namespace sluice::limits
