#include "server/server_metrics.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace sluice::server::detail {

namespace {

// Route templates: a label per route, never per id (bounded cardinality).
constexpr std::array<std::string_view, 13> kRouteNames = {
    "/v1/events", "/v1/events/batch", "/v1/events/{id}", "/v1/subscriptions", "/v1/subscriptions/{id}",
    "/v1/subscriptions/{id}/*", "/metrics", "probe", "/", "/v1/topics", "/ui", "/api/{method}", "other"};

}  // namespace

std::size_t ServerMetrics::route_of(std::string_view path) noexcept {
  constexpr std::string_view kEvents = "/v1/events", kSubscriptions = "/v1/subscriptions";
  if (path == kEvents) return 0;
  if (path == "/v1/events/batch") return 1;
  if (path.starts_with("/v1/events/")) return 2;
  if (path == kSubscriptions) return 3;
  if (path.starts_with("/v1/subscriptions/")) {
    return path.find('/', kSubscriptions.size() + 1) == std::string_view::npos ? 4 : 5;
  }
  if (path == "/metrics") return 6;
  if (path == "/health" || path == "/ready" || path == "/live") return 7;
  if (path == "/") return 8;
  if (path == "/v1/topics") return 9;
  if (path == "/ui" || path.starts_with("/ui/")) return 10;
  if (path.starts_with("/api/")) return 11;
  return 12;
}

namespace {

constexpr std::array<unsigned, 19> kKnownCodes = {200, 201, 204, 400, 401, 403, 404, 405, 409, 411,
                                             413, 415, 426, 429, 431, 500, 503, 504, 507};
std::size_t code_index(unsigned status) {
  for (std::size_t i = 0; i < kKnownCodes.size(); ++i) {
    if (kKnownCodes[i] == status) return i;
  }
  return kKnownCodes.size();  // "other"
}

// Close codes a server sends (RFC 6455's, Sluice's, Centrifugo's): a label
// each; anything else (a peer's own code echoed) is "other".
constexpr std::array<std::uint16_t, 32> kCloseCodes = {
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3001, 3004,
    3005, 3008, 3012, 3013, 3500, 3501, 3502, 3503, 3507, 3509, 4008, 4401, 4403, 4404, 4429, 4000};

std::vector<double> seconds_buckets(double start) { return metrics::exponential_buckets(start, 2, 14); }

}  // namespace

ServerMetrics::ServerMetrics(metrics::Registry& registry)
    : connections_accepted(registry.counter("sluice_connections_accepted_total", "TCP connections accepted.")),
      registry_(registry),
      events_published_(registry.counter("sluice_events_published_total", "Events published (committed).")),
      publish_latency_(registry.histogram("sluice_publish_to_fanout_seconds",
                                          "Time from an event's publish to its fan-out on the event loops.",
                                          seconds_buckets(0.0005))),
      deliver_latency_(registry.histogram(
          "sluice_publish_to_deliver_seconds",
          "Time from an event's publish until it is queued on every subscriber of one event loop (once per loop with subscribers).",
          seconds_buckets(0.0005))),
      webhook_delivered_(registry.counter("sluice_webhook_attempts_total", "Webhook requests, by what came of them.",
                                          {{"outcome", "delivered"}})),
      webhook_retry_(registry.counter("sluice_webhook_attempts_total", "Webhook requests, by what came of them.",
                                      {{"outcome", "retry"}})),
      webhook_dead_letter_(registry.counter("sluice_webhook_attempts_total", "Webhook requests, by what came of them.",
                                            {{"outcome", "dead_letter"}})),
      webhook_latency_(registry.histogram("sluice_webhook_request_seconds",
                                          "Duration of webhook requests, from sending to the response or failure.",
                                          metrics::exponential_buckets(0.001, 2, 15))),
      webhook_delivery_latency_(registry.histogram(
          "sluice_webhook_delivery_seconds",
          "Time from an event's publish to its webhook delivery (the 2xx answer), retries included.",
          metrics::exponential_buckets(0.001, 2, 20))),
      commit_latency_(registry.histogram("sluice_store_commit_seconds",
                                         "Duration of one group commit of the durable store (one transaction, one fsync).",
                                         seconds_buckets(0.0001))),
      commit_events_(registry.histogram("sluice_store_commit_events", "Events written by one group commit.",
                                        metrics::exponential_buckets(1, 2, 13))) {
  const std::string rejected = "sluice_connections_rejected_total",
                    rejected_help = "Connections refused, by reason (limits, origin, auth, bad_upgrade).";
  rejected_[static_cast<std::size_t>(Rejection::limits)] = &registry.counter(rejected, rejected_help, {{"reason", "limits"}});
  rejected_[static_cast<std::size_t>(Rejection::origin)] = &registry.counter(rejected, rejected_help, {{"reason", "origin"}});
  rejected_[static_cast<std::size_t>(Rejection::auth)] = &registry.counter(rejected, rejected_help, {{"reason", "auth"}});
  rejected_[static_cast<std::size_t>(Rejection::bad_upgrade)] =
      &registry.counter(rejected, rejected_help, {{"reason", "bad_upgrade"}});
  for (std::size_t i = 0; i < kAuthReasons.size(); ++i) {
    auth_[i] = &registry.counter("sluice_auth_refusals_total", "Credentials and grants refused, by reason.",
                                 {{"reason", std::string(kAuthReasons[i])}});
  }
  net_.messages_received = &registry.counter("sluice_websocket_messages_received_total",
                                             "WebSocket data messages received.");
  net_.messages_sent = &registry.counter("sluice_websocket_messages_sent_total", "WebSocket data messages queued to send.");
  net_.bytes_received = &registry.counter("sluice_websocket_received_bytes_total",
                                          "Bytes read from WebSocket connections after the upgrade (frames as on the wire).");
  net_.bytes_sent = &registry.counter("sluice_websocket_sent_bytes_total",
                                      "Bytes written to WebSocket connections after the upgrade (frames as on the wire).");
  net_.slow_consumer_closes = &registry.counter("sluice_slow_consumer_closes_total",
                                                "Connections closed because their send queue was full (4008, 3008).");
  net_.invalid_upgrades = rejected_[static_cast<std::size_t>(Rejection::bad_upgrade)];
  net_.send_queue_bytes = &registry.gauge("sluice_send_queue_bytes", "Bytes waiting in the connections' send queues.");
  // The route a connection keeps: 1 for Centrifugo's path, 0 for the rest.
  net_.opened = [this](std::string_view target) -> std::uint8_t {
    const bool centrifugo = target.substr(0, target.find('?')) == "/connection/websocket";
    transport_gauge(centrifugo).add(1);
    return centrifugo ? 1 : 0;
  };
  net_.closed = [this](std::uint8_t route, std::uint16_t code) {
    transport_gauge(route == 1).add(-1);
    closed(code);
  };
  sessions_.deliveries = &registry.counter("sluice_deliveries_total", "Events queued on a subscriber's connection.");
  sessions_.dropped = &registry.counter("sluice_deliveries_dropped_total",
                                        "Events a subscriber did not get under the drop policy (reported by a gap marker).");
  sessions_.gap_markers = &registry.counter("sluice_gap_markers_total", "Gap markers sent (drop policy).");
  sessions_.rejected_limits = rejected_[static_cast<std::size_t>(Rejection::limits)];
  sessions_.rejected_auth = rejected_[static_cast<std::size_t>(Rejection::auth)];
  sessions_.auth_forbidden = auth_[9];
  static_assert(kAuthReasons[9] == "forbidden");
}

