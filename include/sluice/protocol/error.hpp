// Protocol errors of the sans-I/O WebSocket core, as std::error_code values.
//
// Every failure the codec or the handshake can detect has its own value, so a
// test can assert the exact reason, and each maps to the close code (frames) or
// HTTP status (handshake) that RFC 6455 asks for.
#pragma once

#include <cstdint>
#include <string_view>
#include <system_error>

namespace sluice::protocol {

enum class Error {
  // --- framing, close code 1002 (protocol error) ---
  reserved_opcode = 1,        // opcode 0x3-0x7 or 0xB-0xF
  reserved_bits_set,          // RSV1-3 set without an extension that defines them
  non_minimal_length,         // 16/64-bit length used for a length that fits a shorter form
  length_high_bit_set,        // 64-bit length with its most significant bit set
  unmasked_client_frame,      // a server received a frame without a mask
  masked_server_frame,        // a client received a masked frame
  control_frame_too_long,     // control frame payload over 125 bytes
  fragmented_control_frame,   // control frame with FIN clear
  unexpected_continuation,    // continuation frame with no message in progress
  expected_continuation,      // new data frame while a fragmented message is in progress
  bad_close_payload,          // close frame with a 1-byte payload
  bad_close_code,             // close code that may not appear on the wire
  // --- payload, close code 1007 (invalid frame payload data) ---
  invalid_utf8,               // text message that is not valid UTF-8
  invalid_close_reason,       // close reason that is not valid UTF-8
  inflate_failed,             // permessage-deflate data that does not decompress
  // --- size limits, close code 1009 (message too big) ---
  frame_too_big,              // one frame's payload over the configured limit
  message_too_big,            // a message (after inflation) over the configured limit
  // --- local state (no close code: a status returned to the caller) ---
  connection_closed,          // send after the close handshake started or finished
  deflate_failed,             // zlib could not compress (internal error, 1011)
  // --- handshake (server side: the request; the HTTP status is in http_status_for) ---
  bad_http_request,           // not parseable as an HTTP/1.1 request
  header_too_large,           // request or response head over the limit (431)
  bad_method,                 // not GET (405)
  bad_http_version,           // not HTTP/1.1 or later
  missing_host,               // no Host header
  missing_upgrade,            // Upgrade header without the "websocket" token
  missing_connection_upgrade, // Connection header without the "upgrade" token
  bad_websocket_version,      // Sec-WebSocket-Version is not 13 (426)
  bad_websocket_key,          // Sec-WebSocket-Key missing or not 16 bytes base64
  origin_rejected,            // Origin refused by the check hook (403)
  bad_extension_offer,        // Sec-WebSocket-Extensions malformed
  // --- handshake (client side: the response) ---
  bad_http_response,          // not parseable as an HTTP/1.1 response
  handshake_rejected,         // status other than 101
  bad_accept_key,             // Sec-WebSocket-Accept does not match the key
  unexpected_extension,       // an extension or parameter the client did not offer
  unexpected_subprotocol,     // a subprotocol the client did not offer
  // --- handshake (client side: its own options, before anything is sent) ---
  bad_request_option,         // host, target, origin, subprotocol or header with CR, LF or NUL
};

/// The error category named "sluice.websocket". Thread-safe, a static singleton.
const std::error_category& protocol_category() noexcept;

inline std::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), protocol_category()};
}

/// The close code a connection that failed with `e` sends (RFC 6455 §7.4.1):
/// 1002, 1007, 1009 or 1011. Returns 1011 for errors that are not from framing.
std::uint16_t close_code_for(Error e) noexcept;
std::uint16_t close_code_for(std::error_code ec) noexcept;

/// The HTTP status a server answers a failed handshake with (400, 403, 405, 426, 431).
unsigned http_status_for(Error e) noexcept;

}  // namespace sluice::protocol

template <>
struct std::is_error_code_enum<sluice::protocol::Error> : std::true_type {};
