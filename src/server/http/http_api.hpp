// The HTTP API (SPEC §3): publish events, query history, manage
// subscriptions, and the service and health endpoints. Sans-I/O: it gets
// parsed requests (HttpRequest) and answers through HttpRespond, so it is
// tested by calling handle() directly. The routes are in docs/http-api.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "sluice/auth/key_ring.hpp"
#include "sluice/broker/broker.hpp"
#include "sluice/limits/keyed_rate_limiter.hpp"
#include "sluice/server/http_types.hpp"
#include "sluice/server/idempotency_index.hpp"
#include "sluice/server/publish_service.hpp"
#include "sluice/server/subscription_registry.hpp"
#include "server/webhooks/webhook_service.hpp"

namespace sluice::store {
class EventStore;
}

namespace sluice::server {

/// Bounds of the HTTP API, with their defaults.
struct ApiLimits {
  std::size_t max_body_bytes = 1024 * 1024;  ///< larger request bodies: 413
  std::size_t max_batch = 1000;              ///< events per POST /v1/events/batch
  std::size_t max_page = 1000;               ///< largest `limit` of a paged GET
  std::size_t default_page = 100;            ///< `limit` when none is given
  /// A repeated idempotencyKey within this window returns the first result
  /// (these two apply when the HttpApi makes its own IdempotencyIndex).
  std::chrono::milliseconds idempotency_window = std::chrono::hours(24);
  /// Keys remembered in memory; beyond it the oldest are forgotten early
  /// (the store, when there is one, still finds them).
  std::size_t max_idempotency_keys = 100'000;
  /// Events (and topics) one history query may examine when a key filter or a
  /// pattern makes it scan; past it the page ends early with a nextCursor.
  std::size_t max_scan = 10'000;
  /// Per client IP, token bucket on every request except the health probes:
  /// `rate_per_second` tokens per second, at most `rate_burst` saved up
  /// (0: max(1, rate_per_second)). 0 requests per second: no limit.
  double rate_per_second = 0;
  double rate_burst = 0;
  std::size_t max_rate_clients = 100'000;  ///< IPs tracked; idle ones are dropped first
  /// Per API key (by its name), once require_keys() is on and the key is
  /// valid: `key_rate_per_second` requests per second, `key_rate_burst`
  /// saved up (0: max(1, key_rate_per_second)). 0 requests per second: no limit.
  double key_rate_per_second = 0;
  double key_rate_burst = 0;
  std::size_t max_rate_keys = 10'000;  ///< key names tracked; idle ones are dropped first
};

/// The HTTP API. Owns no I/O: it publishes through the Broker, reads the
/// EventStore when there is one, and keeps subscriptions in the registry.
///
/// Thread safety: handle() may be called from several threads at once. Shared
/// state (idempotency keys, rate buckets) is guarded by
/// mutexes held only for in-memory work: never across store I/O, never while
/// calling an HttpRespond.
class HttpApi {
 public:
  /// Milliseconds since the Unix epoch (tests inject a fake clock).
  using Clock = std::function<std::int64_t()>;

  /// `broker` and `subscriptions` (and `store`, which may be null: memory
  /// mode) must outlive the HttpApi. `clock` defaults to the system clock.
  /// `publisher` is the publish door shared with the other ways to publish
  /// (it must outlive the HttpApi); null: the HttpApi makes its own, with an
  /// idempotency index from `limits`, `store` and `clock`.
  HttpApi(broker::Broker& broker, SubscriptionRegistry& subscriptions, store::EventStore* store,
          ApiLimits limits = {}, Clock clock = {}, PublishService* publisher = nullptr);
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  /// Answers one request: calls `respond` exactly once. Reads and errors are
  /// answered before handle() returns; a publish is answered once the broker
  /// has it durable, which with a store is later, from the store's writer
  /// thread (handle() never waits for it). A publish that repeats an
  /// idempotencyKey still in flight is answered when the first one completes.
  void handle(const HttpRequest& request, HttpRespond respond);

  /// handle() as an HttpHandler (the HttpApi must outlive it).
  HttpHandler handler();

