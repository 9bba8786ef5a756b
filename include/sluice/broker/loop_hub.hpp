// One event loop's share of pub/sub: the subscriptions of that loop's own
// connections, in a TopicTrie. Delivery on a loop touches only its own hub.
//
// Not thread-safe: used on its loop's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sluice/broker/event.hpp"
#include "sluice/topic/topic_trie.hpp"

namespace sluice::broker {

/// Consecutive events of one topic, in order. Every subscriber of that topic
/// gets all of them, so their frames can go out as one shared chunk: one
/// queue entry and one iovec per recipient instead of one per event (the
/// fan-out cost that grows with the recipients).
///
/// Not thread-safe; lives for one LoopHub::deliver_batch() call.
class EventRun {
 public:
  explicit EventRun(std::span<const EventPtr> events) noexcept : events_(events) {
    for (const auto& event : events_) bytes_ += event->frame->size();
  }
  std::span<const EventPtr> events() const noexcept { return events_; }
  /// The size of the joined frames.
  std::size_t bytes() const noexcept { return bytes_; }
  /// The events' frames back to back, built on the first call and shared by
  /// every later caller.
  const std::shared_ptr<const std::string>& joined_frames() {
    if (!joined_) {
      std::string joined;
      joined.reserve(bytes_);
      for (const auto& event : events_) joined += *event->frame;
      joined_ = std::make_shared<const std::string>(std::move(joined));
    }
    return joined_;
  }

 private:
  std::span<const EventPtr> events_;
  std::size_t bytes_ = 0;
  std::shared_ptr<const std::string> joined_;
};

class LoopHub {
 public:
  /// Something that receives events: a connection's session. It must
  /// unsubscribe every pattern before it is destroyed.
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    virtual void deliver(const EventPtr& event) = 0;
    /// Delivers every event of `run`; by default one by one. A subscriber
    /// that takes all of them unchanged may send run.joined_frames() instead.
    virtual void deliver_run(EventRun& run) {
      for (const auto& event : run.events()) deliver(event);
    }
    /// `count` events of a topic this subscriber matches never reached its
    /// loop (the loop's mailbox was over its bound): apply the overflow
    /// policy (close so the client recovers from history, or mark a gap).
    virtual void missed(std::uint64_t count) = 0;

   private:
    friend class LoopHub;
    std::uint64_t last_delivery_ = 0;  // dedupe: one event reaches a subscriber once
  };

  bool subscribe(std::string_view pattern, Subscriber* subscriber) { return trie_.insert(pattern, subscriber); }
  bool unsubscribe(std::string_view pattern, Subscriber* subscriber) { return trie_.erase(pattern, subscriber); }

  /// Delivers `event` once to every local subscriber with a matching
  /// pattern; returns how many there were.
  std::size_t deliver(const EventPtr& event) {
    std::size_t recipients = 0;
    each_subscriber_once(event->topic, [&](Subscriber* s) {
      s->deliver(event);
      ++recipients;
    });
    return recipients;
  }

  /// Delivers `events` in order: consecutive events of one topic as one run
  /// (they have the same subscribers), each other event on its own.
  void deliver_batch(std::span<const EventPtr> events) {
    deliver_batch(events, [](const EventPtr&, std::size_t) {});
  }
  /// The same, then calls delivered(event, recipients) for each event once
  /// its local subscribers have it (e.g. a latency histogram).
  template <class Delivered>
  void deliver_batch(std::span<const EventPtr> events, Delivered&& delivered) {
    std::size_t begin = 0;
    while (begin < events.size()) {
      const std::string& topic = events[begin]->topic;
      std::size_t end = begin + 1;
      while (end < events.size() && events[end]->topic == topic) ++end;
      if (end - begin == 1) {
        delivered(events[begin], deliver(events[begin]));
      } else {
        EventRun run(events.subspan(begin, end - begin));
        std::size_t recipients = 0;
        each_subscriber_once(topic, [&](Subscriber* s) {
          s->deliver_run(run);
          ++recipients;
        });
        for (const auto& event : run.events()) delivered(event, recipients);
      }
      begin = end;
    }
  }

  /// Tells every local subscriber matching `topic` (once each) that `count`
  /// of its events were missed.
  void report_missed(std::string_view topic, std::uint64_t count) {
    each_subscriber_once(topic, [&](Subscriber* s) { s->missed(count); });
  }

  /// Calls visit(subscriber) for each subscriber whose pattern matches `topic`.
  template <class Visit>
  void match(std::string_view topic, Visit&& visit) const {
    trie_.match(topic, visit);
  }

  std::size_t subscription_count() const noexcept { return trie_.size(); }

 private:
  /// Calls fn(subscriber) once for each subscriber with a pattern matching
  /// `topic`, even when several of its patterns match.
  template <class Fn>
  void each_subscriber_once(std::string_view topic, Fn&& fn) {
    const std::uint64_t delivery = ++deliveries_;
    trie_.match(topic, [&](Subscriber* s) {
      if (s->last_delivery_ == delivery) return;  // matched by two of its patterns
      s->last_delivery_ = delivery;
      fn(s);
    });
  }

  topic::TopicTrie<Subscriber*> trie_;
  std::uint64_t deliveries_ = 0;
};

}  // namespace sluice::broker
