// A blocking connection to Redis for a thread of its own (never an event
// loop): the subscription store's thread, the webhook state writer and the
// lease keeper each own one. Connects on first use and again after any
// failure, with AUTH and SELECT from the URL; every read and write is bounded
// by a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/engine/redis_url.hpp"

struct redisContext;
struct redisReply;

namespace sluice::engine {

/// A reply, freed with it.
struct RedisReplyFree {
  void operator()(redisReply* reply) const noexcept;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyFree>;

/// Not thread-safe: one thread uses it at a time (its owner's).
class RedisLink {
 public:
  RedisLink(RedisUrl url, std::chrono::milliseconds timeout);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  /// Runs one command (each argument binary-safe). A reply (possibly a Redis
  /// error reply: REDIS_REPLY_ERROR), or null when the connection failed or
  /// timed out: `error()` says why, and the next call reconnects. A kept
  /// connection that Redis closed meanwhile (a restart: the command never
  /// reached it) is replaced and the command sent once more.
  RedisReply command(const std::vector<std::string>& args);
  /// Why the last call failed (never a password).
  const std::string& error() const noexcept { return error_; }
  /// Closes the connection (the next call reconnects).
  void close();

 private:
  bool ensure_connected();
  void fail(std::string why);

  RedisUrl url_;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
  std::string error_;
};

/// hiredis writes with write(), so a Redis (or tunnel) that closed its end
/// would kill the process with SIGPIPE: every Redis connection calls this
/// first, and from then on the process ignores SIGPIPE (a failed write is an
/// EPIPE error, and hiredis reconnects). Thread-safe; once per process.
void ignore_broken_pipes();

/// The text of a string, status or error reply; "" for other replies or null.
std::string_view reply_text(const redisReply* reply);
/// A number Redis gave as text (a reply, a field); 0 if it is none. Pure.
std::uint64_t to_u64(std::string_view text);
std::int64_t to_i64(std::string_view text);

}  // namespace sluice::engine
