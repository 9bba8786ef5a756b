// Subscriptions and webhooks shared by the nodes of the Redis engine (issue
// #17): the documents live in Redis (RedisSubscriptionTable, written through
// the registry's SubscriptionStore), each node follows the others' creates
// and deletes on the change channel (and reads the whole set again after
// each reconnect), and each webhook is delivered by the one node holding its
// lease, with its state in Redis.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/engine/redis_engine.hpp"
#include "sluice/engine/redis_shared_state.hpp"
#include "sluice/engine/subscription_store.hpp"
#include "sluice/server/subscription_registry.hpp"

namespace sluice::server {

class WebhookService;

namespace detail {

/// Set up on the starting thread in the order of the functions below; the
/// engine's thread and the store's thread then call in. Must outlive the
/// engine's thread, the subscription store and the webhook service.
class SharedSubscriptions {
 public:
  SharedSubscriptions(engine::RedisUrl first_shard, std::chrono::milliseconds lease_ttl);
  SharedSubscriptions(const SharedSubscriptions&) = delete;
  SharedSubscriptions& operator=(const SharedSubscriptions&) = delete;

  /// Where the registry's SubscriptionStore keeps the documents.
  store::SubscriptionTable& table() noexcept { return *table_; }
  /// This node's id (random per process): the value of the leases it holds.
  const std::string& node() const noexcept { return settings_.node; }

  /// Follows other nodes' changes into `registry` (call before the engine starts).
  void watch(engine::RedisEngine& engine, SubscriptionRegistry& registry, engine::SubscriptionStore& store);
  /// Webhooks delivered by one node at a time, with their state in Redis
  /// (call before webhooks.start()).
  void share(WebhookService& webhooks);
  /// From now on changes are applied; reads the whole set once (what changed
  /// while this node was starting). Call once the server is built.
  void arm();
  /// Changes are ignored from now on (shutting down).
  void disarm() noexcept { armed_.store(false); }

 private:
  void on_message(std::string_view message);
  void resync();
  // A subscription this node has and Redis does not: deleted by another node
  // (its tombstone says so: removed here too) or lost by Redis (stored again).
  void put_back(const SubscriptionPtr& sub);

  engine::RedisSharedSettings settings_;
  std::unique_ptr<engine::RedisSubscriptionTable> table_;
  std::unique_ptr<engine::RedisWebhookState> webhook_state_;
  SubscriptionRegistry* registry_ = nullptr;
  engine::SubscriptionStore* store_ = nullptr;
  std::atomic<bool> armed_{false};
};

}  // namespace detail
}  // namespace sluice::server
