// Listeners of the client's events (Kraken's callback managers): several per
// event, added and removed at any time from any thread (also from inside a
// callback), "once" or "recurring", and dispatched one at a time on one
// thread with no lock held during a call.
//
// The two guarantees that make this safe (SPEC §1.4, §1.8):
//  - remove(id) from another thread returns only when that listener is not
//    running and never will again; from the dispatch thread (inside a
//    callback) it returns at once, and the listener is not called again.
//  - disable() stops every later call; from another thread it also waits for
//    the call in progress, if any. After it, nothing here runs user code.
// Lists are copy-on-write, so an event takes a snapshot pointer, not a copy:
// a listener added during an event is called from the next event on.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "sluice/client/events.hpp"

namespace sluice::client {

class Listeners {
 public:
  using OpenFn = std::function<void(const OpenEvent&)>;
  using MessageFn = std::function<void(const Message&)>;
  using CloseFn = std::function<void(const CloseEvent&)>;
  using ReconnectingFn = std::function<void(std::uint32_t attempt, std::chrono::milliseconds delay)>;
  using ErrorFn = std::function<void(const ErrorEvent&)>;

  template <class F>
  struct Entry {
    ListenerId id;
    Listen mode;
    F fn;
    bool removed = false;  // guarded by Listeners::mutex_
  };
  template <class F>
  struct List {
    // Replaced (never mutated) under mutex_, so a reader can use its snapshot without the lock.
    std::shared_ptr<const std::vector<std::shared_ptr<Entry<F>>>> entries =
        std::make_shared<const std::vector<std::shared_ptr<Entry<F>>>>();
  };

  /// `on_dispatch_thread` tells whether the caller is the thread that emits
  /// (then nothing may wait for a running call: it is our own caller).
  explicit Listeners(std::function<bool()> on_dispatch_thread)
      : on_dispatch_thread_(std::move(on_dispatch_thread)) {}

  List<OpenFn> open;
  List<MessageFn> message;
  List<CloseFn> close;
  List<ReconnectingFn> reconnecting;
  List<ErrorFn> error;

  /// Registers `fn`. Thread-safe. An empty fn is accepted and never called.
  template <class F>
  ListenerId add(List<F>& list, F fn, Listen mode) {
    std::lock_guard lock(mutex_);
    const ListenerId id = ++last_id_;
    auto copy = std::make_shared<std::vector<std::shared_ptr<Entry<F>>>>(*list.entries);
    copy->push_back(std::make_shared<Entry<F>>(Entry<F>{id, mode, std::move(fn)}));
    list.entries = std::move(copy);
    return id;
  }

  /// Unregisters a listener of any kind. Thread-safe. Returns false if `id`
  /// is unknown (already removed, or a "once" listener already called); it
  /// still waits if that listener is running right now.
  bool remove(ListenerId id) {
    std::unique_lock lock(mutex_);
    const bool found = erase(open, id) || erase(message, id) || erase(close, id) || erase(reconnecting, id) ||
                       erase(error, id);
    // Wait even when not found: a "once" listener is unregistered as its call starts.
    if (!on_dispatch_thread_()) {
      ++waiters_;
      idle_.wait(lock, [&] { return running_ != id; });
      --waiters_;
    }
    return found;
  }

  /// Calls every listener of `list` in registration order, skipping those
  /// removed meanwhile. Dispatch thread only; no lock is held during a call.
  template <class F, class... Args>
  void emit(List<F>& list, const Args&... args) {
    std::shared_ptr<const std::vector<std::shared_ptr<Entry<F>>>> snapshot;
    {
      std::lock_guard lock(mutex_);
      if (!enabled_) return;
      snapshot = list.entries;
    }
    for (const auto& entry : *snapshot) {
      {
        std::lock_guard lock(mutex_);
        if (!enabled_) return;
        if (entry->removed) continue;
        if (entry->mode == Listen::once) erase(list, entry->id);
        running_ = entry->id;
      }
      CallGuard guard{*this};
      if (entry->fn) entry->fn(args...);
    }
  }

  /// Runs a one-off user callback (the session hook) under the same rules.
  /// Returns false without calling it once disabled.
  template <class Fn>
  bool run(Fn&& fn) {
    {
      std::lock_guard lock(mutex_);
      if (!enabled_) return false;
      running_ = kHookId;
    }
    CallGuard guard{*this};
    std::forward<Fn>(fn)();
    return true;
  }

  /// No user callback runs after this returns (from the dispatch thread: none
  /// after the current one). Idempotent, thread-safe.
  void disable() {
    std::unique_lock lock(mutex_);
    enabled_ = false;
    if (on_dispatch_thread_()) return;
    ++waiters_;
    idle_.wait(lock, [&] { return running_ == 0; });
    --waiters_;
  }

  bool enabled() const {
    std::lock_guard lock(mutex_);
    return enabled_;
  }

  /// Threads blocked in remove() or disable() waiting for a running call
  /// (observability for tests).
  int waiting() const {
    std::lock_guard lock(mutex_);
    return waiters_;
  }

 private:
  static constexpr ListenerId kHookId = ~ListenerId{0};

  template <class F>
  bool erase(List<F>& list, ListenerId id) {  // mutex_ held
    const auto& entries = *list.entries;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i]->id != id) continue;
      entries[i]->removed = true;
      auto copy = std::make_shared<std::vector<std::shared_ptr<Entry<F>>>>(entries);
      copy->erase(copy->begin() + static_cast<std::ptrdiff_t>(i));
      list.entries = std::move(copy);
      return true;
    }
    return false;
  }

  // Ends the call even if the callback throws (it then escapes to the caller).
  struct CallGuard {
    Listeners& self;
    ~CallGuard() { self.finish_call(); }
  };

  void finish_call() {
    std::lock_guard lock(mutex_);
    running_ = 0;
    if (waiters_) idle_.notify_all();
  }

  std::function<bool()> on_dispatch_thread_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  ListenerId last_id_ = 0;
  ListenerId running_ = 0;  // the listener being called, 0 when none
  int waiters_ = 0;
  bool enabled_ = true;
};

}  // namespace sluice::client
