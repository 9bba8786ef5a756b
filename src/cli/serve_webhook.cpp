#include "cli/serve_webhook.hpp"

#include <chrono>
#include <cstdio>
#include <string>

namespace sluice::cli {

namespace {

// "0.05", "15", "86400": the default as a user would type it.
std::string seconds_text(std::chrono::milliseconds d) {
  std::string text = std::to_string(d.count() / 1000);
  if (const auto ms = d.count() % 1000; ms != 0) {
    char fraction[8];
    std::snprintf(fraction, sizeof fraction, ".%03lld", static_cast<long long>(ms));
    text += fraction;
    while (text.back() == '0') text.pop_back();
  }
  return text;
}

// A duration flag given in seconds (fractions allowed), stored in milliseconds.
void seconds_option(CLI::App& app, const std::string& name, std::chrono::milliseconds& target,
                    const std::string& help, const std::string& env) {
  app.add_option_function<double>(
         name, [&target](double seconds) { target = std::chrono::milliseconds(static_cast<long long>(seconds * 1000)); },
         help + " (default " + seconds_text(target) + ")")
      ->envname(env);
}

}  // namespace

void add_webhook_options(CLI::App& serve, server::WebhookSettings& w) {
  serve.add_option("--webhook-allow", w.allow,
                   "CIDR range webhooks may connect to although it is loopback, private, link-local or "
                   "otherwise refused by default (repeatable), e.g. 10.1.0.0/16")
      ->envname("SLUICE_WEBHOOK_ALLOW")->delimiter(',');
  serve.add_option("--webhook-max-attempts", w.max_attempts,
                   "Attempts per webhook delivery before it becomes a dead letter (default per subscription)")
      ->envname("SLUICE_WEBHOOK_MAX_ATTEMPTS")->capture_default_str();
  seconds_option(serve, "--webhook-max-age", w.max_age,
                 "Seconds a webhook delivery is retried, from its first attempt, before it becomes a dead letter",
                 "SLUICE_WEBHOOK_MAX_AGE");
  seconds_option(serve, "--webhook-connect-timeout", w.connect_timeout,
                 "Seconds to resolve, connect and finish TLS to a webhook receiver", "SLUICE_WEBHOOK_CONNECT_TIMEOUT");
  seconds_option(serve, "--webhook-timeout", w.timeout, "Seconds from sending a webhook request to its full response",
                 "SLUICE_WEBHOOK_TIMEOUT");
  seconds_option(serve, "--webhook-retry-floor", w.retry_floor,
                 "Shortest wait in seconds before a webhook retry (backoff is exponential with full jitter above it)",
                 "SLUICE_WEBHOOK_RETRY_FLOOR");
  seconds_option(serve, "--webhook-retry-max-delay", w.retry_max_delay, "Longest backoff wait in seconds between webhook attempts",
                 "SLUICE_WEBHOOK_RETRY_MAX_DELAY");
  serve.add_option("--webhook-max-connections", w.max_connections, "Outgoing webhook connections per event loop")
      ->envname("SLUICE_WEBHOOK_MAX_CONNECTIONS")->capture_default_str();
  serve.add_option("--webhook-max-connections-per-host", w.max_connections_per_host,
                   "Outgoing webhook connections per event loop to one scheme, host and port")
      ->envname("SLUICE_WEBHOOK_MAX_CONNECTIONS_PER_HOST")->capture_default_str();
  serve.add_option("--webhook-ca-file", w.ca_file, "PEM CA certificates trusted for https webhooks besides the system's")
      ->envname("SLUICE_WEBHOOK_CA_FILE")->check(CLI::ExistingFile);
  serve.add_option("--webhook-max-dead-letters", w.max_dead_letters,
                   "Dead letters kept per subscription; beyond it the oldest are dropped (and counted)")
      ->envname("SLUICE_WEBHOOK_MAX_DEAD_LETTERS")->capture_default_str();
}

}  // namespace sluice::cli
