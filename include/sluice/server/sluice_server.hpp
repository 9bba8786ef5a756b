// The Sluice server: event loops, the listener, per-loop hubs and session
// registries, the broker, HTTP probes, and graceful shutdown (SPEC §1.6).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "sluice/auth/connection_auth.hpp"
#include "sluice/broker/broker.hpp"
#include "sluice/broker/fan_out.hpp"
#include "sluice/centrifugo/session.hpp"
#include "sluice/metrics/registry.hpp"
#include "sluice/net/event_loop.hpp"
#include "sluice/net/server.hpp"
#include "sluice/server/http_types.hpp"
#include "sluice/server/idempotency_index.hpp"
#include "sluice/server/publish_service.hpp"
#include "sluice/server/subscription_registry.hpp"
#include "sluice/server/inband_session.hpp"
#include "sluice/server/settings.hpp"
#include "sluice/engine/engine.hpp"
#include "sluice/engine/subscription_store.hpp"
#include "sluice/engine/redis_tls_tunnel.hpp"
#include "sluice/engine/redis_url.hpp"

namespace sluice::server {

inline constexpr std::string_view kVersion = "0.1.0";

namespace detail {
class UpgradeGate;
class ServerMetrics;
class HttpFrontDoor;
class SharedSubscriptions;
}
// The server's own parts (their headers are in src/server/, beside their sources).
class HttpApi;
class StoreRetention;
class WebhookService;

class SluiceServer final : private InbandSession::Owner, private centrifugo::Session::Owner {
 public:
  /// `settings` must be valid (see ServerSettings::validate()).
  explicit SluiceServer(ServerSettings settings);
  ~SluiceServer();  ///< shuts down (no drain) if still running
  SluiceServer(const SluiceServer&) = delete;
  SluiceServer& operator=(const SluiceServer&) = delete;

  /// Binds, then starts the loops. On failure returns false with a clear
  /// message in `error` (e.g. "cannot listen on 127.0.0.1:8080: Address already in use").
  bool start(std::string& error);
  /// With --engine: this node's id (the value of the webhook leases it
  /// holds, shown as deliveringNode); "" otherwise. After start().
  std::string node_id() const;
  std::uint16_t port() const { return listener_ ? listener_->port() : 0; }

  /// Graceful shutdown: stop accepting, close every connection with 1001,
  /// wait up to `drain` for them to finish, then stop the loops. Thread-safe,
  /// idempotent; blocks until done. Must not be called from a loop thread.
  void shutdown(std::chrono::milliseconds drain);

  /// Open connections (including those still in the handshake). Thread-safe.
  std::size_t connection_count() const noexcept { return connections_.load(); }
  broker::Broker& broker() noexcept { return *broker_; }
  SubscriptionRegistry& subscriptions() noexcept { return *subscriptions_; }
  /// Webhook delivery (set by start()); the server's own (src/server/webhooks/webhook_service.hpp).
  WebhookService* webhooks() noexcept { return webhooks_.get(); }
  /// The durable store, or null with the memory store.
  store::EventStore* event_store() noexcept { return store_.get(); }

  /// Operator actions, thread-safe (posted to the owning loops; asking twice,
  /// or about a connection that is gone, is harmless).
  void drop_topic(const std::string& pattern);
  void close_connection(std::uint64_t connection_id, std::uint16_t code, const std::string& reason);

  /// Stored subscriptions that start() could not load, one message each (they
  /// stay in the store, untouched). The caller reports them: serve logs each
  /// as an error. Set by start(); read it after start() returned.
  const std::vector<std::string>& load_errors() const noexcept { return load_errors_; }

  /// Reads the keys file again (SIGHUP): on success the new keys apply to
  /// every request from now on and `count` is their number; on error (missing
  /// or invalid file) the previous keys stay in force and `error` says why.
  /// Thread-safe.
  bool reload_keys(std::size_t& count, std::string& error);

  /// Applies what can change while running (SIGHUP), from `next`:
  /// max_topics (the next publish that would create a topic),
  /// max_connections (connections accepted from now on), allowed_origins
  /// (upgrades from now on), the HTTP request rates (rate_limit,
  /// rate_burst, key_rate_limit, key_rate_burst; buckets keep their tokens),
  /// the per-IP connection limits (max_connections_per_ip, counting what is
  /// open; new_connections_per_ip_*: the next connection),
  /// the history bounds (history_max_*, history_overrides: every topic now;
  /// with a Redis engine the stream's count bound keeps its start value)
  /// and webhook.allow (subscriptions created and
  /// webhook connections made from now on; kept-alive connections it refuses
  /// are closed). Open WebSockets are not touched; every other field of
  /// `next` is ignored. Thread-safe; after start().
  void apply_live_settings(const ServerSettings& next);

