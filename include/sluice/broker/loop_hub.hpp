// One event loop's share of pub/sub: the subscriptions of that loop's own
// connections, in a TopicTrie. Delivery on a loop touches only its own hub.
//
// Not thread-safe: used on its loop's thread only.
#pragma once

#include <cstdint>
#include <string_view>

#include "sluice/broker/event.hpp"
#include "sluice/broker/topic_trie.hpp"

namespace sluice::broker {

class LoopHub {
 public:
  /// Something that receives events: a connection's session. It must
  /// unsubscribe every pattern before it is destroyed.
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    virtual void deliver(const EventPtr& event) = 0;

   private:
    friend class LoopHub;
    std::uint64_t last_delivery_ = 0;  // dedupe: one event reaches a subscriber once
  };

  bool subscribe(std::string_view pattern, Subscriber* subscriber) { return trie_.insert(pattern, subscriber); }
  bool unsubscribe(std::string_view pattern, Subscriber* subscriber) { return trie_.erase(pattern, subscriber); }

  /// Delivers `event` once to every local subscriber with a matching pattern.
  void deliver(const EventPtr& event) {
    const std::uint64_t delivery = ++deliveries_;
    trie_.match(event->topic, [&](Subscriber* s) {
      if (s->last_delivery_ == delivery) return;  // matched by two of its patterns
      s->last_delivery_ = delivery;
      s->deliver(event);
    });
  }

  /// Calls visit(subscriber) for each subscriber whose pattern matches `topic`.
  template <class Visit>
  void match(std::string_view topic, Visit&& visit) const {
    trie_.match(topic, visit);
  }

  std::size_t subscription_count() const noexcept { return trie_.size(); }

 private:
  TopicTrie<Subscriber*> trie_;
  std::uint64_t deliveries_ = 0;
};

}  // namespace sluice::broker
