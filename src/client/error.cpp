#include "sluice/client/error.hpp"

#include <string>

namespace sluice::client {

namespace {
class ClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sluice.client"; }
  std::string message(int value) const override {
    switch (static_cast<Error>(value)) {
      case Error::closed_by_user: return "closed by the client";
      case Error::terminal_close_code: return "the server closed with a terminal close code";
      case Error::terminal_http_status: return "the server rejected the handshake with a terminal status";
      case Error::gave_up: return "gave up reconnecting after the maximum number of attempts";
      case Error::reconnect_disabled: return "connection ended and reconnecting is disabled";
      case Error::server_ping_timeout: return "the server stopped pinging";
      case Error::pong_timeout: return "no answer to our ping";
      case Error::session_hook_failed: return "the session hook failed";
      case Error::session_hook_timeout: return "the session hook did not complete in time";
      case Error::proxy_failed: return "the HTTP proxy could not open a tunnel";
      case Error::no_token: return "the token provider gave no usable token";
      case Error::unauthorized: return "the server refused the connection token, also after asking for a new one";
      case Error::token_refresh_failed: return "the in-band token refresh failed";
    }
    return "unknown client error";
  }
};
}  // namespace

const std::error_category& client_category() noexcept {
  static const ClientCategory category;
  return category;
}

}  // namespace sluice::client
