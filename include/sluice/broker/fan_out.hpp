// One event loop's share of fan-out: the mailbox the broker's dispatch
// pushes each published event into (any thread, under the topic's shard
// lock: a push and nothing else), and the hub of that loop's subscribers,
// which the loop drains the mailbox into. One drain delivers a whole batch,
// so each connection gets one corked write for it.
//
// offer() is thread-safe; everything else runs on the loop's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/broker/event.hpp"
#include "sluice/broker/loop_hub.hpp"
#include "sluice/net/loop_mailbox.hpp"

namespace sluice::broker {

class FanOut {
 public:
  /// The mailbox holds at most `max_bytes` of event frames (at least one
  /// event): beyond, events are refused until the loop drains, and their
  /// subscribers are told (LoopHub::Subscriber::missed), never silently.
  explicit FanOut(std::size_t max_bytes = kDefaultMaxBytes) : mailbox_(max_bytes) {}
  static constexpr std::size_t kDefaultMaxBytes = 256 * 1024 * 1024;

  /// Queues `event` for this loop. True when the caller must post one
  /// drain() to the loop (the mailbox was empty). Thread-safe.
  bool offer(const EventPtr& event) {
    return mailbox_.push(event, event->frame->size()) == net::LoopMailbox<EventPtr, Missed>::Push::first;
  }

  /// On the loop: takes every queued event, lets `observe(batch)` see them
  /// (e.g. subscription counters), delivers them in order, then reports
  /// the events refused after them to their subscribers.
  template <class Observe>
  void drain(Observe&& observe) {
    drain(observe, [](const EventPtr&, std::size_t) {});
  }
  /// The same, calling delivered(event, recipients) as each event reaches
  /// this loop's subscribers (LoopHub::deliver_batch).
  template <class Observe, class Delivered>
  void drain(Observe&& observe, Delivered&& delivered) {
    mailbox_.drain(batch_, missed_);
    observe(std::span<const EventPtr>(batch_));
    hub_.deliver_batch(batch_, delivered);
    batch_.clear();
    for (const auto& [topic, count] : missed_.counts) {
      missed_total_.fetch_add(count, std::memory_order_relaxed);
      hub_.report_missed(topic, count);
    }
    missed_.counts.clear();
  }

  /// This loop's subscribers. The loop's thread only.
  LoopHub& hub() noexcept { return hub_; }
  /// Events refused by the mailbox so far (reported at their drains). Thread-safe.
  std::uint64_t missed_total() const noexcept { return missed_total_.load(std::memory_order_relaxed); }

 private:
  // Refused events, per topic (bounded by the number of topics).
  struct Missed {
    std::unordered_map<std::string, std::uint64_t> counts;
    void add(const EventPtr& event) { ++counts[event->topic]; }
  };

  net::LoopMailbox<EventPtr, Missed> mailbox_;
  LoopHub hub_;
  std::vector<EventPtr> batch_;  // the batch being delivered (keeps its capacity)
  Missed missed_;
  std::atomic<std::uint64_t> missed_total_{0};
};

}  // namespace sluice::broker
