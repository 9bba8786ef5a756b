// Shared engines (issue #17): several nodes know every webhook subscription,
// and exactly one delivers each at a time, the one holding its lease in
// Redis. The keeper renews this node's leases every third of their time to
// live (and at once when woken: a new subscription), takes the free ones,
// starts delivery of what it took (with the state stored in Redis) and stops
// delivery of what another node holds now. A thread of its own: the Redis
// round trips never run on an event loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sluice/engine/redis_shared_state.hpp"
#include "sluice/server/subscription_registry.hpp"

namespace sluice::server::detail {

/// A node stops delivering once its leases may have expired unrenewed (the
/// last renewal's sending time + the time to live - a margin), before
/// another node can take them. At most kStartsPerRound webhooks start per
/// round (each reads its state), so a round stays short of the time to live.
/// Thread safety: every function from any thread. The hooks run on the
/// keeper's thread, with no keeper lock held.
class WebhookLeaseKeeper {
 public:
  struct Hooks {
    std::function<std::vector<SubscriptionPtr>()> candidates;  ///< webhook subscriptions known here
    std::function<bool(const std::string& id)> delivering;     ///< delivered here now
    /// This node took the lease: deliver from `state` (read from Redis).
    std::function<void(const SubscriptionPtr&, engine::RedisWebhookLeases::State state)> start;
    std::function<void(const std::string& id)> stop;  ///< the lease is another node's now (or unknown too long)
    std::function<void(const SubscriptionPtr&)> missing;  ///< Redis lost its document (not deleted)
  };
  WebhookLeaseKeeper(std::unique_ptr<engine::RedisWebhookLeases> leases, std::chrono::milliseconds ttl, Hooks hooks);
  ~WebhookLeaseKeeper();  ///< stop()
  WebhookLeaseKeeper(const WebhookLeaseKeeper&) = delete;
  WebhookLeaseKeeper& operator=(const WebhookLeaseKeeper&) = delete;

  void start();
  /// A round now rather than at the next tick.
  void wake();
  /// Ends the thread. Idempotent.
  void stop();
  /// After stop(): gives up the leases of `ids` (their delivery here has
  /// stopped and their state is written), so another node takes over at once
  /// instead of when they expire.
  void release(std::span<const std::string> ids);
  /// The node delivering `id` as of the last round ("" unknown). Thread-safe.
  std::string holder(const std::string& id) const;
  /// This node's id.
  const std::string& node() const noexcept { return leases_->node(); }

 private:
  void run();
  void round();
  // Leases the renewal did not keep in time: stop delivering everything here.
  void stop_all(const std::vector<std::string>& ids);
  bool stopping() const;

  std::unique_ptr<engine::RedisWebhookLeases> leases_;  // the keeper's thread only (then stop()'s)
  const std::chrono::milliseconds ttl_;
  Hooks hooks_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;
  bool stopping_ = false;
  std::unordered_map<std::string, std::string> holders_;  // guarded by mutex_
  // Keeper's thread only: until when this node's leases surely hold (the last
  // renewal's sending time + the time to live - a margin).
  std::chrono::steady_clock::time_point held_until_;
  std::thread thread_;
};

}  // namespace sluice::server::detail
