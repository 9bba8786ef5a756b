// `sluice serve`: flags (or SLUICE_* environment variables, or a config file)
// to ServerSettings, validated at start, then run until SIGINT/SIGTERM.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <pthread.h>

#include "cli/commands.hpp"
#include "cli/serve_webhook.hpp"
#include "sluice/server/sluice_server.hpp"

namespace sluice::cli {

namespace {

using Seconds = double;
std::chrono::milliseconds ms(Seconds s) { return std::chrono::milliseconds(static_cast<long long>(s * 1000)); }

struct ServeOptions {
  server::ServerSettings settings;
  Seconds ping_interval = 25, pong_timeout = 10, idle_timeout = 0, handshake_timeout = 10, close_timeout = 5,
          shutdown_drain = 10, history_max_age = 24 * 3600, idempotency_window = 24 * 3600,
          retention_interval = 1;
  std::string overflow = "close";
  std::string durability = "fsync";
  bool no_deflate = false;
  long long jwt_leeway = 0;
};

int run(ServeOptions& o) {
  auto& s = o.settings;
  s.ping_interval = ms(o.ping_interval);
  s.pong_timeout = ms(o.pong_timeout);
  s.idle_timeout = ms(o.idle_timeout);
  s.handshake_timeout = ms(o.handshake_timeout);
  s.close_timeout = ms(o.close_timeout);
  s.shutdown_drain = ms(o.shutdown_drain);
  s.history_max_age = ms(o.history_max_age);
  s.idempotency_window = ms(o.idempotency_window);
  s.retention_interval = ms(o.retention_interval);
  s.overflow = o.overflow == "drop" ? net::OverflowPolicy::drop : net::OverflowPolicy::close;
  s.durability = o.durability == "os-buffered" ? store::Durability::os_buffered : store::Durability::fsync;
  s.deflate = !o.no_deflate;
  s.jwt_leeway = std::chrono::seconds(o.jwt_leeway);
  if (auto why = s.validate(); !why.empty()) {
    spdlog::error("invalid setting: {}", why);
    return 2;
  }

  // Block the signals before any thread starts, so only sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::SluiceServer sluice(s);
  std::string error;
  if (!sluice.start(error)) {
    spdlog::error("{}", error);
    return 1;
  }
  // An acknowledged subscription that did not come back must not pass unnoticed.
  for (const auto& problem : sluice.load_errors()) spdlog::error("{}", problem);
  if (!sluice.load_errors().empty()) {
    spdlog::error("{} stored subscription(s) could not be loaded: they stay in {} but are not served; "
                  "fix or delete them there", sluice.load_errors().size(), s.data_dir);
  }
  const bool tls = !s.tls_cert.empty();
  spdlog::info("sluice {} listening on {}://{}:{}/v1/ws ({} event loops, send queue {} bytes, overflow policy {})",
               server::kVersion, tls ? "wss" : "ws", s.address, sluice.port(),
               s.threads ? s.threads : std::max(1u, std::thread::hardware_concurrency()), s.send_queue_limit,
               o.overflow);
  if (s.store == "sqlite") {
    spdlog::info("events and subscriptions stored in {} (sqlite, durability {})", s.data_dir, o.durability);
  } else {
    spdlog::info("store: memory (nothing survives a restart)");
  }
  if (!s.auth_required()) {
    spdlog::warn("no authentication configured (--keys-file, --jwt-secret-file, --jwt-public-key): {}",
                 s.loopback_only() ? "listening on loopback only, so only this machine can connect"
                                   : "--insecure: anyone who can reach the port may publish, subscribe and delete");
  } else {
    if (!s.keys_file.empty()) {
      spdlog::info("API keys required on the HTTP API ({}; SIGHUP reloads it)", s.keys_file);
    } else {
      spdlog::info("no --keys-file: the HTTP API refuses every request but the health probes");
    }
    if (!s.jwt_secret_file.empty() || !s.jwt_public_key.empty()) {
      spdlog::info("connection tokens required on /v1/ws and subscription streams ({})",
                   s.jwt_secret_file.empty() ? "RS256/ES256, " + s.jwt_public_key : "HS256, " + s.jwt_secret_file);
    } else {
      spdlog::info("/v1/ws and subscription streams take API keys (no connection-token key configured)");
    }
  }
  // Without auth the warning above says it already (and --address alone would be refused).
  if (s.loopback_only() && s.auth_required()) spdlog::info("bound to loopback only: pass --address 0.0.0.0 to accept remote clients");
  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    if (s.keys_file.empty()) {
      spdlog::info("SIGHUP: nothing to reload (no --keys-file)");
      continue;
    }
    std::size_t count = 0;
    std::string why;
    if (sluice.reload_keys(count, why)) {
      spdlog::info("SIGHUP: {} API keys loaded from {}", count, s.keys_file);
    } else {
      spdlog::error("SIGHUP: keys not reloaded, the previous ones stay in force: {}", why);
    }
  }
  spdlog::info("{} received: closing {} connections with 1001, draining up to {} s",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM", sluice.connection_count(), o.shutdown_drain);
  sluice.shutdown(s.shutdown_drain);
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  auto& s = options->settings;
  CLI::App* serve = app.add_subcommand("serve", "Run the Sluice server");
  serve->add_option("--address", s.address, "Address to listen on")->envname("SLUICE_ADDRESS")->capture_default_str();
  serve->add_option("--port", s.port, "Port to listen on (0: any free port)")->envname("SLUICE_PORT")->capture_default_str();
  serve->add_option("--threads", s.threads, "Event loops, one thread each (0: one per core)")
      ->envname("SLUICE_THREADS")->capture_default_str();
  serve->add_option("--max-connections", s.max_connections, "WebSocket connections beyond this get 503 on the upgrade (plain HTTP is still answered)")
      ->envname("SLUICE_MAX_CONNECTIONS")->capture_default_str();
  serve->add_option("--send-queue-limit", s.send_queue_limit, "Bytes queued per connection before the overflow policy applies")
      ->envname("SLUICE_SEND_QUEUE_LIMIT")->capture_default_str();
  serve->add_option("--overflow", options->overflow,
                    "When a send queue is full: 'close' (4008 slow consumer) or 'drop' (skip, then mark the gap)")
      ->check(CLI::IsMember({"close", "drop"}))->envname("SLUICE_OVERFLOW")->capture_default_str();
  serve->add_option("--max-message-size", s.max_message_size, "Largest message a client may send, in bytes")
      ->envname("SLUICE_MAX_MESSAGE_SIZE")->capture_default_str();
  serve->add_option("--max-header-bytes", s.max_header_bytes, "Largest HTTP request head, in bytes")
      ->envname("SLUICE_MAX_HEADER_BYTES")->capture_default_str();
  serve->add_option("--max-body-bytes", s.max_body_bytes, "Largest HTTP request body, in bytes")
      ->envname("SLUICE_MAX_BODY_BYTES")->capture_default_str();
  serve->add_option("--max-subscriptions", s.max_subscriptions, "Subscriptions per connection")
      ->envname("SLUICE_MAX_SUBSCRIPTIONS")->capture_default_str();
  serve->add_option("--rate-limit", s.rate_limit,
                    "HTTP requests per second per client IP, health probes exempt; over it: 429 (0: no limit)")
      ->envname("SLUICE_RATE_LIMIT")->capture_default_str();
  serve->add_option("--rate-burst", s.rate_burst, "Requests a client IP may save up for a burst (0: the rate)")
      ->envname("SLUICE_RATE_BURST")->capture_default_str();
  serve->add_option("--key-rate-limit", s.key_rate_limit,
                    "HTTP requests per second per API key (with --keys-file), counted once the key is valid; "
                    "over it: 429 (0: no limit)")
      ->envname("SLUICE_KEY_RATE_LIMIT")->capture_default_str();
  serve->add_option("--key-rate-burst", s.key_rate_burst, "Requests an API key may save up for a burst (0: the rate)")
      ->envname("SLUICE_KEY_RATE_BURST")->capture_default_str();
  serve->add_option("--max-topics", s.max_topics,
                    "Topics the server keeps at most; a publish creating one more is refused (HTTP 507, in-band "
                    "too_many_topics) (0: no limit)")
      ->envname("SLUICE_MAX_TOPICS")->capture_default_str();
  serve->add_option("--max-connections-per-ip", s.max_connections_per_ip,
                    "WebSocket connections one client IP may hold; beyond: closed with 4429 (0: no limit; "
                    "loopback exempt unless --limit-loopback)")
      ->envname("SLUICE_MAX_CONNECTIONS_PER_IP")->capture_default_str();
  serve->add_option("--new-connections-per-ip-per-second", s.new_connections_per_ip_per_second,
                    "New WebSocket connections per second per client IP; beyond: closed with 4429 (0: no limit; "
                    "loopback exempt unless --limit-loopback)")
      ->envname("SLUICE_NEW_CONNECTIONS_PER_IP_PER_SECOND")->capture_default_str();
  serve->add_option("--new-connections-per-ip-burst", s.new_connections_per_ip_burst,
                    "New connections a client IP may save up for a burst (0: the rate)")
      ->envname("SLUICE_NEW_CONNECTIONS_PER_IP_BURST")->capture_default_str();
  serve->add_flag("--limit-loopback", s.limit_loopback,
                  "Apply the per-IP connection limits to loopback peers too (off: a local reverse proxy or "
                  "benchmark is not limited)")
      ->envname("SLUICE_LIMIT_LOOPBACK");
  serve->add_option("--ping-interval", options->ping_interval, "Seconds of quiet before the server pings (0: never)")
      ->envname("SLUICE_PING_INTERVAL")->capture_default_str();
  serve->add_option("--pong-timeout", options->pong_timeout, "Seconds a pinged peer has to show life")
      ->envname("SLUICE_PONG_TIMEOUT")->capture_default_str();
  serve->add_option("--idle-timeout", options->idle_timeout, "Seconds without a client message before closing (0: never)")
      ->envname("SLUICE_IDLE_TIMEOUT")->capture_default_str();
  serve->add_option("--handshake-timeout", options->handshake_timeout, "Seconds to complete the TLS and HTTP upgrade")
      ->envname("SLUICE_HANDSHAKE_TIMEOUT")->capture_default_str();
  serve->add_option("--close-timeout", options->close_timeout, "Seconds to complete a close handshake")
      ->envname("SLUICE_CLOSE_TIMEOUT")->capture_default_str();
  serve->add_option("--shutdown-drain", options->shutdown_drain, "Seconds to drain queues on SIGINT/SIGTERM")
      ->envname("SLUICE_SHUTDOWN_DRAIN")->capture_default_str();
  serve->add_option("--history-max-events", s.history_max_events, "Events kept per topic for replay")
      ->envname("SLUICE_HISTORY_MAX_EVENTS")->capture_default_str();
  serve->add_option("--history-max-bytes", s.history_max_bytes, "Bytes kept per topic for replay")
      ->envname("SLUICE_HISTORY_MAX_BYTES")->capture_default_str();
  serve->add_option("--history-max-age", options->history_max_age, "Seconds an event stays in history")
      ->envname("SLUICE_HISTORY_MAX_AGE")->capture_default_str();
  serve->add_option("--history", s.history_overrides,
                    "History bounds for the topics matching a pattern, overriding --history-max-*: "
                    "'PATTERN=count:N,bytes:SIZE,age:DURATION' (each bound optional; SIZE in bytes or with "
                    "KiB/MiB/GiB, DURATION in s or with ms/s/m/h/d), e.g. 'orders.>=count:100000,age:7d'. "
                    "Repeatable; the most specific pattern wins (literal token > '*' > '>', from the left)")
      ->envname("SLUICE_HISTORY")->delimiter(';');
  serve->add_option("--retention-interval", options->retention_interval,
                    "Seconds between trims of the sqlite store to what history keeps (the --history-* bounds)")
      ->envname("SLUICE_RETENTION_INTERVAL")->capture_default_str();
  serve->add_option("--idempotency-window", options->idempotency_window,
                    "Seconds a publish's idempotencyKey is remembered: a repeat within it returns the first result")
      ->envname("SLUICE_IDEMPOTENCY_WINDOW")->capture_default_str();
  serve->add_option("--store", s.store, "Where events and subscriptions live: 'sqlite' (durable, in --data-dir) or 'memory'")
      ->check(CLI::IsMember({"sqlite", "memory"}))->envname("SLUICE_STORE")->capture_default_str();
  serve->add_option("--data-dir", s.data_dir, "Directory of the sqlite store (created if missing)")
      ->envname("SLUICE_DATA_DIR")->capture_default_str();
  serve->add_option("--durability", options->durability,
                    "When a publish is acknowledged: 'fsync' (each batch synced to disk) or 'os-buffered' "
                    "(written to the OS: survives a crash of sluice, not a power loss)")
      ->check(CLI::IsMember({"fsync", "os-buffered"}))->envname("SLUICE_DURABILITY")->capture_default_str();
  serve->add_flag("--no-deflate", options->no_deflate, "Refuse permessage-deflate")->envname("SLUICE_NO_DEFLATE");
  serve->add_option("--allowed-origin", s.allowed_origins,
                    "Browser origins that may open WebSockets (repeatable; 'https://app.example.com', "
                    "'https://*.example.com', or '*' for any; default: only the server's own origin)")
      ->envname("SLUICE_ALLOWED_ORIGINS")->delimiter(',');
  serve->add_option("--cors-origin", s.cors_origins,
                    "Browser origins that may call the HTTP API (CORS; repeatable, same forms; default: none)")
      ->envname("SLUICE_CORS_ORIGINS")->delimiter(',');
  serve->add_option("--keys-file", s.keys_file,
                    "API keys file (sluice key create): the HTTP API then requires Authorization: Bearer <key> "
                    "with the route's scope; reloaded on SIGHUP")
      ->envname("SLUICE_KEYS_FILE");
  serve->add_option("--jwt-secret-file", s.jwt_secret_file,
                    "HS256 secret for connection tokens (sluice token): /v1/ws and streams then require one")
      ->envname("SLUICE_JWT_SECRET_FILE")->check(CLI::ExistingFile);
  serve->add_option("--jwt-public-key", s.jwt_public_key,
                    "PEM public key for RS256 (RSA) or ES256 (P-256) connection tokens")
      ->envname("SLUICE_JWT_PUBLIC_KEY")->check(CLI::ExistingFile);
  serve->add_option("--jwt-leeway", options->jwt_leeway, "Seconds of clock skew tolerated on exp and nbf (0-300)")
      ->envname("SLUICE_JWT_LEEWAY")->capture_default_str();
  serve->add_flag("--insecure", s.insecure,
                  "Listen on a non-loopback address without any authentication (anyone may publish and subscribe)")
      ->envname("SLUICE_INSECURE");
  serve->add_option("--tls-cert", s.tls_cert, "PEM certificate chain: serve wss:// (with --tls-key)")
      ->envname("SLUICE_TLS_CERT")->check(CLI::ExistingFile);
  serve->add_option("--tls-key", s.tls_key, "PEM private key for --tls-cert")->envname("SLUICE_TLS_KEY")->check(CLI::ExistingFile);
  add_webhook_options(*serve, s.webhook);
  serve->callback([options] { std::exit(run(*options)); });
}

}  // namespace sluice::cli
