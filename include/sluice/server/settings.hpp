// Every setting of `sluice serve`, with documented defaults, validated at start.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sluice/broker/history_policy.hpp"
#include "sluice/net/connection.hpp"
#include "sluice/store/event_store.hpp"
#include "sluice/server/webhook_settings.hpp"

namespace sluice::server {

struct ServerSettings {
  std::string address = "127.0.0.1";     ///< loopback by default (secure default)
  std::uint16_t port = 8080;             ///< 0: any free port
  std::size_t threads = 0;               ///< event loops; 0: one per core
  std::size_t max_connections = 20000;   ///< beyond: 503 on the upgrade
  std::size_t send_queue_limit = 1024 * 1024;       ///< bytes queued per connection
  net::OverflowPolicy overflow = net::OverflowPolicy::close;  ///< close 4008, or drop and mark the gap
  std::size_t max_message_size = 1024 * 1024;       ///< largest message a client may send
  std::size_t max_header_bytes = 8192;              ///< largest HTTP request head
  std::size_t max_body_bytes = 1024 * 1024;         ///< largest HTTP request body
  std::size_t max_subscriptions = 256;              ///< per connection
  /// HTTP requests per second per client IP (token bucket; health probes are
  /// exempt); over it: 429 with Retry-After. 0: no limit.
  double rate_limit = 0;
  double rate_burst = 0;                            ///< requests saved up; 0: max(1, rate_limit)
  /// HTTP requests per second per API key (by the key's name), counted once
  /// the key is valid; over it: 429 with Retry-After. 0: no limit.
  double key_rate_limit = 0;
  double key_rate_burst = 0;                        ///< requests saved up; 0: max(1, key_rate_limit)
  /// Topics the server keeps at most (they are never removed while it runs);
  /// a publish that would create one more is refused (HTTP 507 / in-band
  /// too_many_topics). 0: no limit.
  std::size_t max_topics = 100'000;
  /// WebSocket connections one client IP may hold at once; beyond: closed
  /// with 4429. 0: no limit. 1000 is 5% of max_connections: one address
  /// cannot fill the server, and a NAT's worth of users still fits.
  std::size_t max_connections_per_ip = 1000;
  /// New WebSocket connections per second per client IP (token bucket),
  /// beyond: closed with 4429. 0: no limit. Far above what one client
  /// needs (it reconnects with backoff); the burst lets the clients behind
  /// one NAT reconnect together after a restart.
  double new_connections_per_ip_per_second = 50;
  double new_connections_per_ip_burst = 200;        ///< 0: max(1, the rate)
  /// Apply the two per-IP connection limits to loopback peers (127.0.0.0/8,
  /// ::1) too. Off by default: a local peer is the operator's own (a reverse
  /// proxy, whose one address carries every client; a benchmark opening
  /// thousands of connections), and limiting it would limit everyone.
  bool limit_loopback = false;
  std::chrono::milliseconds ping_interval{25'000};  ///< server pings when the peer was quiet this long
  std::chrono::milliseconds pong_timeout{10'000};   ///< no sign of life after a ping: closed
  std::chrono::milliseconds idle_timeout{0};        ///< no message for this long: closed; 0: never
  std::chrono::milliseconds handshake_timeout{10'000};  ///< slowloris bound
  std::chrono::milliseconds close_timeout{5'000};   ///< close handshake bound
  std::chrono::milliseconds shutdown_drain{10'000}; ///< on SIGINT/SIGTERM: drain up to this long
  std::size_t history_max_events = 10'000;             ///< per topic, in memory and in the store
  std::size_t history_max_bytes = 16 * 1024 * 1024;    ///< per topic (sizes of the event frames)
  std::chrono::milliseconds history_max_age{24LL * 3600 * 1000};  ///< older events leave history
  /// Per-topic-pattern history bounds, each "PATTERN=count:N,bytes:SIZE,age:DURATION"
  /// (see broker::HistoryPolicy::parse); the most specific matching pattern wins.
  std::vector<std::string> history_overrides;
  /// How often the store is trimmed to what history keeps (sqlite store).
  std::chrono::milliseconds retention_interval{1000};
  std::chrono::milliseconds idempotency_window{24LL * 3600 * 1000};  ///< a repeated idempotencyKey within it is not published again
  std::size_t idempotency_max_keys = 100'000;  ///< keys kept in memory (older ones: looked up in the store)
  std::string store = "sqlite";          ///< "sqlite" (durable, in data_dir) or "memory"
  std::string data_dir = "sluice-data";  ///< where the sqlite store lives
  store::Durability durability = store::Durability::fsync;  ///< when a publish counts as stored
  /// Empty: the embedded engine (the store above). One or more
  /// "redis[s]://[user:password@]host:port[/db]": events, offsets, epochs and
  /// idempotency keys in Redis, shared with the other nodes using it, the
  /// topics spread over the servers listed (shards; every node lists them in
  /// the same order) (docs/scale-out.md); subscriptions and webhook state
  /// too, on the first server.
  std::vector<std::string> engine;
  /// The Redis password when it is not in the URL (SLUICE_ENGINE_PASSWORD); never logged.
  std::string engine_password;
  /// rediss:// engines: a PEM CA bundle trusted instead of the system's
  /// store (""), and a client certificate with its key for a Redis that asks
  /// for one (tls-auth-clients); both or neither.
  std::string engine_ca_file;
  std::string engine_cert_file;
  std::string engine_key_file;
  /// With an engine: how often every topic's Stream is trimmed to its
  /// history bounds besides at its publishes (0: only at publishes).
  std::chrono::milliseconds engine_trim_interval{60'000};
  bool deflate = true;                   ///< accept permessage-deflate offers
  /// Origins a browser upgrade (one with an Origin header) may come from:
  /// exact origins ("https://app.example.com"), "https://*.example.com" for
  /// its subdomains, or "*" for any. Empty: only the server's own origin
  /// (the Origin's host equals the Host header). Clients that send no
  /// Origin (not browsers) are not checked.
  std::vector<std::string> allowed_origins;
  /// Origins the HTTP API answers cross-origin requests from (CORS, with
  /// preflight), same forms as allowed_origins. Empty: none.
  std::vector<std::string> cors_origins;
  /// API keys file (`sluice key create`): when set, the HTTP API and
  /// subscription streams require a key with the route's scope.
  std::string keys_file;
  /// HS256 secret file for connection tokens (its contents less one trailing newline).
  std::string jwt_secret_file;
  /// PEM public key file for RS256 (RSA) or ES256 (P-256) connection tokens.
  std::string jwt_public_key;
  std::chrono::seconds jwt_leeway{0};    ///< clock skew tolerated on exp and nbf (0 to 300 s)
  /// On /connection/websocket: how long an expired connection or
  /// subscription token goes on, for the SDK's refresh to arrive (0 to 300 s).
  std::chrono::seconds expired_close_delay{25};
  /// Without keys or a token key nothing authenticates, so the server only
  /// listens on loopback unless this is set.
  bool insecure = false;
  /// Log every HTTP request answered (method, path without the query,
  /// status, duration, bytes, remote address) at info level.
  bool access_log = false;
  std::string tls_cert;                  ///< PEM chain: serve wss:// and https://
  std::string tls_key;                   ///< PEM key for tls_cert
  WebhookSettings webhook;               ///< webhook delivery: allowlist, bounds, defaults

  /// A clear message naming the first invalid setting, or "" when all are valid.
  std::string validate() const;
  /// True when `address` is loopback (127.0.0.0/8, ::1, "localhost").
  bool loopback_only() const;
  /// True when clients must authenticate: a keys file or a token key is set.
  bool auth_required() const noexcept {
    return !keys_file.empty() || !jwt_secret_file.empty() || !jwt_public_key.empty();
  }
  /// The history bounds: the history_max_* defaults plus history_overrides
  /// (which must be valid: see validate()).
  broker::HistoryPolicy history_policy() const;
};

}  // namespace sluice::server
