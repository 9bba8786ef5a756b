#include "sluice/client/backoff.hpp"

#include <cmath>
#include <limits>

namespace sluice::client {

std::string BackoffOptions::validate() const {
  if (floor.count() < 1) return "backoff floor must be at least 1 ms (a zero floor could reconnect in a tight loop)";
  if (max < floor) return "backoff max (" + std::to_string(max.count()) + " ms) must be >= its floor (" +
                          std::to_string(floor.count()) + " ms)";
  if (!std::isfinite(factor) || factor < 1.0) return "backoff factor must be a finite number >= 1";
  return {};
}

BackoffPolicy::BackoffPolicy(BackoffOptions options, std::optional<std::uint64_t> seed)
    : options_(options), rng_(seed ? *seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {}

std::chrono::milliseconds BackoffPolicy::ceiling(std::uint32_t attempt) const noexcept {
  const double floor_ms = static_cast<double>(options_.floor.count());
  const double max_ms = static_cast<double>(options_.max.count());
  // pow() saturates to +inf for huge exponents; the comparison clamps it (and
  // a NaN from a bad factor) to max, so no integer conversion can overflow.
  const double grown = floor_ms * std::pow(options_.factor, static_cast<double>(attempt));
  if (!(grown < max_ms)) return options_.max;
  if (!(grown > floor_ms)) return options_.floor;
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(grown));
}

std::chrono::milliseconds BackoffPolicy::delay(std::uint32_t attempt) {
  const auto low = options_.floor.count();
  const auto high = ceiling(attempt).count();
  if (high <= low) return options_.floor;
  std::uniform_int_distribution<std::chrono::milliseconds::rep> pick(low, high);
  return std::chrono::milliseconds(pick(rng_));
}

std::chrono::milliseconds BackoffPolicy::next() {
  if (attempts_ < std::numeric_limits<std::uint32_t>::max()) ++attempts_;
  return delay(attempts_);
}

}  // namespace sluice::client
