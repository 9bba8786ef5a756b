// Server-wide webhook settings (issue #14): the SSRF allowlist, the outgoing
// connection bounds, and the defaults of the per-subscription options.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sluice/webhook/retry_policy.hpp"

namespace sluice::server {

struct WebhookSettings {
  /// CIDR ranges webhooks may connect to although the SSRF guard refuses
  /// them by default (loopback, private, link-local, ...). --webhook-allow.
  std::vector<std::string> allow;
  std::uint32_t max_attempts = 20;                    ///< default per subscription (maxAttempts)
  std::chrono::milliseconds max_age{24LL * 3600 * 1000};  ///< default per subscription (maxAge)
  std::chrono::milliseconds connect_timeout{5'000};   ///< default per subscription (connectTimeout)
  std::chrono::milliseconds timeout{15'000};          ///< default per subscription (timeout): request to response
  std::chrono::milliseconds retry_floor{1'000};       ///< shortest wait before a retry
  std::chrono::milliseconds retry_max_delay{3'600'000};  ///< longest backoff wait
  std::size_t max_connections = 256;                  ///< outgoing connections per event loop
  std::size_t max_connections_per_host = 8;           ///< per loop, per scheme + host + port
  std::string ca_file;                                ///< PEM CAs trusted besides the system's ("" = none)
  std::size_t max_dead_letters = 10'000;              ///< kept per subscription; beyond, the oldest go (counted)
  /// Shared engines: how long a node's lease on a webhook lasts unless renewed.
  std::chrono::milliseconds lease_ttl{10'000};

  /// "" when valid, otherwise a message naming the bad setting.
  std::string validate() const;
  /// The retry limits with these defaults.
  webhook::RetryOptions retry_options() const;
};

}  // namespace sluice::server
