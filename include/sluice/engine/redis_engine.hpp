// The Redis engine (issue #17): several Sluice nodes share Redis (one server,
// or several shards with the topics spread over them). Each
// topic's offsets and epoch live in Redis and are assigned by one Lua script
// (idempotency key check, increment, XADD to the topic's Stream, PUBLISH to
// the nodes, the key's result kept for its window); every node
// receives every committed event over pub/sub and feeds it to its broker,
// which delivers in offset order; what a node missed (a pub/sub outage, a
// reconnect) it reads back from the Streams. hiredis runs on the engine's own
// thread through its async adapter interface: no thread blocks on Redis.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/engine/engine.hpp"
#include "sluice/engine/redis_url.hpp"

namespace sluice::engine {

namespace detail {
struct RedisShard;  // one shard: its connections, thread and catch-up state (src/engine/redis_shard.hpp)
}

struct RedisSettings {
  /// The Redis servers (one or more shards). Each topic lives on one of them,
  /// chosen by shard_of(topic): every node must list the same shards in the
  /// same order.
  std::vector<RedisUrl> shards;
  /// Prefix of every key and channel (with the database number: channels are
  /// shared by all databases of a Redis server).
  std::string prefix = "sluice";
  /// The most events a topic's Stream keeps (XADD MAXLEN); 0: none. The
  /// broker's history policy: the same bound as the embedded store's.
  std::function<std::size_t(const std::string& topic)> max_events = [](const std::string&) { return 10'000; };
  /// The most bytes a topic's Stream keeps (the sizes of its entries' fields); 0: none.
  std::function<std::size_t(const std::string& topic)> max_bytes = [](const std::string&) { return 0; };
  /// How old a topic's Stream entries may get; 0: no bound.
  std::function<std::chrono::milliseconds(const std::string& topic)> max_age = [](const std::string&) {
    return std::chrono::milliseconds(0);
  };
  /// Streams are trimmed to their bounds at each publish, and every topic
  /// this often (so a topic nobody publishes to loses its aged entries too);
  /// 0: only at publishes.
  std::chrono::milliseconds trim_interval{60'000};
  /// Bytes of publishes waiting for Redis; beyond, publishes are refused (store_busy).
  std::size_t max_pending_bytes = 64 * 1024 * 1024;
  /// Reconnect delays: exponential from min to max, with jitter.
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5'000};
  /// A command connection whose PING (one a second) is unanswered this long
  /// is dropped and reconnected: publishes waiting on it fail (503).
  std::chrono::milliseconds command_timeout{5'000};
  /// Events read per XRANGE when catching up.
  std::size_t read_batch = 1'000;
  /// How long Redis keeps a publish's idempotency key (SET ... PX): a publish
  /// repeating it on any node within it gets the first publish's result.
  std::chrono::milliseconds idempotency_window = std::chrono::hours(24);
};

class RedisEngine final : public Engine {
 public:
  /// The shard of `topic` among `shards` (> 0): FNV-1a (64 bits) of the topic
  /// modulo the count, the same on every node and every build. Pure.
  static std::size_t shard_of(std::string_view topic, std::size_t shards) noexcept;

  explicit RedisEngine(RedisSettings settings);
  ~RedisEngine() override;  ///< stop()
  RedisEngine(const RedisEngine&) = delete;
  RedisEngine& operator=(const RedisEngine&) = delete;

  /// Starts one thread per shard, which connects (and reconnects, with
  /// backoff) in the background. Every committed event goes to `sink`, which
  /// must outlive the engine (or its stop()). Call once.
  void start(CommittedSink& sink);

  /// Follows channel `<prefix>:<db>:<name>` of the first shard (changes other
  /// nodes announce, e.g. subscriptions): each message goes to `on_message`,
  /// in order, on the engine's thread; `on_subscribed` runs after each
  /// (re)subscription (what was announced while unsubscribed is not
  /// repeated: read the state again then). Both must only do in-memory work
  /// or post. Call before start().
  void watch_channel(std::string_view name, std::function<void(std::string_view message)> on_message,
                     std::function<void()> on_subscribed);

  bool numbers_events() const noexcept override { return true; }
  /// On the topic's shard. Refused at once with
  /// broker::Error::engine_unavailable while that shard is not connected (or
  /// still being caught up with). Thread-safe.
  void append_unnumbered(Unnumbered event, Numbered done) override;
  /// Every shard connected, subscribed, and caught up with its Streams. Thread-safe.
  bool available() const noexcept override;
  /// Answers what was sent (or fails it), disconnects, joins the thread. Idempotent.
  void stop() override;

 private:
  std::vector<std::unique_ptr<detail::RedisShard>> shards_;
};

}  // namespace sluice::engine
