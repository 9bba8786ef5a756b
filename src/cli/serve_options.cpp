// Every option of `sluice serve`, in one table. To add an option: add a
// field with its default to ServerSettings (or ServeConfig), then one entry
// here; the flag, the SLUICE_* variable, the config key, --print-config,
// `sluice config check` and the validation message all follow from it.
// Mark it .reloadable() only if SIGHUP really applies it (serve.cpp).
#include <cstdint>
#include <limits>

#include "cli/option_builders.hpp"
#include "sluice/engine/redis_url.hpp"

namespace sluice::cli {

namespace {

// A reference to one field of the config (its type picks the builder's parsing).
#define SLUICE_FIELD(member) [](ServeConfig& c) -> auto& { return c.member; }

constexpr std::size_t kNoMax = std::numeric_limits<std::size_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A token bucket's burst: 0 (the rate) or at least one request.
template <class F>
OptionSpec burst(std::string name, F field, std::string help) {
  OptionSpec s = options::number(std::move(name), field, 0, kInf, std::move(help), "0 (the rate) or a number >= 1");
  s.assign = [inner = s.assign, field](ServeConfig& c, const RawValue& raw) -> std::string {
    ServeConfig probe = c;
    if (auto why = inner(probe, raw); !why.empty()) return why;
    const double v = field(probe);
    if (v > 0 && v < 1) return "out of range";
    field(c) = v;
    return {};
  };
  return s;
}

std::string non_empty(const std::string& v) { return v.empty() ? "empty" : ""; }

std::string history_override(const std::string& v) {
  std::string why;
  return broker::HistoryPolicy::parse(v, why) ? std::string() : why;
}

// --engine: printed with its password masked (give the password with
// --engine-password or SLUICE_ENGINE_PASSWORD to keep it out of the file).
OptionSpec engine_option() {
  OptionSpec s = options::list(
      "engine", SLUICE_FIELD(server.engine), ',',
      "Where events, offsets and epochs live: none (the embedded store) or 'redis://[user:password@]host:port[/db]' "
      "(rediss:// for TLS; shared by several nodes; repeatable: Redis shards, the topics spread over them, listed "
      "in the same order on every node; docs/scale-out.md)",
      "URLs redis[s]://[user:password@]host:port[/db]", [](const std::string& v) -> std::string {
        std::string why;
        return engine::parse_redis_url(v, why) ? std::string() : why;
      });
  s.toml = [](const ServeConfig& c) {
    std::string out = "[";
    for (std::size_t i = 0; i < c.server.engine.size(); ++i) {
      out += (i ? ", " : "") + toml_quote(engine::mask_redis_password(c.server.engine[i]));
    }
    return out + "]";
  };
  return s;
}

}  // namespace

std::vector<OptionSpec> serve_option_specs() {
  using namespace options;
  return {
      text("address", SLUICE_FIELD(server.address), "Address to listen on", "an IP address or host name", non_empty),
      integer<std::uint16_t>("port", SLUICE_FIELD(server.port), 0, 65535, "Port to listen on (0: any free port)"),
      integer<std::size_t>("threads", SLUICE_FIELD(server.threads), 0, 1024, "Event loops, one thread each (0: one per core)"),
      integer<std::size_t>("max-connections", SLUICE_FIELD(server.max_connections), 1, kNoMax,
                           "WebSocket connections beyond this get 503 on the upgrade (plain HTTP is still answered); "
                           "SIGHUP applies a change")
          .reloadable(),
      integer<std::size_t>("send-queue-limit", SLUICE_FIELD(server.send_queue_limit), 1024, UINT32_MAX,
                           "Bytes queued per connection before the overflow policy applies"),
      choice<net::OverflowPolicy>("overflow", SLUICE_FIELD(server.overflow),
                                  {{"close", net::OverflowPolicy::close}, {"drop", net::OverflowPolicy::drop}},
                                  "When a send queue is full: 'close' (4008 slow consumer) or 'drop' (skip, then mark the gap)"),
      integer<std::size_t>("max-message-size", SLUICE_FIELD(server.max_message_size), 128, kNoMax,
                           "Largest message a client may send, in bytes"),
      integer<std::size_t>("max-header-bytes", SLUICE_FIELD(server.max_header_bytes), 1024, kNoMax,
                           "Largest HTTP request head, in bytes"),
      integer<std::size_t>("max-body-bytes", SLUICE_FIELD(server.max_body_bytes), 0, kNoMax,
                           "Largest HTTP request body, in bytes"),
      integer<std::size_t>("max-subscriptions", SLUICE_FIELD(server.max_subscriptions), 1, kNoMax,
                           "Subscriptions per connection"),
      number("rate-limit", SLUICE_FIELD(server.rate_limit), 0, kInf,
             "HTTP requests per second per client IP, health probes exempt; over it: 429 (0: no limit); SIGHUP "
             "applies a change")
          .reloadable(),
      burst("rate-burst", SLUICE_FIELD(server.rate_burst), "Requests a client IP may save up for a burst (0: the rate)")
          .reloadable(),
      number("key-rate-limit", SLUICE_FIELD(server.key_rate_limit), 0, kInf,
             "HTTP requests per second per API key (with --keys-file), counted once the key is valid; over it: 429 "
             "(0: no limit); SIGHUP applies a change")
          .reloadable(),
      burst("key-rate-burst", SLUICE_FIELD(server.key_rate_burst),
            "Requests an API key may save up for a burst (0: the rate)")
          .reloadable(),
      integer<std::size_t>("max-topics", SLUICE_FIELD(server.max_topics), 0, kNoMax,
                           "Topics the server keeps at most; a publish creating one more is refused (HTTP 507, in-band "
                           "too_many_topics) (0: no limit); SIGHUP applies a change")
          .reloadable(),
      integer<std::size_t>("max-connections-per-ip", SLUICE_FIELD(server.max_connections_per_ip), 0, kNoMax,
                           "WebSocket connections one client IP may hold; beyond: closed with 4429 (0: no limit; "
                           "loopback exempt unless --limit-loopback); SIGHUP applies a change")
          .reloadable(),
      number("new-connections-per-ip-per-second", SLUICE_FIELD(server.new_connections_per_ip_per_second), 0, kInf,
             "New WebSocket connections per second per client IP; beyond: closed with 4429 (0: no limit; loopback "
             "exempt unless --limit-loopback); SIGHUP applies a change")
          .reloadable(),
      burst("new-connections-per-ip-burst", SLUICE_FIELD(server.new_connections_per_ip_burst),
            "New connections a client IP may save up for a burst (0: the rate)")
          .reloadable(),
      boolean("limit-loopback", SLUICE_FIELD(server.limit_loopback),
              "Apply the per-IP connection limits to loopback peers too (off: a local reverse proxy or benchmark is "
              "not limited)"),
      seconds("ping-interval", SLUICE_FIELD(server.ping_interval), 0, 1e9, "Seconds of quiet before the server pings (0: never)"),
      seconds("pong-timeout", SLUICE_FIELD(server.pong_timeout), 0, 1e9, "Seconds a pinged peer has to show life", true),
      seconds("idle-timeout", SLUICE_FIELD(server.idle_timeout), 0, 1e9,
              "Seconds without a client message before closing (0: never)"),
      seconds("handshake-timeout", SLUICE_FIELD(server.handshake_timeout), 0, 1e9,
              "Seconds to complete the TLS and HTTP upgrade", true),
      seconds("close-timeout", SLUICE_FIELD(server.close_timeout), 0, 1e9, "Seconds to complete a close handshake", true),
      seconds("shutdown-drain", SLUICE_FIELD(server.shutdown_drain), 0, 1e9, "Seconds to drain queues on SIGINT/SIGTERM"),
      integer<std::size_t>("history-max-events", SLUICE_FIELD(server.history_max_events), 0, kNoMax,
                           "Events kept per topic for replay; SIGHUP applies a change")
          .reloadable(),
      integer<std::size_t>("history-max-bytes", SLUICE_FIELD(server.history_max_bytes), 0, kNoMax,
                           "Bytes kept per topic for replay; SIGHUP applies a change")
          .reloadable(),
      seconds("history-max-age", SLUICE_FIELD(server.history_max_age), 0, 1e9,
              "Seconds an event stays in history; SIGHUP applies a change", true)
          .reloadable(),
      list("history", SLUICE_FIELD(server.history_overrides), ';',
           "History bounds for the topics matching a pattern, overriding --history-max-*: "
           "'PATTERN=count:N,bytes:SIZE,age:DURATION' (each bound optional; SIZE in bytes or with KiB/MiB/GiB, "
           "DURATION in s or with ms/s/m/h/d), e.g. 'orders.>=count:100000,age:7d'. Repeatable; the most specific "
           "pattern wins (literal token > '*' > '>', from the left); SIGHUP applies a change",
           "'PATTERN=count:N,bytes:SIZE,age:DURATION' with at least one bound", history_override)
          .reloadable(),
      seconds("retention-interval", SLUICE_FIELD(server.retention_interval), 0, 1e9,
              "Seconds between trims of the sqlite store to what history keeps (the --history-* bounds)", true),
      seconds("idempotency-window", SLUICE_FIELD(server.idempotency_window), 0, 1e9,
              "Seconds a publish's idempotencyKey is remembered: a repeat within it returns the first result", true),
      choice<std::string>("store", SLUICE_FIELD(server.store), {{"sqlite", "sqlite"}, {"memory", "memory"}},
                          "Where events and subscriptions live: 'sqlite' (durable, in --data-dir) or 'memory'"),
      text("data-dir", SLUICE_FIELD(server.data_dir), "Directory of the sqlite store (created if missing)",
           "a directory path", non_empty),
      choice<store::Durability>("durability", SLUICE_FIELD(server.durability),
                                {{"fsync", store::Durability::fsync}, {"os-buffered", store::Durability::os_buffered}},
                                "When a publish is acknowledged: 'fsync' (each batch synced to disk) or 'os-buffered' "
                                "(written to the OS: survives a crash of sluice, not a power loss)"),
      engine_option(),
      text("engine-password", SLUICE_FIELD(server.engine_password),
           "Password of the --engine Redis, when it is not in the URL")
          .masked(),
      text("engine-ca-file", SLUICE_FIELD(server.engine_ca_file),
           "With rediss:// engines: PEM CA certificates trusted for Redis instead of the system's",
           "the path of an existing file", existing_file),
      text("engine-cert-file", SLUICE_FIELD(server.engine_cert_file),
           "With rediss:// engines: PEM client certificate (chain) for a Redis that asks for one "
           "(tls-auth-clients); with --engine-key-file",
           "the path of an existing file", existing_file),
      text("engine-key-file", SLUICE_FIELD(server.engine_key_file),
           "With rediss:// engines: PEM private key of --engine-cert-file", "the path of an existing file",
           existing_file),
      seconds("engine-trim-interval", SLUICE_FIELD(server.engine_trim_interval), 0, 1e9,
              "With --engine: seconds between passes trimming every topic's Redis Stream to its history bounds "
              "(topics are trimmed at their publishes too; 0: only then)"),
      seconds("webhook-lease", SLUICE_FIELD(server.webhook.lease_ttl), 1, 3600,
              "With --engine: seconds a node's hold on a webhook lasts unless renewed (a third of it apart); "
              "another node takes over a dead node's webhooks after it"),
      boolean("no-deflate", SLUICE_FIELD(server.deflate), "Refuse permessage-deflate", true),
      list("allowed-origin", SLUICE_FIELD(server.allowed_origins), ',',
           "Browser origins that may open WebSockets (repeatable; 'https://app.example.com', 'https://*.example.com', "
           "or '*' for any; default: only the server's own origin); SIGHUP applies a change to new connections",
           "origins such as 'https://app.example.com', 'https://*.example.com' or '*'")
          .reloadable()
          .env_name("SLUICE_ALLOWED_ORIGINS"),
      list("cors-origin", SLUICE_FIELD(server.cors_origins), ',',
           "Browser origins that may call the HTTP API (CORS; repeatable, same forms; default: none)",
           "origins such as 'https://app.example.com', 'https://*.example.com' or '*'")
          .env_name("SLUICE_CORS_ORIGINS"),
      text("keys-file", SLUICE_FIELD(server.keys_file),
           "API keys file (sluice key create): the HTTP API then requires Authorization: Bearer <key> with the "
           "route's scope; reloaded on SIGHUP",
           "the path of an existing file", existing_file),
      text("jwt-secret-file", SLUICE_FIELD(server.jwt_secret_file),
           "HS256 secret for connection tokens (sluice token): /v1/ws and streams then require one",
           "the path of an existing file", existing_file),
      text("jwt-public-key", SLUICE_FIELD(server.jwt_public_key),
           "PEM public key for RS256 (RSA) or ES256 (P-256) connection tokens", "the path of an existing file",
           existing_file),
      seconds("jwt-leeway", SLUICE_FIELD(server.jwt_leeway), 0, 300,
              "Seconds of clock skew tolerated on exp and nbf (0-300)"),
      seconds("expired-close-delay", SLUICE_FIELD(server.expired_close_delay), 0, 300,
              "Seconds a Centrifugo-protocol connection or subscription goes on after its token expired, for "
              "the client's refresh to arrive (0-300)"),
      boolean("insecure", SLUICE_FIELD(server.insecure),
              "Listen on a non-loopback address without any authentication (anyone may publish and subscribe)"),
      text("tls-cert", SLUICE_FIELD(server.tls_cert), "PEM certificate chain: serve wss:// (with --tls-key)",
           "the path of an existing file", existing_file),
      text("tls-key", SLUICE_FIELD(server.tls_key), "PEM private key for --tls-cert", "the path of an existing file",
           existing_file),
      list("webhook-allow", SLUICE_FIELD(server.webhook.allow), ',',
           "CIDR range webhooks may connect to although it is loopback, private, link-local or otherwise refused "
           "by default (repeatable), e.g. 10.1.0.0/16; SIGHUP applies a change",
           "CIDR ranges such as 10.1.0.0/16 or fd00::/8")
          .reloadable(),
      integer<std::uint32_t>("webhook-max-attempts", SLUICE_FIELD(server.webhook.max_attempts), 1, 1000,
                             "Attempts per webhook delivery before it becomes a dead letter (default per subscription)"),
      seconds("webhook-max-age", SLUICE_FIELD(server.webhook.max_age), 0, 1e9,
              "Seconds a webhook delivery is retried, from its first attempt, before it becomes a dead letter", true),
      seconds("webhook-connect-timeout", SLUICE_FIELD(server.webhook.connect_timeout), 0, 1e9,
              "Seconds to resolve, connect and finish TLS to a webhook receiver", true),
      seconds("webhook-timeout", SLUICE_FIELD(server.webhook.timeout), 0, 1e9,
              "Seconds from sending a webhook request to its full response", true),
      seconds("webhook-retry-floor", SLUICE_FIELD(server.webhook.retry_floor), 0, 1e9,
              "Shortest wait in seconds before a webhook retry (backoff is exponential with full jitter above it)"),
      seconds("webhook-retry-max-delay", SLUICE_FIELD(server.webhook.retry_max_delay), 0, 1e9,
              "Longest backoff wait in seconds between webhook attempts", true),
      integer<std::size_t>("webhook-max-connections", SLUICE_FIELD(server.webhook.max_connections), 1, kNoMax,
                           "Outgoing webhook connections per event loop"),
      integer<std::size_t>("webhook-max-connections-per-host", SLUICE_FIELD(server.webhook.max_connections_per_host), 1,
                           kNoMax, "Outgoing webhook connections per event loop to one scheme, host and port"),
      text("webhook-ca-file", SLUICE_FIELD(server.webhook.ca_file),
           "PEM CA certificates trusted for https webhooks besides the system's", "the path of an existing file",
           existing_file),
      integer<std::size_t>("webhook-max-dead-letters", SLUICE_FIELD(server.webhook.max_dead_letters), 1, kNoMax,
                           "Dead letters kept per subscription; beyond it the oldest are dropped (and counted)"),
      boolean("access-log", SLUICE_FIELD(server.access_log),
              "Log every HTTP request (method, path without the query, status, duration, bytes, remote address)"),
      choice<std::string>("log-format", SLUICE_FIELD(log_format), {{"text", "text"}, {"json", "json"}},
                          "Log lines as 'text' or 'json' (one object per line: time, level, message, context fields)"),
      choice<std::string>("log-level", SLUICE_FIELD(log_level),
                          {{"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"},
                           {"error", "error"}, {"critical", "critical"}, {"off", "off"}},
                          "Least severe level logged; SIGHUP applies a change")
          .reloadable(),
  };
}

#undef SLUICE_FIELD

}  // namespace sluice::cli
