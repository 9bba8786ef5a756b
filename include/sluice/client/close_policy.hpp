// Which endings allow a reconnect (SPEC §3 close codes, §4): pure functions of
// the code or status and the ReconnectOptions, so the rules are unit-testable.
#pragma once

#include <cstdint>

#include "sluice/client/options.hpp"

namespace sluice::client {

enum class RetryRule : std::uint8_t {
  retry,         ///< reconnect after the usual backoff delay
  retry_slowly,  ///< reconnect after at least rate_limited_delay (4429, 1013, HTTP 429)
  stop,          ///< terminal: do not reconnect (4401, 4403, 4404, 1008; HTTP 401, 403, 404)
};

/// For a close frame the server sent with `code`.
RetryRule rule_for_close_code(std::uint16_t code, const ReconnectOptions& options) noexcept;
/// For a handshake answered with HTTP `status` (not 101).
RetryRule rule_for_http_status(unsigned status, const ReconnectOptions& options) noexcept;

}  // namespace sluice::client
