// A loop's mailbox: many threads push, the loop's own thread drains in push
// order. One post per batch wakes the loop (push says when the mailbox was
// empty), and one topic's events stay in offset order on every loop (Asio
// runs a handler posted from a loop's own thread only after handlers posted
// earlier by other threads: a mailbox keeps the order a post would not).
//
// Bounded in bytes: a push over the bound is refused and tallied (Tally::add,
// under the same lock), and every push after it too until the next drain,
// which hands over the batch and the tally of what was refused behind it:
// the loop applies its policy knowing exactly where the hole is (the
// fan-out tells the subscribers of the missed events). HTTP answers use no
// bound: there is at most one per connection at a time.
//
// Thread-safe; the lock is held only to push or to swap the list (no I/O,
// no user code).
#pragma once

#include <cstddef>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

namespace sluice::net {

/// The default tally: how many pushes were refused.
struct RefusedCount {
  std::size_t count = 0;
  template <class U>
  void add(const U&) noexcept {
    ++count;
  }
};

template <class T, class Tally = RefusedCount>
class LoopMailbox {
 public:
  enum class Push {
    first,   ///< queued into an empty mailbox: the caller posts one drain
    queued,  ///< queued behind others: a drain is already pending
    full,    ///< refused: over the byte bound (nothing was queued)
  };

  explicit LoopMailbox(std::size_t max_bytes = std::numeric_limits<std::size_t>::max()) noexcept
      : max_bytes_(max_bytes) {}

  /// Appends `item`, which counts `bytes` against the bound. Any thread.
  Push push(T item, std::size_t bytes) {
    std::lock_guard lock(mutex_);
    // Once one is refused, so is every later push until the drain: nothing
    // may be delivered after a hole that is reported only later.
    if (refusing_ || (!items_.empty() && bytes > max_bytes_ - std::min(bytes_, max_bytes_))) {
      refusing_ = true;
      tally_.add(item);
      return Push::full;
    }
    items_.push_back(std::move(item));
    bytes_ += bytes;
    return items_.size() == 1 ? Push::first : Push::queued;
  }

  /// Moves every queued item into `out` (replacing its contents, keeping its
  /// capacity), in push order, and the tally of the pushes refused after them
  /// into `refused`; frees the bound. The loop's thread.
  void drain(std::vector<T>& out, Tally& refused) {
    out.clear();
    Tally fresh{};
    std::lock_guard lock(mutex_);
    out.swap(items_);
    refused = std::exchange(tally_, std::move(fresh));
    bytes_ = 0;
    refusing_ = false;
  }
  void drain(std::vector<T>& out) {
    Tally ignored;
    drain(out, ignored);
  }

  /// Bytes queued now (a snapshot). Any thread.
  std::size_t bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }

 private:
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::vector<T> items_;
  std::size_t bytes_ = 0;
  bool refusing_ = false;
  Tally tally_{};
};

}  // namespace sluice::net
