// Errors the client itself reports (on_error, CloseEvent, ConnectionInfo),
// next to the transport's (std::errc, asio) and the protocol's (protocol::Error).
#pragma once

#include <system_error>

namespace sluice::client {

enum class Error {
  closed_by_user = 1,     ///< close() was called
  terminal_close_code,    ///< the server closed with a code that forbids reconnecting (4401, 4403, 4404, 1008...)
  terminal_http_status,   ///< the handshake was answered with a status that forbids reconnecting (401, 403, 404)
  gave_up,                ///< reconnect.max_attempts consecutive attempts failed
  reconnect_disabled,     ///< the connection ended and reconnect.enabled is false
  server_ping_timeout,    ///< the server sent no ping for liveness.server_ping_timeout
  pong_timeout,           ///< our ping got no answer (no sign of life) within liveness.pong_timeout
  session_hook_failed,    ///< the session hook reported a failure
  session_hook_timeout,   ///< a pending session hook did not complete in time
  proxy_failed,           ///< the HTTP CONNECT proxy refused or failed the tunnel
  no_token,               ///< the token provider returned no token, an unusable one, or threw
  unauthorized,           ///< the server refused the provider's new token too (4401 or HTTP 401 twice in a row)
  token_refresh_failed,   ///< an in-band token refresh was refused (on_error only: the connection goes on)
};

/// The category named "sluice.client". Thread-safe singleton.
const std::error_category& client_category() noexcept;

inline std::error_code make_error_code(Error e) noexcept { return {static_cast<int>(e), client_category()}; }

}  // namespace sluice::client

template <>
struct std::is_error_code_enum<sluice::client::Error> : std::true_type {};
