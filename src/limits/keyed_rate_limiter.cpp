#include "sluice/limits/keyed_rate_limiter.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace sluice::limits {

namespace {
std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
// A Retry-After past a day says "not soon" as well as any larger number, and
// keeps the cast to an integer defined for tiny rates.
constexpr double kMaxRetryAfterS = 86'400;

double rate_of(const RateLimit& limit) {
  return limit.per_second > 0 && std::isfinite(limit.per_second) ? limit.per_second : 0;
}
double burst_of(const RateLimit& limit) {
  return std::max(1.0, limit.burst > 0 && std::isfinite(limit.burst) ? limit.burst : rate_of(limit));
}
}  // namespace

KeyedRateLimiter::KeyedRateLimiter(RateLimit limit, Clock clock)
    : rate_(rate_of(limit)),
      burst_(burst_of(limit)),
      max_keys_(std::max<std::size_t>(1, limit.max_keys)),
      clock_(clock ? std::move(clock) : Clock(steady_ms)) {}

void KeyedRateLimiter::reconfigure(RateLimit limit) {
  std::lock_guard lock(mutex_);
  rate_.store(rate_of(limit), std::memory_order_relaxed);
  burst_ = burst_of(limit);
}

double KeyedRateLimiter::burst() const {
  std::lock_guard lock(mutex_);
  return burst_;
}

std::size_t KeyedRateLimiter::tracked() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

// Forgets the keys whose buckets have refilled: a fresh bucket is full too,
// so nothing changes for them. At most one such sweep a second, so that many
// new keys do not make every request walk the table; otherwise (or if every
// key is still short of tokens) one arbitrary key goes.
void KeyedRateLimiter::make_room(std::int64_t now) {
  if (!swept_ || now - swept_ms_ >= 1000) {
    swept_ = true;
    swept_ms_ = now;
    const double rate = rate_.load(std::memory_order_relaxed);
    std::erase_if(buckets_, [&](const auto& entry) {
      const double elapsed = static_cast<double>(std::max<std::int64_t>(0, now - entry.second.at_ms)) / 1000.0;
      return entry.second.tokens + rate * elapsed >= burst_;
    });
  }
  if (buckets_.size() >= max_keys_) buckets_.erase(buckets_.begin());
}

KeyedRateLimiter::Verdict KeyedRateLimiter::acquire(std::string_view key) {
  if (per_second() <= 0) return {};
  const std::int64_t now = clock_();
  double tokens, rate;
  {
    std::lock_guard lock(mutex_);
    rate = rate_.load(std::memory_order_relaxed);
    if (rate <= 0) return {};  // turned off meanwhile
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= max_keys_) make_room(now);
      it = buckets_.emplace(std::string(key), Bucket{burst_, now}).first;
    }
    Bucket& bucket = it->second;
    const double elapsed = static_cast<double>(std::max<std::int64_t>(0, now - bucket.at_ms)) / 1000.0;
    bucket.tokens = std::min(burst_, bucket.tokens + rate * elapsed);
    bucket.at_ms = std::max(bucket.at_ms, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return {};
    }
    tokens = bucket.tokens;
  }
  refused_.fetch_add(1, std::memory_order_relaxed);
  const double wait = std::min(kMaxRetryAfterS, std::max(1.0, std::ceil((1 - tokens) / rate)));
  return {false, static_cast<std::int64_t>(wait)};
}

}  // namespace sluice::limits
