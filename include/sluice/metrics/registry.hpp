// Prometheus metrics (text exposition format 0.0.4): counters, gauges and
// histograms, registered once and updated on the hot path without locks.
//
// Updates are relaxed atomic adds on one of a few shards picked per thread
// (each event loop lands on its own shard, so loops do not share a cache
// line); a scrape sums the shards. Registration and rendering take the
// registry's mutex; an update never does.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sluice::metrics {

/// Label name/value pairs of one series, in order.
using Labels = std::vector<std::pair<std::string, std::string>>;

namespace detail {
inline constexpr std::size_t kShards = 8;
/// The calling thread's shard (assigned round-robin on first use). Thread-safe.
std::size_t shard() noexcept;
struct alignas(64) PaddedCount {
  std::atomic<std::uint64_t> value{0};
};
}  // namespace detail

/// A monotonically increasing count. add() is thread-safe and lock-free;
/// lives as long as its Registry.
class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    shards_[detail::shard()].value.fetch_add(n, std::memory_order_relaxed);
  }
  /// The sum over shards (a scrape's view). Thread-safe.
  std::uint64_t value() const noexcept;

 private:
  std::array<detail::PaddedCount, detail::kShards> shards_;
};

/// A value that goes up and down. add() is thread-safe and lock-free (a
/// relaxed add on the calling thread's shard, like Counter); lives as long
/// as its Registry.
class Gauge {
 public:
  void add(std::int64_t n) noexcept {
    shards_[detail::shard()].value.fetch_add(n, std::memory_order_relaxed);
  }
  /// Replaces the value. Thread-safe, but not atomic with concurrent add()s:
  /// for a gauge that one thread sets and nobody adds to.
  void set(std::int64_t v) noexcept;
  /// The sum over shards (a scrape's view). Thread-safe.
  std::int64_t value() const noexcept;

 private:
  struct alignas(64) Shard {
    std::atomic<std::int64_t> value{0};
  };
  std::array<Shard, detail::kShards> shards_;
};

/// Observations counted into fixed buckets (upper bounds, ascending), with
/// their sum. observe() is thread-safe and lock-free; lives as long as its
/// Registry.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v) noexcept;

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  ///< per bound, then +Inf
    double sum = 0;
  };
  /// Summed over shards. Thread-safe.
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const noexcept { return bounds_; }

 private:
  struct alignas(64) Shard {
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts;  // bounds + 1 (+Inf)
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  std::array<Shard, detail::kShards> shards_;
};

/// Exponential bucket bounds: start, start*factor, ... (count of them).
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);

/// The metrics of one server. Registration and render() are thread-safe
/// (mutex); the returned references stay valid as long as the registry.
class Registry {
 public:
  enum class Type { counter, gauge, histogram };

  /// The series `name{labels}`, created on first call. A name's help and
  /// type are fixed by its first registration.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                       const Labels& labels = {});
  /// A series whose value `read` gives at each scrape (on the scraping
  /// thread: it must be thread-safe and quick).
  void callback(const std::string& name, const std::string& help, Type type, const Labels& labels,
                std::function<double()> read);

  /// Every family in registration order, in the text exposition format
  /// (Content-Type: text/plain; version=0.0.4).
  std::string render() const;

 private:
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;
  };
  struct Family {
    std::string name, help;
    Type type;
    std::vector<std::unique_ptr<Series>> series;
  };
  Series& series(const std::string& name, const std::string& help, Type type, const Labels& labels);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
};

}  // namespace sluice::metrics