metrics::Gauge& ServerMetrics::transport_gauge(bool centrifugo) noexcept {
  return centrifugo ? centrifugo_connections : websocket_connections;
}

void ServerMetrics::auth_refused(std::string_view reason) noexcept {
  std::size_t i = 0;
  while (i + 1 < kAuthReasons.size() && kAuthReasons[i] != reason) ++i;
  auth_[i]->add();
}

void ServerMetrics::closed(std::uint16_t code) {
  std::size_t slot = 0;
  while (slot < kCloseCodes.size() && kCloseCodes[slot] != code) ++slot;
  auto& cell = closed_[slot];
  metrics::Counter* counter = cell.load(std::memory_order_acquire);
  if (!counter) {
    counter = &registry_.counter("sluice_connections_closed_total",
                                 "WebSocket connections closed, by the close code the server sent (1006: none).",
                                 {{"code", slot < kCloseCodes.size() ? std::to_string(kCloseCodes[slot]) : "other"}});
    cell.store(counter, std::memory_order_release);  // two threads may race here: both get the same series
  }
  counter->add();
}

void ServerMetrics::store_commit(std::size_t events, double seconds) noexcept {
  commit_latency_.observe(seconds);
  commit_events_.observe(static_cast<double>(events));
}

void ServerMetrics::webhook_attempt(std::string_view outcome, double seconds, double since_publish) {
  if (outcome == "delivered") {
    webhook_delivered_.add();
    webhook_delivery_latency_.observe(since_publish);
  } else if (outcome == "retry") {
    webhook_retry_.add();
  } else {
    webhook_dead_letter_.add();
  }
  webhook_latency_.observe(seconds);
}

void ServerMetrics::http_request(std::size_t route, unsigned status) {
  const std::size_t code = code_index(status);
  auto& cell = http_[route][code];
  metrics::Counter* counter = cell.load(std::memory_order_acquire);
  if (!counter) {
    counter = &registry_.counter("sluice_http_requests_total", "HTTP requests answered, by route and status code.",
                                 {{"route", std::string(kRouteNames[route])},
                                  {"code", code < kKnownCodes.size() ? std::to_string(kKnownCodes[code]) : "other"}});
    cell.store(counter, std::memory_order_release);  // two threads may race here: both get the same series
  }
  counter->add();
}

void ServerMetrics::published(std::int64_t publish_time_ms, std::int64_t now_ms) {
  events_published_.add();
  publish_latency_.observe(static_cast<double>(std::max<std::int64_t>(0, now_ms - publish_time_ms)) / 1000.0);
}

void ServerMetrics::delivered(std::int64_t publish_time_ms, std::int64_t now_ms) {
  deliver_latency_.observe(static_cast<double>(std::max<std::int64_t>(0, now_ms - publish_time_ms)) / 1000.0);
}

HttpHandler with_metrics(HttpHandler inner, ServerMetrics& metrics,
                         std::function<std::optional<HttpResponse>(const HttpRequest&)> authorize) {
  return [inner = std::move(inner), &metrics, authorize = std::move(authorize)](const HttpRequest& request,
                                                                               HttpRespond respond) {
    if (request.path != "/metrics") return inner(request, std::move(respond));
    if (request.method != "GET") return respond(HttpResponse::error(405, "method_not_allowed", "/metrics takes GET"));
    if (auto refused = authorize(request)) return respond(std::move(*refused));
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = metrics.registry().render();
    respond(std::move(response));
  };
}

}  // namespace sluice::server::detail
