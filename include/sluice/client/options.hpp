// Everything a Client can be told, as one settings struct with documented
// defaults (uWebSockets' lesson), validated at construction: an invalid value
// is a clear error (ClientOptions::validate(), or std::invalid_argument from
// the Client constructor), never a crash.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/client/auth.hpp"
#include "sluice/client/backoff.hpp"
#include "sluice/client/session.hpp"

namespace sluice::client {

using std::chrono::milliseconds;

/// When to reconnect, and how long to wait.
struct ReconnectOptions {
  bool enabled = true;          ///< false: the first connection that ends (or fails) closes the client
  BackoffOptions backoff;       ///< 500 ms floor, 20 s max, factor 2, full jitter
  /// Consecutive failed attempts before giving up (client closed with Error::gave_up); 0 = forever.
  std::uint32_t max_attempts = 0;
  /// A connection that stayed open this long resets the attempt count. So
  /// does one that made progress sooner: session hook done, then a message
  /// received (the next delay is then drawn for attempt 1: floor and jitter stay).
  milliseconds stable_after{10'000};
  /// The shortest wait after a "slow down" answer (4429, 1013, HTTP 429).
  milliseconds rate_limited_delay{5'000};
  /// Close codes from the server that end the client for good (auth failure, gone, policy).
  std::vector<std::uint16_t> terminal_close_codes{4401, 4403, 4404, 1008};
  /// Handshake response statuses that end the client for good.
  std::vector<unsigned> terminal_http_statuses{401, 403, 404};
  /// Close codes and statuses that retry after at least rate_limited_delay.
  std::vector<std::uint16_t> rate_limited_close_codes{4429, 1013};
  std::vector<unsigned> rate_limited_http_statuses{429};
};

/// Keeping a connection honest: our pings, and the server's.
struct LivenessOptions {
  /// Ping when nothing arrived for this long; 0: no pings.
  milliseconds ping_interval{15'000};
  /// After our ping, end the connection (and reconnect) if nothing arrives for this long.
  milliseconds pong_timeout{10'000};
  /// For servers that ping on a schedule: end the connection (and reconnect)
  /// when no ping arrived from the server for this long. 0: not checked.
  milliseconds server_ping_timeout{0};
};

struct TimeoutOptions {
  milliseconds connect{10'000};    ///< DNS + TCP (+ proxy tunnel) + TLS
  milliseconds handshake{10'000};  ///< the WebSocket upgrade
  milliseconds close{5'000};       ///< the close handshake; close() waits at most about this long
};

/// wss:// only. Verification is on by default, against the system CAs; SNI
/// and the host name check use the URL's host.
struct TlsOptions {
  bool verify_peer = true;   ///< false: accept any certificate (testing only)
  std::string ca_file;       ///< PEM bundle to trust instead of the system's
  /// A ready context instead (client certificates, pinning...); overrides the two above.
  std::shared_ptr<boost::asio::ssl::context> context;
};

/// An HTTP CONNECT proxy, for ws:// and wss:// alike. A wss:// connection's
/// TLS runs inside the tunnel, end to end with the server: SNI and the
/// certificate check name the URL's host, never the proxy.
struct ProxyOptions {
  /// "http://host:port". Empty: from the environment (see use_environment).
  std::string url;
  /// When url is empty, read http_proxy / HTTP_PROXY (ws://) or https_proxy /
  /// HTTPS_PROXY (wss://), skipping hosts listed in no_proxy / NO_PROXY and
  /// loopback hosts.
  bool use_environment = true;
  /// Extra "Name: value" headers for the CONNECT request (e.g. Proxy-Authorization).
  std::vector<std::pair<std::string, std::string>> headers;
};

struct SessionOptions {
  /// Runs after every (re)connect, before the offline queue is flushed. Empty: none.
  SessionHook hook;
  /// Hook runs on one connection before it is recycled (closed and reconnected).
  std::uint32_t max_attempts = 3;
  /// A pending hook that takes longer than this counts as failed.
  milliseconds timeout{10'000};
};

struct ClientOptions {
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra handshake headers
  std::vector<std::string> subprotocols;  ///< offered, in order of preference
  std::string origin;                     ///< Origin header; empty: not sent
  /// Other servers of the same cluster (e.g. Sluice nodes sharing Redis),
  /// ws:// or wss:// like the main URL: each reconnect moves to the next one
  /// in turn (main URL, then these, then the main URL again), so a client
  /// whose node died resumes on another. Only host and port are taken from
  /// them: the request path is the main URL's. Not with a proxy.
  std::vector<std::string> failover_urls;
  bool deflate = false;                   ///< offer permessage-deflate
  /// The credential (Authorization: Bearer): an API key, a token, or a token
  /// provider asked before every (re)connect and before expiry (auth.hpp).
  /// `headers` must then hold no Authorization header of its own.
  ClientAuth auth;

  TimeoutOptions timeouts;
  TlsOptions tls;
  ProxyOptions proxy;
  ReconnectOptions reconnect;
  LivenessOptions liveness;
  SessionOptions session;

  /// Hold sends while not open, to flush them in order after the next (re)connect.
  bool offline_queue = true;
  /// Bytes accepted by send() but not yet handed to the transport: the offline
  /// queue while disconnected, and the backlog while the connection's own send
  /// queue is full. Beyond it send() fails fast with queue_full.
  std::size_t max_queued_bytes = 1024 * 1024;
  /// The connection's own send queue (frames handed over, not yet written).
  std::size_t send_queue_limit = 4 * 1024 * 1024;
  /// Largest message accepted from the server (1009 beyond).
  std::size_t max_message_size = 16 * 1024 * 1024;

  /// Fixes the jitter's random seed (tests); nullopt: random.
  std::optional<std::uint64_t> random_seed;

  /// "" when every field is valid, otherwise a message naming the first bad one.
  std::string validate() const;
};

}  // namespace sluice::client
