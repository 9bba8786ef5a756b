// Wake-ups held for the length of a scope on one thread. A producer that
// queues many items for an event loop from outside it (the durable store's
// writer completing a group commit) would wake the loop at the first item,
// and the loop, sharing a core with it, could drain that one before the rest
// were queued: every subscriber would get two writes where one would do.
// Inside a WakeBatch, such a wake-up is held and posted when the scope ends,
// once every item is queued.
//
// Thread safety: a WakeBatch belongs to the thread that made it (current()
// is per thread); scopes nest, the innermost holds. The held wake-ups run in
// the destructor, on that thread, in the order they were held: they must not
// throw, and should only post.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace sluice::util {

class WakeBatch {
 public:
  WakeBatch() noexcept : outer_(std::exchange(current_, this)) {}
  ~WakeBatch() {
    current_ = outer_;
    for (auto& wake : held_) wake();
  }
  WakeBatch(const WakeBatch&) = delete;
  WakeBatch& operator=(const WakeBatch&) = delete;

  /// The innermost scope on this thread, or null.
  static WakeBatch* current() noexcept { return current_; }
  /// Runs `wake` when the scope ends instead of now.
  void hold(std::function<void()> wake) { held_.push_back(std::move(wake)); }

 private:
  static inline thread_local WakeBatch* current_ = nullptr;
  WakeBatch* outer_;
  std::vector<std::function<void()>> held_;
};

}  // namespace sluice::util
