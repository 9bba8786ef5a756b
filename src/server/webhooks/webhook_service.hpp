// Webhook delivery (issue #14): one worker per subscription that has a
// webhook, living on one event loop. A worker reads the events its
// subscription matches from history, in offset order per topic, starting at
// its position, and POSTs them one at a time, signed, to the URL; it retries
// transient failures per the retry policy and turns the rest into dead
// letters, then moves on. Positions and dead letters go to the store (off the
// loops), so delivery resumes after a restart: at least once, in order per
// topic, nothing skipped without a dead letter.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/broker/broker.hpp"
#include "sluice/net/event_loop.hpp"
#include "sluice/server/subscription_registry.hpp"
#include "sluice/server/webhook_settings.hpp"
#include "sluice/webhook/address_policy.hpp"

namespace sluice::engine {
class RedisWebhookLeases;
}

namespace sluice::server {

namespace detail {
class WebhookWorker;
class WebhookStateWriter;
class WebhookLeaseKeeper;
struct WebhookLoop;
}  // namespace detail

/// Metrics hooks: one call per finished attempt, on a loop thread.
/// `outcome`: "delivered", "retry" or "dead_letter"; `seconds`: the attempt's
/// duration; `since_publish`: seconds from the event's publish time to the
/// attempt's end.
using WebhookAttemptObserver = std::function<void(std::string_view outcome, double seconds, double since_publish)>;

class WebhookService {
 public:
  /// `loops`, `broker` and `store` (null: memory mode) must outlive the
  /// service. `settings` must be valid. Call create() before the loops run.
  WebhookService(net::LoopGroup& loops, broker::Broker& broker, store::WebhookStateTable* store,
                 WebhookSettings settings, WebhookAttemptObserver observer = {});
  ~WebhookService();  ///< writes the queued state; call stop() first while the loops run
  WebhookService(const WebhookService&) = delete;
  WebhookService& operator=(const WebhookService&) = delete;

  /// Shared engines (Redis): every node knows each webhook subscription and
  /// delivers it only while it holds its lease (see WebhookLeaseKeeper), with
  /// its state in `state` (fenced by the lease; its not-held listener must
  /// call lease_lost). Call once, before start(), instead of passing a store.
  /// `put_back` gets each known subscription whose document Redis lost.
  void share(std::unique_ptr<engine::RedisWebhookLeases> leases, store::WebhookStateTable& state,
             std::chrono::milliseconds lease_ttl, std::function<void(const SubscriptionPtr&)> put_back);
  bool shared() const noexcept { return keeper_ != nullptr; }
  /// This node no longer holds `id`'s lease: its delivery here stops (the
  /// subscription stays; the lease keeper may start it again). Thread-safe.
  void lease_lost(const std::string& id);
  /// Where each topic matching `patterns` ends now: a new subscription's
  /// webhook_start (shared engines). Thread-safe.
  std::map<std::string, TopicMark> current_ends(const std::vector<std::string>& patterns) const;
  /// Shared engines: the node delivering `id`'s webhook when it is not this
  /// one ("" when unknown), nullopt when this node delivers it or the
  /// service is not shared. Thread-safe.
  std::optional<std::string> delivered_elsewhere(const std::string& id) const;

  /// Makes each loop's HTTP client and starts a worker for every subscription
  /// of `existing` with a webhook, with its stored state. Before the loops
  /// run. False with `error` set on failure (e.g. an unreadable CA file). A
  /// stored webhook that cannot be read adds a message to `problems` (it is
  /// not delivered).
  bool start(const std::vector<SubscriptionPtr>& existing, std::string& error, std::vector<std::string>& problems);

  /// The SSRF guard (settings' allowlist, or the last set_allowlist): what
  /// POST /v1/subscriptions checks a literal URL with. Thread-safe.
  std::shared_ptr<const webhook::AddressPolicy> policy() const;
  /// A new allowlist (valid CIDR ranges, as --webhook-allow; SIGHUP): later
  /// subscriptions are checked with it, and every loop's client connects
  /// only where it permits from now on (idle connections it refuses are
  /// closed). Thread-safe; the loops apply it when they next run. False with
  /// `error` for an invalid range (nothing changes).
  bool set_allowlist(const std::vector<std::string>& allow, std::string& error);
  const WebhookSettings& settings() const noexcept { return settings_; }

  /// A new subscription with a webhook: delivers what it matches from now on.
  /// Thread-safe. Ignores a subscription without a webhook.
  void add(const SubscriptionPtr& subscription);
  /// The subscription is gone: its worker stops at once (an in-flight request
  /// is abandoned, a retry timer cancelled) and its state is freed. Thread-safe.
  void remove(const std::string& id);

  /// Published events, from loop `loop`'s fan-out drain, on that loop's thread.
  void on_events(std::size_t loop, std::span<const broker::EventPtr> events);

  /// {"position", "inFlight", ...} of a webhook subscription, nullopt if it
  /// has no worker. Thread-safe.
  std::optional<boost::json::object> state(std::string_view id) const;

  struct Page {
    boost::json::array items;
    std::optional<std::string> next_cursor;
  };
  /// Recent attempts and dead letters, newest first; `kind` "" (both),
  /// "attempt" or "dead_letter"; after `cursor` ("" from the newest). nullopt
  /// if the subscription has no worker. Thread-safe.
  std::optional<Page> deliveries(std::string_view id, std::string_view kind, std::size_t limit,
                                 std::string_view cursor) const;

  enum class RetryStatus { queued, no_webhook, no_such_delivery, not_redeliverable };
  struct RetryResult {
    RetryStatus status = RetryStatus::queued;
    std::size_t queued = 0;
    std::size_t not_redeliverable = 0;  ///< expired dead letters (their events are gone)
  };
  /// Queues dead letter `delivery_id` (or, when empty, every dead letter) of
  /// `id` for redelivery, ahead of new events. Thread-safe.
  RetryResult retry(const std::string& id, std::string_view delivery_id);

  /// Stops every worker (on its loop, waiting for each loop) and writes the
  /// queued state. Call while the loops still run, from another thread. Idempotent.
  void stop();

  std::size_t worker_count() const;

 private:
  std::shared_ptr<detail::WebhookWorker> find(std::string_view id) const;
  std::shared_ptr<detail::WebhookWorker> make_worker(const SubscriptionPtr& subscription, std::string& error);
  // Shared engines: the keeper took `sub`'s lease; deliver from `state`.
  void start_leased(const SubscriptionPtr& sub, std::vector<store::WebhookPosition> positions,
                    std::vector<store::WebhookDeadLetter> dead_letters);
  // Stops and forgets the worker of `id` (not the subscription).
  void drop_worker(const std::string& id);

  net::LoopGroup& loops_;
  broker::Broker& broker_;
  store::WebhookStateTable* store_;
  WebhookSettings settings_;
  std::shared_ptr<const webhook::AddressPolicy> policy_;  // replaced whole under mutex_
  WebhookAttemptObserver observer_;
  std::unique_ptr<detail::WebhookStateWriter> writer_;  // null in memory mode
  std::vector<std::unique_ptr<detail::WebhookLoop>> per_loop_;  // each touched only on its loop
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<detail::WebhookWorker>> workers_;
  bool stopped_ = false;
  // Shared engines: the webhook subscriptions this node knows (delivered here or not).
  std::unordered_map<std::string, SubscriptionPtr> known_;  // guarded by mutex_
  std::unique_ptr<detail::WebhookLeaseKeeper> keeper_;
};

}  // namespace sluice::server