  /// Requires API keys from now on (`Authorization: Bearer <key>`): publish
  /// for POST /v1/events(/batch), read for GET of events and subscriptions,
  /// admin for creating and deleting subscriptions; `/` and the health probes
  /// stay open. Missing or unknown key: 401 with WWW-Authenticate; a key
  /// without the scope: 403. `keys` must outlive the HttpApi; call before
  /// handle() is first called (not thread-safe against it).
  void require_keys(const auth::KeyRingSlot& keys) noexcept { keys_ = &keys; }

  /// The refusal for a request whose credential does not allow `needed`, or
  /// nullopt when it does (or keys are not required): 401 for a missing or
  /// unknown key, 429 when a valid key is over its request rate (each
  /// authenticated call takes a token), 403 for a key without the scope.
  /// Thread-safe.
  std::optional<HttpResponse> authorize(const HttpRequest& request, auth::Scope needed) const;

  /// Requests refused with 429 so far, per client IP and per API key (for
  /// metrics). Thread-safe.
  std::uint64_t refused_by_ip_rate() const noexcept { return ip_rate_.refused(); }
  std::uint64_t refused_by_key_rate() const noexcept { return key_rate_.refused(); }

  /// Webhook delivery: new webhook subscriptions are checked against its
  /// settings and handed to it; GET shows their state; the deliveries routes
  /// use it. Without it, webhooks are checked against the default settings
  /// and stored only. `webhooks` must outlive the HttpApi; call before
  /// handle() is first called.
  void set_webhooks(WebhookService* webhooks) noexcept { webhooks_ = webhooks; }
  /// New per-IP and per-key request rates and bursts (a reload; the other
  /// fields of `limits` are ignored). Thread-safe.
  void set_rate_limits(const ApiLimits& limits) {
    ip_rate_.reconfigure({limits.rate_per_second, limits.rate_burst});
    key_rate_.reconfigure({limits.key_rate_per_second, limits.key_rate_burst});
  }
  /// Called with "missing", "invalid_key" or "forbidden" on each request
  /// authorize() refuses (metrics). Set before serving; must be thread-safe.
  void set_auth_refusal_observer(std::function<void(std::string_view reason)> observer) {
    on_auth_refused_ = std::move(observer);
  }

  /// GET /ready answers 503 while false (e.g. during shutdown). Thread-safe.
  void set_ready(bool ready) noexcept { ready_.store(ready); }
  /// A second condition of /ready (e.g. the Redis engine is reachable). Set
  /// before serving; called on the loop threads. Not thread-safe to set.
  void set_ready_check(std::function<bool()> check) { ready_check_ = std::move(check); }

 private:
  struct BatchState;
  struct BroadcastState;

  /// What check_key() found.
  struct KeyVerdict {
    enum class Status { ok, missing, invalid, rate_limited, forbidden };
    Status status = Status::ok;
    std::string key_name;         ///< the key's name (never its secret), once authenticated
    std::string scopes;           ///< forbidden: the scopes the key has
    std::int64_t retry_after_s = 0;  ///< rate_limited
  };
  /// Checks `credential` (nullopt: none or unreadable; `missing`: no header
  /// at all) against the key ring for `needed`; logs refusals (rate-limited),
  /// takes a token of the key's rate. keys_ must be set. Thread-safe.
  KeyVerdict check_key(const HttpRequest& request, std::optional<std::string_view> credential, bool missing,
                       auth::Scope needed) const;

  std::optional<HttpResponse> dispatch(const HttpRequest& request, HttpRespond& respond);
  // dispatch's routes below /v1/events and /v1/subscriptions (`path`: without a trailing slash).
  std::optional<HttpResponse> route_events(const HttpRequest& request, std::string_view path, HttpRespond& respond);
  std::optional<HttpResponse> route_subscriptions(const HttpRequest& request, std::string_view path,
                                                  HttpRespond& respond);
  std::optional<HttpResponse> rate_limit(const HttpRequest& request);
  // `form_as_json`: take curl's default application/x-www-form-urlencoded as JSON.
  std::optional<HttpResponse> check_body(const HttpRequest& request, bool form_as_json = false) const;

