// What the fan-out's load threads share (--threads N): per thread, how far its
// subscribers got, and the publisher's progress and wake-up. Atomics only, no
// lock: a subscriber thread stores its figures once per subscription, per
// sync and per event all its subscribers have, never per delivery.
//
// Thread safety: each ThreadProgress is written by its own load thread only;
// anyone reads. The publisher's fields are written by the publisher's thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "wakeup.hpp"

namespace sluice::bench {

/// One load thread's subscribers, as the publisher sees them.
struct alignas(64) ThreadProgress {
  std::atomic<std::uint64_t> subscribed{0};  ///< subscriptions acknowledged
  std::atomic<std::uint64_t> synced{0};      ///< subscribers that saw a sync payload
  std::atomic<std::uint64_t> complete{0};    ///< each subscriber of the thread has data 1..complete
};

class FanoutShared {
 public:
  explicit FanoutShared(std::size_t threads) : progress_(threads) {}

  ThreadProgress& progress(std::size_t thread) { return progress_[thread]; }
  std::uint64_t subscribed() const noexcept { return sum(&ThreadProgress::subscribed); }
  std::uint64_t synced() const noexcept { return sum(&ThreadProgress::synced); }
  /// The slowest thread's figure: every subscriber has data 1..complete().
  std::uint64_t complete() const noexcept {
    std::uint64_t slowest = UINT64_MAX;
    for (const auto& p : progress_) {
      const std::uint64_t c = p.complete.load();
      if (c < slowest) slowest = c;
    }
    return slowest;
  }

  /// Thread `thread`'s subscribers all have data 1..seq; `wake`: wake the
  /// publisher if it sleeps until complete() moves (not needed from its own thread).
  void completed(std::size_t thread, std::uint64_t seq, bool wake) noexcept {
    progress_[thread].complete.store(seq);  // seq_cst: ordered before the load of publisher_waiting_
    if (wake && publisher_waiting_.load() && publisher_waiting_.exchange(false)) wakeup.signal();
  }
  /// The publisher is about to sleep until complete() moves past `seen`:
  /// true when it may (a thread that moves it will wake it), false when it moved meanwhile.
  bool publisher_may_sleep(std::uint64_t seen) noexcept {
    publisher_waiting_.store(true);  // seq_cst: ordered before the loads in complete()
    if (complete() == seen) return true;
    publisher_waiting_.store(false);
    return false;
  }

  /// Data messages published so far (stored by the publisher after each batch).
  std::atomic<std::uint64_t> sent{0};
  /// Set (release) once the window is over and the publisher stopped: `sent` is final.
  std::atomic<bool> publishing_over{false};
  /// Watched by the publisher's loop.
  Wakeup wakeup;

 private:
  std::uint64_t sum(std::atomic<std::uint64_t> ThreadProgress::*field) const noexcept {
    std::uint64_t total = 0;
    for (const auto& p : progress_) total += (p.*field).load(std::memory_order_relaxed);
    return total;
  }

  std::vector<ThreadProgress> progress_;
  std::atomic<bool> publisher_waiting_{false};
};

}  // namespace sluice::bench