  /// True when every event loop ran a posted task within `timeout` (the
  /// service manager's watchdog pings only then). Blocks up to `timeout`;
  /// thread-safe; not from a loop thread, and only while running.
  bool loops_answer(std::chrono::milliseconds timeout);

  /// Ids of the open connections (a snapshot). Blocks until every loop answered.
  std::vector<std::uint64_t> connection_ids();

 private:
  struct LoopState;  // one per event loop; defined in sluice_server.cpp

  // InbandSession::Owner
  void session_opened(InbandSession& session, net::Connection& connection) override;
  void session_closed(InbandSession& session) override;
  InbandSession* find_session(std::uint64_t id) noexcept override;
  net::ConnectionHandler* upgrade_requested(InbandSession& session, net::Connection& connection,
                                            const net::ParsedRequest& request) override;
  // centrifugo::Session::Owner
  void session_closed(centrifugo::Session& session) override;

  // The steps of start(), in order.
  bool open_storage(std::vector<engine::RedisUrl>& redis, std::string& error);
  void make_subscriptions();
  broker::Broker::Dispatch make_dispatch();
  void post_drain(std::size_t loop);
  void post_owed_drains(LoopState& state);
  void start_broker(std::vector<engine::RedisUrl> redis);
  bool start_webhooks(std::string& error);
  bool make_auth(std::string& error);
  void make_session_contexts();
  void make_http_chain();
  bool listen(std::string& error);

  bool on_accept(net::EventLoop& loop, const std::shared_ptr<net::Connection>& connection);
  void connection_ended();
  void register_metrics();
  void count_matches(std::size_t loop, std::span<const broker::EventPtr> events) const;
  void close_streams_of(const std::string& subscription_id);

  ServerSettings settings_;
  // rediss:// engines' tunnels (hiredis has no TLS): destroyed after everything that talks to Redis.
  std::vector<std::unique_ptr<engine::RedisTlsTunnel>> redis_tunnels_;
  // Before the loops: connections still held by a loop's handlers count into
  // these (send-queue bytes, closes) until the loops are gone.
  metrics::Registry metrics_registry_;               // what /metrics shows
  std::unique_ptr<detail::ServerMetrics> metrics_;   // the server's own series in it
  std::unique_ptr<net::LoopGroup> loops_;
  std::vector<std::unique_ptr<LoopState>> states_;
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<store::GroupCommitLog> log_;
  std::unique_ptr<broker::Broker> broker_;
  std::unique_ptr<StoreRetention> retention_;  // with a store: trims it to what history keeps
  std::unique_ptr<SubscriptionRegistry> subscriptions_;
  std::unique_ptr<IdempotencyIndex> idempotency_;
  std::unique_ptr<PublishService> publisher_;  // the one publish door of HTTP and /v1/ws
  auth::KeyRingSlot keys_;  // the API keys in force (with --keys-file)
  std::unique_ptr<auth::ConnectionAuthenticator> connection_auth_;  // null: auth off
  std::unique_ptr<detail::UpgradeGate> upgrade_gate_;
  std::unique_ptr<limits::PerKeyCounter> connections_per_ip_;       // max 0: off
  std::unique_ptr<limits::KeyedRateLimiter> new_connections_per_ip_;  // rate 0: off
  // With Redis: subscriptions and webhook state shared by the nodes. Outlives
  // the webhook service and the subscription store that write through it.
  std::unique_ptr<detail::SharedSubscriptions> shared_;
  std::unique_ptr<WebhookService> webhooks_;  // delivery to subscriptions' webhooks, on the loops
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<detail::HttpFrontDoor> http_front_door_;  // every plain HTTP request, through api_
  std::unique_ptr<net::Server> listener_;
  // Last: destroyed first, so its thread stops before the broker it feeds goes.
  std::unique_ptr<engine::Engine> engine_;  // null: the embedded engine (log_) or memory
  // Destroyed before the registry its answers call into. Null in memory mode.
  std::unique_ptr<engine::SubscriptionStore> subscription_store_;
  std::vector<std::string> load_errors_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> max_connections_{0};  // settings_.max_connections, changed by SIGHUP
  std::mutex mutex_;
  std::condition_variable drained_;
  bool running_ = false;
  bool stopped_ = false;
};

}  // namespace sluice::server
