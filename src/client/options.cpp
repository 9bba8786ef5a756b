#include "sluice/client/options.hpp"

#include <string_view>

#include "sluice/protocol/handshake.hpp"
#include "sluice/util/ascii.hpp"

namespace sluice::client {

namespace {
bool positive(milliseconds d) { return d.count() > 0; }

}  // namespace

std::string ClientOptions::validate() const {
  if (auto why = reconnect.backoff.validate(); !why.empty()) return "reconnect." + why;
  if (reconnect.rate_limited_delay.count() < 0) return "reconnect.rate_limited_delay must not be negative";
  if (reconnect.stable_after.count() < 0) return "reconnect.stable_after must not be negative";
  if (!positive(timeouts.connect)) return "timeouts.connect must be positive";
  if (!positive(timeouts.handshake)) return "timeouts.handshake must be positive";
  if (!positive(timeouts.close)) return "timeouts.close must be positive";
  if (liveness.ping_interval.count() < 0) return "liveness.ping_interval must not be negative (0 disables pings)";
  if (liveness.ping_interval.count() > 0 && !positive(liveness.pong_timeout)) {
    return "liveness.pong_timeout must be positive when pings are on";
  }
  if (liveness.server_ping_timeout.count() < 0) return "liveness.server_ping_timeout must not be negative (0: off)";
  if (session.max_attempts == 0) return "session.max_attempts must be at least 1";
  if (!positive(session.timeout)) return "session.timeout must be positive";
  if (max_queued_bytes == 0) return "max_queued_bytes must be positive";
  if (send_queue_limit == 0) return "send_queue_limit must be positive";
  if (max_message_size == 0) return "max_message_size must be positive";
  if (protocol::breaks_header_line(origin)) return "origin has a line break or NUL";
  if (auth.refresh_margin.count() < 0 || auth.refresh_margin > std::chrono::hours(24 * 365)) {
    return "auth.refresh_margin must be between 0 and a year";
  }
  if (!positive(auth.min_refresh_delay)) return "auth.min_refresh_delay must be positive";
  // Never quote the credential itself in a message.
  if (protocol::breaks_header_line(auth.bearer)) return "auth.bearer has a line break or NUL";
  for (const auto& [name, value] : headers) {
    if (auth.enabled() && ascii_iequals(name, "authorization")) {
      return "an Authorization header and auth are both set: give the credential in auth only";
    }
    if (!protocol::is_http_token(name)) return "bad header name '" + name + "' (not an HTTP token)";
    if (protocol::breaks_header_line(value)) return "header '" + name + "' has a line break or NUL in its value";
  }
  for (const auto& offered : subprotocols) {
    if (!protocol::is_http_token(offered)) return "bad subprotocol '" + offered + "' (not an HTTP token)";
  }
  return {};
}

}  // namespace sluice::client
