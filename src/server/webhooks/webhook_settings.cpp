#include "sluice/server/webhook_settings.hpp"

#include <filesystem>

#include "sluice/webhook/address_policy.hpp"

namespace sluice::server {

std::string WebhookSettings::validate() const {
  std::string error;
  if (!webhook::AddressPolicy::from_strings(allow, error)) return "webhook-allow: " + error;
  if (max_attempts < 1 || max_attempts > 1000) return "webhook-max-attempts must be 1 to 1000";
  if (max_age.count() < 1000) return "webhook-max-age must be at least 1 second";
  if (connect_timeout.count() < 1 || timeout.count() < 1) return "webhook-connect-timeout and webhook-timeout must be > 0";
  if (retry_floor.count() < 1) return "webhook-retry-floor must be at least 1 ms";
  if (retry_max_delay < retry_floor) return "webhook-retry-max-delay must be at least webhook-retry-floor";
  if (max_connections < 1 || max_connections_per_host < 1) {
    return "webhook-max-connections and webhook-max-connections-per-host must be at least 1";
  }
  if (max_dead_letters < 1) return "webhook-max-dead-letters must be at least 1";
  if (lease_ttl.count() < 1000) return "webhook-lease must be at least 1 second";
  if (!ca_file.empty() && !std::filesystem::is_regular_file(ca_file)) return "webhook-ca-file '" + ca_file + "' is not a file";
  return retry_options().validate();
}

webhook::RetryOptions WebhookSettings::retry_options() const {
  webhook::RetryOptions r;
  r.floor = retry_floor;
  r.max_delay = retry_max_delay;
  r.max_attempts = max_attempts;
  r.max_age = max_age;
  return r;
}

}  // namespace sluice::server
