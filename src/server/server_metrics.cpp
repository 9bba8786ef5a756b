#include "server/server_metrics.hpp"

#include <algorithm>
#include <string>

namespace sluice::server::detail {

namespace {

// Route templates: a label per route, never per id (bounded cardinality).
constexpr std::array<std::string_view, 10> kRouteNames = {
    "/v1/events", "/v1/events/batch", "/v1/events/{id}", "/v1/subscriptions", "/v1/subscriptions/{id}",
    "/v1/subscriptions/{id}/*", "/metrics", "probe", "/", "other"};

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
  return 9;
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

}  // namespace

ServerMetrics::ServerMetrics(metrics::Registry& registry)
    : connections_accepted(registry.counter("sluice_connections_accepted_total", "TCP connections accepted.")),
      registry_(registry),
      events_published_(registry.counter("sluice_events_published_total", "Events published (committed).")),
      publish_latency_(registry.histogram("sluice_publish_to_fanout_seconds",
                                          "Time from an event's publish to its fan-out on the event loops.",
                                          metrics::exponential_buckets(0.0005, 2, 14))),
      webhook_delivered_(registry.counter("sluice_webhook_attempts_total", "Webhook requests, by what came of them.",
                                          {{"outcome", "delivered"}})),
      webhook_retry_(registry.counter("sluice_webhook_attempts_total", "Webhook requests, by what came of them.",
                                      {{"outcome", "retry"}})),
      webhook_dead_letter_(registry.counter("sluice_webhook_attempts_total", "Webhook requests, by what came of them.",
                                            {{"outcome", "dead_letter"}})),
      webhook_latency_(registry.histogram("sluice_webhook_request_seconds",
                                          "Duration of webhook requests, from sending to the response or failure.",
                                          metrics::exponential_buckets(0.001, 2, 15))) {}

void ServerMetrics::webhook_attempt(std::string_view outcome, double seconds) {
  if (outcome == "delivered") {
    webhook_delivered_.add();
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
