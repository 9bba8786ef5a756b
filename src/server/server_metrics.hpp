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
#include "sluice/metrics/session_metrics.hpp"
#include "sluice/net/connection_metrics.hpp"
#include "sluice/server/http_types.hpp"

namespace sluice::server::detail {

/// Why a connection was refused (sluice_connections_rejected_total's `reason`).
enum class Rejection : std::uint8_t { limits, origin, auth, bad_upgrade };

/// The server's own series, registered at construction. Updates are
/// thread-safe and lock-free (the first request of a new route and status,
/// or the first close with a new code, registers its series under the
/// registry's lock, once). Lives as long as the server; every series and
/// the structs handed to the net and session layers live as long as it.
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
  /// An event reached its subscribers on one loop (counted once per loop
  /// that had any): the publish-to-deliver latency.
  void delivered(std::int64_t publish_time_ms, std::int64_t now_ms);

  /// One finished webhook attempt: `outcome` "delivered", "retry" or
  /// "dead_letter", how long the request took, and (delivered) how long
  /// after the event's publish.
  void webhook_attempt(std::string_view outcome, double seconds, double since_publish);

  /// A connection refused for `why`.
  void rejected(Rejection why) noexcept { rejected_[static_cast<std::size_t>(why)]->add(); }
  /// A credential or a grant refused; `reason` one of kAuthReasons (else "other").
  void auth_refused(std::string_view reason) noexcept;
  /// A WebSocket connection that was open ended, having sent `code` (1006: none).
  void closed(std::uint16_t code);
  /// One group commit of the durable store: its events and its duration.
  void store_commit(std::size_t events, double seconds) noexcept;

  metrics::Registry& registry() noexcept { return registry_; }
  /// What the connections (net/) and the sessions count.
  const net::ConnectionMetrics& connection_metrics() const noexcept { return net_; }
  const metrics::SessionMetrics& session_metrics() const noexcept { return sessions_; }

  metrics::Counter& connections_accepted;
  /// Open connections per WebSocket transport (HTTP is the rest of sluice_connections).
  metrics::Gauge websocket_connections, centrifugo_connections;

  static constexpr std::array<std::string_view, 11> kAuthReasons = {
      "missing", "invalid_key", "malformed", "wrong_algorithm", "bad_signature", "invalid_claims",
      "expired", "not_yet_valid", "not_configured", "forbidden", "other"};

 private:
  static constexpr std::size_t kRoutes = 13, kCodeSlots = 20;  // 19 known codes + "other"
  static constexpr std::size_t kCloseSlots = 33;               // 32 known close codes + "other"
  metrics::Registry& registry_;
  metrics::Counter& events_published_;
  metrics::Histogram& publish_latency_;
  metrics::Histogram& deliver_latency_;
  metrics::Counter& webhook_delivered_;
  metrics::Counter& webhook_retry_;
  metrics::Counter& webhook_dead_letter_;
  metrics::Histogram& webhook_latency_;
  metrics::Histogram& webhook_delivery_latency_;
  metrics::Histogram& commit_latency_;
  metrics::Histogram& commit_events_;
  std::array<metrics::Counter*, 4> rejected_{};
  std::array<metrics::Counter*, kAuthReasons.size()> auth_{};
  net::ConnectionMetrics net_;
  metrics::SessionMetrics sessions_;
  std::array<std::array<std::atomic<metrics::Counter*>, kCodeSlots>, kRoutes> http_{};
  std::array<std::atomic<metrics::Counter*>, kCloseSlots> closed_{};
  /// The gauge of a WebSocket's transport, by its upgrade target.
  metrics::Gauge& transport_gauge(bool centrifugo) noexcept;
};

/// Wraps `inner`: GET /metrics is answered with the registry's text when
/// `authorize(request)` gives no refusal; every other request goes to `inner`.
HttpHandler with_metrics(HttpHandler inner, ServerMetrics& metrics,
                         std::function<std::optional<HttpResponse>(const HttpRequest&)> authorize);

}  // namespace sluice::server::detail
