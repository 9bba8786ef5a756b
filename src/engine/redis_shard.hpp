// One shard of the Redis engine: its two connections (commands, pub/sub), its
// thread, its catch-up state and its publishes in flight. Its state belongs to
// the thread running `io`, except `ready` and `pending_bytes` (atomics, read by
// RedisEngine on any thread) and what RedisEngine::start() sets before that
// thread starts and stop() frees after it ends. Definitions by job:
// redis_shard_links.cpp (connections), redis_shard_catch_up.cpp (events from
// other nodes, catching up from the Streams), redis_shard_append.cpp (publishes),
// redis_shard_trim.cpp (trimming quiet topics' Streams).
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include <unordered_set>

#include "engine/redis_script.hpp"
#include "sluice/engine/redis_engine.hpp"
#include "sluice/engine/redis_link.hpp"
#include "sluice/log/log.hpp"

namespace sluice::engine::detail {

inline void warn(std::string_view message) { log::limited(spdlog::level::warn, "redis_engine", {}, message); }

struct RedisShard {
  using Numbered = Engine::Numbered;

  // One connection to Redis and its reconnect state.
  struct Link {
    RedisShard* shard;
    const char* name;
    redisAsyncContext* context = nullptr;
    bool connected = false;  // connected and set up (AUTH, SELECT, script / subscription)
    unsigned attempt = 0;    // reconnects since the last success
    boost::asio::steady_timer timer;
    Link(RedisShard* i, const char* n, boost::asio::io_context& io) : shard(i), name(n), timer(io) {}
  };

  // A publish between EVALSHA and its reply.
  struct PendingAppend {
    RedisShard* shard;
    Unnumbered event;
    Numbered done;
    std::size_t bytes;
  };

  RedisShard(RedisSettings s, RedisUrl u)
      : settings(std::move(s)),
        url(std::move(u)),
        keys{settings.prefix + ":" + std::to_string(url.db) + ":"},
        work(io.get_executor()),
        command(this, "command", io),
        subscriber(this, "subscriber", io),
        random(std::random_device{}()) {}

  RedisSettings settings;
  RedisUrl url;  // this shard's
  detail::RedisKeys keys;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  Link command;     // EVALSHA, XRANGE, HMGET, SMEMBERS
  Link subscriber;  // PSUBSCRIBE: every node's events (and SUBSCRIBE: the watched channel)
  // RedisEngine::watch_channel (the first shard only; set before the thread starts).
  std::string watched_channel;
  std::function<void(std::string_view)> on_watched_message;
  std::function<void()> on_watched_subscribed;
  CommittedSink* sink = nullptr;
  std::thread thread;
  std::atomic<bool> ready{false};
  std::atomic<std::size_t> pending_bytes{0};
  bool stopping = false;
  bool started = false;
  std::string script_sha;
  bool subscribed = false;
  std::unordered_set<std::string> filling;  // topics being read back from their Stream
  std::size_t catch_up_left = 0;            // topics of the current catch-up not yet read back
  std::mt19937_64 random;
  // A Redis that stops answering without closing the connection (stopped,
  // overloaded): a PING per second on the command connection, and a
  // connection whose PING is unanswered for command_timeout is dropped, so
  // publishes fail (503) instead of hanging.
  boost::asio::steady_timer watchdog{io};
  bool ping_outstanding = false;
  std::chrono::steady_clock::time_point ping_sent;

  // --- connections (redis_shard_links.cpp) ---

  void watch();
  static void on_ping(redisAsyncContext*, void*, void* data);
  // Closes a connection from outside hiredis' callbacks: its pending
  // commands fail (null replies), then it reconnects like after a loss.
  void drop(Link& link);
  void mark_down(Link& link);
  void lost(Link& link);
  void connect(Link& link);
  // Exponential backoff with jitter (half to all of the delay); never zero.
  void reconnect_later(Link& link);
  static void on_connect(const redisAsyncContext* c, int status);
  static void on_disconnect(const redisAsyncContext* c, int status);
  // AUTH and SELECT first (their replies come first: one connection is in order).
  void set_up(Link& link);
  static void on_setup_reply(redisAsyncContext* c, void* r, void*);
  static void on_script_loaded(redisAsyncContext* c, void* r, void* data);

  // --- events from other nodes (redis_shard_catch_up.cpp) ---

  static void on_message(redisAsyncContext* c, void* r, void* data);
  void on_event(const std::string& topic, std::string_view payload);

  // --- catching up from the Streams (redis_shard_catch_up.cpp) ---

  // Once both connections are up: every topic Redis knows is read back from
  // where this node stands, so nothing published meanwhile is skipped.
  void maybe_catch_up();
  static void on_topics(redisAsyncContext*, void* r, void* data);
  void caught_up_one();

  // A read-back of one topic: HMGET its epoch and last offset, then XRANGE
  // from where this node stands, in batches.
  struct Fill {
    RedisShard* shard;
    std::string topic;
    bool catch_up;
    std::string epoch;
    std::uint64_t last = 0;  // the topic's last offset in Redis
    std::uint64_t from = 0;  // next offset to read
  };

  void fill(const std::string& topic, bool catch_up = false);
  void end_fill(Fill* f);
  static void on_meta(redisAsyncContext*, void* r, void* data);
  void read_range(Fill* f);
  static void on_range(redisAsyncContext*, void* r, void* data);

  // --- publishes (redis_shard_append.cpp) ---

  void append(Unnumbered event, Numbered done, std::size_t bytes);
  // The script's {offset, epoch}, or the first publish under the event's
  // idempotencyKey; no reply (the connection went): not acknowledged, so
  // never reported published.
  static void on_appended(redisAsyncContext*, void* r, void* data);
  // The key was there: the first publish's {i, t, o, e, m, p}. The same
  // fingerprint is a repeat (answered with the first event's identity), another
  // one a conflict; nothing was appended either way.
  static void repeated(PendingAppend& p, std::string_view stored);

  // --- trimming topics nobody publishes to (redis_shard_trim.cpp) ---

  // Every trim_interval: SMEMBERS of the topics, then the trim script on each,
  // kTrimBatch at a time (the next batch once the last reply came).
  boost::asio::steady_timer trim_timer{io};
  std::vector<std::string> trim_topics;  // the pass under way
  std::size_t trim_next = 0;             // the next topic of it to trim
  std::size_t trim_waiting = 0;          // replies of the batch sent
  void schedule_trim();
  static void on_trim_topics(redisAsyncContext*, void* r, void* data);
  void trim_batch();
  static void on_trimmed(redisAsyncContext*, void* r, void* data);

  // --- stopping (redis_shard_links.cpp) ---

  // Answers what was sent (or fails it), disconnects, joins the thread. Idempotent.
  void stop();
};

}  // namespace sluice::engine::detail