  HttpResponse root() const;
  HttpResponse probe(std::string_view path) const;

  // Events (http_events.cpp).
  std::optional<HttpResponse> post_event(const HttpRequest& request, HttpRespond& respond);
  std::optional<HttpResponse> post_batch(const HttpRequest& request, HttpRespond& respond);
  // post_batch's steps: validate every event, then settle their idempotency keys.
  std::optional<HttpResponse> read_batch(const HttpRequest& request, BatchState& batch) const;
  std::optional<HttpResponse> claim_batch_keys(BatchState& batch, std::vector<broker::PublishRequest>& requests);
  void finish_batch(BatchState& batch, std::vector<PublishService::BatchResult> outcomes);
  HttpResponse get_events(const HttpRequest& request);
  HttpResponse get_event(const std::string& id);
  std::optional<HttpResponse> parse_event(const boost::json::value& value, std::string_view raw,
                                          const std::string& where, PublishService::Input& out) const;
  std::vector<broker::EventPtr> fetch_topic(const std::string& topic, std::uint64_t after, std::size_t limit);
  std::vector<std::string> matching_topics(const std::string& pattern, const std::string& from);

  // Centrifugo's server API shim, /api/* (http_centrifugo.cpp).
  std::optional<HttpResponse> centrifugo_api(std::string_view method, const HttpRequest& request,
                                             HttpRespond& respond);
  std::optional<HttpResponse> centrifugo_authorize(const HttpRequest& request, auth::Scope needed) const;
  std::optional<HttpResponse> centrifugo_publish(const boost::json::object& params, const HttpRequest& request,
                                                 HttpRespond& respond);
  std::optional<HttpResponse> centrifugo_broadcast(const boost::json::object& params, const HttpRequest& request,
                                                   HttpRespond& respond);
  HttpResponse centrifugo_history(const boost::json::object& params);

  // Subscriptions (http_subscriptions.cpp).
  std::optional<HttpResponse> post_subscription(const HttpRequest& request, HttpRespond& respond);
  HttpResponse created_response(const SubscriptionRegistry::CreateResult& result, const std::string& generated_secret);
  HttpResponse list_subscriptions(const HttpRequest& request);
  HttpResponse get_subscription(const std::string& id) const;
  std::optional<HttpResponse> delete_subscription(const std::string& id, HttpRespond& respond);
  std::optional<HttpResponse> check_webhook(boost::json::value& object, std::string& generated_secret) const;
  // Topics (http_topics.cpp).
  HttpResponse list_topics(const HttpRequest& request) const;
  // Webhook deliveries (http_deliveries.cpp).
  HttpResponse get_deliveries(const std::string& id, const HttpRequest& request) const;
  HttpResponse retry_deliveries(const std::string& id, std::string_view delivery_id);

  std::optional<HttpResponse> page_limit(const HttpRequest& request, std::size_t& limit) const;
  std::int64_t now_ms() const { return clock_(); }

  broker::Broker& broker_;
  SubscriptionRegistry& subscriptions_;
  store::EventStore* store_;
  ApiLimits limits_;
  Clock clock_;
  std::atomic<bool> ready_{true};
  std::function<bool()> ready_check_;  // empty: ready_ alone

  std::unique_ptr<IdempotencyIndex> own_idempotency_;  // when no publisher was given
  std::unique_ptr<PublishService> own_publisher_;
  PublishService* publisher_;
  IdempotencyIndex* idempotency_;  // the publisher's

  const auth::KeyRingSlot* keys_ = nullptr;  // null: no API keys required
  WebhookService* webhooks_ = nullptr;        // null: webhooks stored, not delivered

  limits::KeyedRateLimiter ip_rate_;           // per client IP, every request but the probes
  std::function<void(std::string_view)> on_auth_refused_;  // metrics, may be empty
  mutable limits::KeyedRateLimiter key_rate_;  // per API key name, in authorize() (thread-safe)
};

}  // namespace sluice::server
