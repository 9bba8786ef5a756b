// What a WebSocket upgrade request must pass before its handshake (SPEC §3
// Security): a known route, an allowed Origin, and for a subscription
// stream a read key or a token whose patterns cover the subscription's
// topics. /v1/ws authenticates in its session instead (InbandSession), so a
// refusal there is a 4401 close with a reason a client can read.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/auth/connection_auth.hpp"
#include "sluice/net/connection.hpp"
#include "server/server_metrics.hpp"
#include "sluice/server/subscription_registry.hpp"

namespace sluice::server::detail {

/// /v1/subscriptions/{id}/stream[?since=N][&token=T], checked before the
/// upgrade so a bad parameter is a 400, not a close after `connected`.
struct StreamTarget {
  std::string subscription_id;
  std::optional<std::uint64_t> since;
  std::string error;  ///< set when the path is a stream's but a parameter is bad
};

/// True if `target` is a stream's (then `out` holds it); false otherwise,
/// with out.error set if it is a stream's path with a bad parameter. Pure.
bool parse_stream_target(std::string_view target, StreamTarget& out);

/// The credential an upgrade request brings: `Authorization: Bearer X`, else
/// the percent-decoded ?token=X (browsers cannot set headers on a
/// WebSocket); "" if neither. Pure.
std::string upgrade_credential(const net::ParsedRequest& request);

/// Decides upgrades for one server. check() and set_allowed_origins() are
/// thread-safe. Everything given by reference must outlive the gate.
class UpgradeGate {
 public:
  /// `auth` null: nothing is authenticated. `metrics` (may be null) counts
  /// each refusal by reason.
  UpgradeGate(std::vector<std::string> allowed_origins, const auth::ConnectionAuthenticator* auth,
              const SubscriptionRegistry& subscriptions, ServerMetrics* metrics = nullptr)
      : allowed_origins_(std::make_shared<const std::vector<std::string>>(std::move(allowed_origins))),
        auth_(auth),
        subscriptions_(subscriptions),
        metrics_(metrics) {}

  /// nullopt to go on with the handshake, or the HTTP refusal: 404 unknown
  /// route, 400 bad parameter, 403 origin not allowed, and for streams 401
  /// (with WWW-Authenticate) or 403. On any loop.
  std::optional<net::RouteRefusal> check(const net::ParsedRequest& request) const;

  /// The origins upgrades are checked against from now on (SIGHUP); an
  /// upgrade being checked finishes with the list it started with.
  void set_allowed_origins(std::vector<std::string> origins);

 private:
  std::optional<net::RouteRefusal> decide(const net::ParsedRequest& request, Rejection& why) const;
  std::optional<net::RouteRefusal> check_stream(const net::ParsedRequest& request, const StreamTarget& stream) const;

  mutable std::mutex origins_mutex_;  // guards the pointer only; the list itself is immutable
  std::shared_ptr<const std::vector<std::string>> allowed_origins_;
  const auth::ConnectionAuthenticator* auth_;
  const SubscriptionRegistry& subscriptions_;
  ServerMetrics* metrics_;
};

}  // namespace sluice::server::detail
