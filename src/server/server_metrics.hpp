// What `sluice serve` exposes at /metrics (Prometheus text format 0.0.4):
// the series the server updates on its paths, and the /metrics route.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "sluice/metrics/registry.hpp"
#include "sluice/server/http_types.hpp"

namespace sluice::server::detail {

/// The server's own series, registered at construction. Updates are
/// thread-safe and lock-free (the first request of a new route and status
/// registers its series under the registry's lock, once).
class ServerMetrics {
 public:
  explicit ServerMetrics(metrics::Registry& registry);

  /// The route label index of `path` (a template, never an id). Pure.
  static std::size_t route_of(std::string_view path) noexcept;
  /// One HTTP request on `route` (route_of) answered with `status`.
  void http_request(std::size_t route, unsigned status);
  /// Events published, and how long after their publish time they reached
  /// their fan-out (counted once per event).
  void published(std::int64_t publish_time_ms, std::int64_t now_ms);

  /// One finished webhook attempt: `outcome` "delivered", "retry" or
  /// "dead_letter", and how long the request took.
  void webhook_attempt(std::string_view outcome, double seconds);

  metrics::Registry& registry() noexcept { return registry_; }
  metrics::Counter& connections_accepted;

 private:
  static constexpr std::size_t kRoutes = 10, kCodeSlots = 20;  // 19 known codes + "other"
  metrics::Registry& registry_;
  metrics::Counter& events_published_;
  metrics::Histogram& publish_latency_;
  metrics::Counter& webhook_delivered_;
  metrics::Counter& webhook_retry_;
  metrics::Counter& webhook_dead_letter_;
  metrics::Histogram& webhook_latency_;
  std::array<std::array<std::atomic<metrics::Counter*>, kCodeSlots>, kRoutes> http_{};
};

/// Wraps `inner`: GET /metrics is answered with the registry's text when
/// `authorize(request)` gives no refusal; every other request goes to `inner`.
HttpHandler with_metrics(HttpHandler inner, ServerMetrics& metrics,
                         std::function<std::optional<HttpResponse>(const HttpRequest&)> authorize);

}  // namespace sluice::server::detail
