// The publish path: assigns each event its per-topic offset, serializes it
// once, and hands it to every event loop for delivery, in offset order.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "sluice/broker/event.hpp"

namespace sluice::broker {

struct PublishRequest {
  std::string topic;  ///< a valid topic name (see topic_error)
  std::string data;   ///< serialized JSON
  std::string type;   ///< optional
  std::string key;    ///< optional
};

class Broker {
 public:
  /// Called once per event for each loop, in per-topic offset order, while
  /// the topic's shard lock is held; it must only post (no I/O, no callbacks).
  using Dispatch = std::function<void(const EventPtr&)>;

  explicit Broker(Dispatch dispatch);

  /// Publishes one event; returns it (id, offset, epoch). Thread-safe.
  /// The caller validated the topic.
  EventPtr publish(PublishRequest request);

  /// Events published so far (all topics). Thread-safe.
  std::uint64_t published() const;

 private:
  struct TopicState {
    std::uint64_t next_offset = 1;
    std::string epoch;
  };
  // Topics are sharded so unrelated topics rarely contend on one lock.
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, TopicState> topics;
    std::uint64_t published = 0;
  };
  static constexpr std::size_t kShards = 64;

  std::string next_id();

  Dispatch dispatch_;
  std::array<Shard, kShards> shards_;
  std::string id_prefix_;  // random per process: ids stay unique across restarts
  std::atomic<std::uint64_t> id_counter_{0};
};

/// A fresh random epoch string (16 hex digits). Thread-safe.
std::string new_epoch();

}  // namespace sluice::broker
