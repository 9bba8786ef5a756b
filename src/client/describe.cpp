#include "client/describe.hpp"

#include <cstdio>

#include "sluice/protocol/close_code.hpp"

namespace sluice::client::detail {

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() < 1000) return std::to_string(d.count()) + " ms";
  char text[32];
  std::snprintf(text, sizeof text, "%.3g s", static_cast<double>(d.count()) / 1000.0);
  return text;
}

std::string describe_close(std::uint16_t code, std::string_view reason) {
  std::string out = "server closed the connection with " + std::to_string(code);
  if (!reason.empty()) out += " (" + std::string(reason) + ")";
  return out;
}

std::string describe_ending(const net::CloseInfo& info, const net::WsUrl& url, const ClientOptions& options) {
  const std::string where = url.host + ":" + std::to_string(url.port);
  const std::error_code& e = info.error;
  if (info.was_open) {
    if (info.code != protocol::close_code::abnormal) return describe_close(info.code, info.reason);
    if (e == std::errc::timed_out) {
      return "no answer from the server within " + seconds_text(options.liveness.pong_timeout) + " of our ping";
    }
    return "connection to " + where + " lost" + (e ? ": " + e.message() : std::string());
  }
  if (info.http_status != 0) {
    return "handshake with " + where + " rejected with HTTP " + std::to_string(info.http_status);
  }
  if (e == std::errc::connection_refused) return "connection refused by " + where;
  if (e == std::errc::timed_out) return "timed out connecting to " + where;
  if (e == std::errc::operation_canceled) return "connection attempt to " + where + " cancelled";
  // Asio's TLS errors keep their Boost category name ("asio.ssl") through the std::error_code conversion.
  if (e && std::string_view(e.category().name()).find("ssl") != std::string_view::npos) {
    return "TLS handshake with " + where + " failed: " + e.message();
  }
  std::string out = "cannot connect to " + where;
  if (e) out += ": " + e.message();
  return out;
}

void record_response(ConnectionInfo& info, const protocol::ClientHandshake* handshake) {
  if (!handshake) return;
  const auto& response = handshake->response();
  const unsigned status = response.result_int();
  info.http_status = status;
  info.response_headers.clear();
  for (const auto& field : response) {
    info.response_headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
}

}  // namespace sluice::client::detail
