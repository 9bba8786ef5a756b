// Plain words for what happened to a connection, for on_error, CloseEvent and
// `sluice cat`'s stderr ("connection refused by 127.0.0.1:9001"). Private to src/client.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/client/events.hpp"
#include "sluice/client/options.hpp"
#include "sluice/net/connection.hpp"
#include "sluice/net/url.hpp"

namespace sluice::client::detail {

/// "1.5 s", "250 ms".
std::string seconds_text(std::chrono::milliseconds d);
/// "server closed the connection with 4404 (subscription deleted)".
std::string describe_close(std::uint16_t code, std::string_view reason);
/// Why a connection (or an attempt) ended, in words.
std::string describe_ending(const net::CloseInfo& info, const net::WsUrl& url, const ClientOptions& options);
/// Copies the handshake response's status and headers. Only once its head is
/// complete: after on_open, or for a rejected handshake (CloseInfo::http_status).
void record_response(ConnectionInfo& info, const protocol::ClientHandshake* handshake);

}  // namespace sluice::client::detail
