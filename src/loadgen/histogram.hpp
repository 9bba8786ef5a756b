// A latency histogram with log-linear buckets (about 3 % relative error),
// cheap enough to record every one of millions of deliveries per second.
//
// Not thread-safe: each load thread records into its own.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace sluice::bench {

class LatencyHistogram {
 public:
  /// Records one latency in nanoseconds.
  void record(std::uint64_t ns) noexcept {
    ++counts_[bucket(ns)];
    ++total_;
    if (ns > max_) max_ = ns;
  }

  void reset() noexcept {
    counts_.fill(0);
    total_ = 0;
    max_ = 0;
  }

  /// Adds another histogram's records (one per load thread, merged at the end).
  void merge(const LatencyHistogram& other) noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    if (other.max_ > max_) max_ = other.max_;
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }

  /// The latency (ns) at quantile q in [0, 1]: the upper edge of the bucket
  /// holding it, so the figure errs high, never low. 0 when empty.
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t upper = lower_edge(i + 1) - 1;
        return upper < max_ ? upper : max_;
      }
    }
    return max_;
  }

 private:
  // Values below 64 have a bucket each; above, the top six significant bits pick one.
  static constexpr int kExactBits = 6;
  static constexpr std::size_t kBuckets = 64 * 32;

  static std::size_t bucket(std::uint64_t v) noexcept {
    if (v < (1u << kExactBits)) return static_cast<std::size_t>(v);
    const int shift = std::bit_width(v) - kExactBits;  // >= 1
    const std::size_t index = static_cast<std::size_t>(shift + 1) * 32 + ((v >> shift) & 31);
    return index < kBuckets ? index : kBuckets - 1;
  }
  static std::uint64_t lower_edge(std::size_t index) noexcept {
    if (index < (1u << kExactBits)) return index;
    const std::size_t shift = index / 32 - 1;
    return (32 + index % 32) << shift;
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace sluice::bench
