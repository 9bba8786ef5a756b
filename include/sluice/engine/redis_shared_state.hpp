// What several nodes on the Redis engine share beside the events (issue #17):
// subscription documents, each webhook's delivery state (positions, dead
// letters), and the lease that lets exactly one node deliver a subscription's
// webhook at a time. All of it lives on the first Redis shard. Each class
// here is used by one thread of its own (never an event loop) through a
// blocking RedisLink, bounded by a timeout.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "sluice/engine/redis_link.hpp"
#include "sluice/engine/redis_url.hpp"
#include "sluice/store/event_store.hpp"

namespace sluice::engine {

struct RedisSharedSettings {
  RedisUrl url;                   ///< the first shard's
  std::string prefix = "sluice";  ///< as RedisSettings::prefix
  std::string node;               ///< this node's id: the value of the leases it holds
  std::chrono::milliseconds lease_ttl{10'000};
  std::chrono::milliseconds timeout{2'000};  ///< connect, and each command
};

/// Key and channel names. Pure.
struct RedisSharedKeys {
  std::string base;  ///< "<prefix>:<db>:"
  explicit RedisSharedKeys(const RedisSharedSettings& s) : base(s.prefix + ":" + std::to_string(s.url.db) + ":") {}
  std::string subscriptions() const { return base + "subs"; }  ///< HASH id -> document
  /// Channel name (after base) announcing changes: "+<id>\n<document>" or "-<id>".
  static constexpr const char* kChannel = "subs-changed";
  std::string channel() const { return base + kChannel; }
  std::string lease(std::string_view id) const { return base + "wl:" + std::string(id); }         ///< STRING node, PX ttl
  std::string positions(std::string_view id) const { return base + "wp:" + std::string(id); }     ///< HASH topic -> offset
  std::string dead_letters(std::string_view id) const { return base + "wd:" + std::string(id); }  ///< HASH id -> JSON
  /// STRING, expiring after kTombstoneSeconds: the subscription was deleted (never stored again).
  std::string tombstone(std::string_view id) const { return base + "gone:" + std::string(id); }
};

/// How long a deleted subscription's tombstone is kept (a week): a node cut
/// off for less does not put it back.
inline constexpr long kTombstoneSeconds = 7L * 24 * 3600;
/// RedisSubscriptionTable::last_error() after a put refused because the id
/// was deleted (std::errc::identifier_removed).
inline constexpr const char* kSubscriptionDeleted = "the subscription was deleted";

/// Subscription documents in a Redis hash; each put and delete is announced
/// on the change channel (RedisEngine::watch_channel) so other nodes follow.
/// A delete removes the subscription's webhook state and lease too, and
/// leaves a tombstone: a put of a deleted id is refused (a node putting back
/// what Redis lost must not bring back what another node deleted).
/// last_error() is "" after a call that succeeded (so an empty load tells
/// "none" from "Redis could not be asked").
/// Thread safety: one thread at a time (the subscription store's); last_error from any.
class RedisSubscriptionTable final : public store::SubscriptionTable {
 public:
  explicit RedisSubscriptionTable(RedisSharedSettings settings);
  std::error_code put_subscription(const store::StoredSubscription& subscription) override;
  std::error_code delete_subscription(std::string_view id) override;
  std::vector<store::StoredSubscription> load_subscriptions() override;
  std::string last_error() const override;

 private:
  void note(std::string error);
  RedisSharedKeys keys_;
  RedisLink link_;
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

/// Webhook positions and dead letters in Redis, written only while this node
/// holds the subscription's lease (checked in the same script: a node that
/// lost its lease cannot move another's position). Changes of a subscription
/// whose lease another node holds, or that was deleted, are not written;
/// `on_not_held` gets its id (its delivery here must stop). A missing lease
/// (expired, or Redis lost it) is taken. Thread safety: one thread (the webhook state writer).
class RedisWebhookState final : public store::WebhookStateTable {
 public:
  RedisWebhookState(RedisSharedSettings settings, std::function<void(const std::string& id)> on_not_held);
  std::error_code write_webhook_state(std::span<const store::WebhookStateChange> changes) override;
  std::string last_error() const override;

 private:
  RedisSharedSettings settings_;
  RedisSharedKeys keys_;
  std::function<void(const std::string&)> on_not_held_;
  RedisLink link_;
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

/// The leases: who delivers each webhook subscription. Thread safety: one
/// thread (the lease keeper).
class RedisWebhookLeases {
 public:
  explicit RedisWebhookLeases(RedisSharedSettings settings);

  struct Lease {
    bool held = false;   ///< by this node (renewed, or taken because it was free)
    std::string holder;  ///< the node holding it ("" for a deleted subscription)
    bool stored = true;  ///< false: Redis no longer has the subscription's document (it lost it)
  };
  /// One round: renews the leases of `ids` this node holds and takes the free
  /// ones (not those of deleted subscriptions; of those whose document Redis
  /// lost, only those this node is `delivering`, one flag per id). Empty (and
  /// `error()`) when Redis could not be asked.
  std::vector<Lease> renew(std::span<const std::string> ids, const std::vector<bool>& delivering = {});
  /// The stored state of a subscription (after taking its lease).
  struct State {
    std::vector<store::WebhookPosition> positions;
    std::vector<store::WebhookDeadLetter> dead_letters;
  };
  bool load(const std::string& id, State& state);
  /// Gives up the leases of `ids` this node holds (at shutdown: another node
  /// takes over at once instead of after the lease expires).
  void release(std::span<const std::string> ids);
  const std::string& error() const noexcept { return link_.error(); }
  const std::string& node() const noexcept { return settings_.node; }

 private:
  RedisSharedSettings settings_;
  RedisSharedKeys keys_;
  RedisLink link_;
};

}  // namespace sluice::engine
