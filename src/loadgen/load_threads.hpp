// --threads N: a scenario's connections spread over N load threads, each with
// its own epoll loop and its own connections (one owner per connection,
// nothing shared but a few atomics), while the calling thread times the
// measured window, prints the progress line and watches for failures.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "options.hpp"
#include "report.hpp"

namespace sluice::bench {

/// The shared timeline. Written by the coordinating thread, read by the load threads.
struct WindowClock {
  std::atomic<std::uint64_t> start_ns{0};  ///< 0 until every load thread is ready
  std::atomic<std::uint64_t> end_ns{std::numeric_limits<std::uint64_t>::max()};
  std::atomic<bool> stop{false};           ///< give up now: another thread failed

  /// True while `now` is inside the measured window.
  bool measuring(std::uint64_t now) const noexcept {
    const std::uint64_t start = start_ns.load(std::memory_order_relaxed);
    return start != 0 && now >= start && now < end_ns.load(std::memory_order_relaxed);
  }
  /// True once the window is over (the load threads stop loading, then drain).
  bool over(std::uint64_t now) const noexcept {
    return now >= end_ns.load(std::memory_order_relaxed) || stop.load(std::memory_order_relaxed);
  }
};

/// One load thread's part of a scenario. run() is called once, on its own
/// thread; the counters are read by the coordinator meanwhile (relaxed, for
/// the progress line), and everything else only after the thread ended.
class LoadThread {
 public:
  virtual ~LoadThread() = default;
  /// Loads until clock.over() and what was in flight is answered (or clock.stop).
  /// Sets `ready` once its connections are up and `error` when it fails.
  virtual void run(const WindowClock& clock) = 0;

  alignas(64) std::atomic<std::uint64_t> count{0};  ///< what the progress line counts
  std::atomic<std::uint64_t> errors{0};
  std::atomic<bool> ready{false};
  std::string error;  ///< empty unless the thread failed; read after it ended
};

/// Runs each LoadThread on a thread of its own: starts the warm-up once all
/// are ready (within o.connect_timeout), then the window of o.duration
/// seconds, which `window` measures; keeps `progress` up to date. Returns the
/// first failure (empty: none) and sets `connected_ns` to when all were ready.
std::string run_load_threads(const std::vector<LoadThread*>& threads, const Options& o, MeasuredWindow& window,
                             ProgressLine& progress, std::uint64_t& connected_ns);

/// Connection i of `total` split over `threads`: how many thread `t` gets.
inline std::size_t share_of(std::size_t total, std::size_t threads, std::size_t t) {
  return total / threads + (t < total % threads ? 1 : 0);
}

}  // namespace sluice::bench
