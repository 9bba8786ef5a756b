// A loop's inbox of published events: many publishing threads push, the
// loop drains in push order. Needed because Asio runs a handler posted from a
// loop's own thread only after the current handler, behind posts from other
// threads; an inbox keeps one topic's events in offset order on every loop.
//
// Thread-safe; the lock is held only to push or to swap the list (no I/O).
#pragma once

#include <mutex>
#include <vector>

#include "sluice/broker/event.hpp"

namespace sluice::broker {

class EventInbox {
 public:
  /// Appends `event`. Returns true when the inbox was empty: the caller then
  /// posts one drain to the loop (a drain already pending covers the rest).
  bool push(EventPtr event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
    return events_.size() == 1;
  }

  /// Moves every queued event into `out` (replacing its contents), in push order.
  void drain(std::vector<EventPtr>& out) {
    out.clear();
    std::lock_guard lock(mutex_);
    out.swap(events_);
  }

 private:
  std::mutex mutex_;
  std::vector<EventPtr> events_;
};

}  // namespace sluice::broker
