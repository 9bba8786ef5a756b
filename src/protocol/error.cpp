#include "sluice/protocol/error.hpp"

#include <string>

#include "sluice/protocol/close_code.hpp"

namespace sluice::protocol {
namespace {

class ProtocolCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sluice.websocket"; }

  std::string message(int value) const override {
    switch (static_cast<Error>(value)) {
      case Error::reserved_opcode: return "reserved opcode";
      case Error::reserved_bits_set: return "reserved bits set without a negotiated extension";
      case Error::non_minimal_length: return "payload length not minimally encoded";
      case Error::length_high_bit_set: return "64-bit payload length with the high bit set";
      case Error::unmasked_client_frame: return "client frame is not masked";
      case Error::masked_server_frame: return "server frame is masked";
      case Error::control_frame_too_long: return "control frame payload over 125 bytes";
      case Error::fragmented_control_frame: return "fragmented control frame";
      case Error::unexpected_continuation: return "continuation frame without a message in progress";
      case Error::expected_continuation: return "new message started before the previous one ended";
      case Error::bad_close_payload: return "close frame payload of 1 byte";
      case Error::bad_close_code: return "close code not allowed on the wire";
      case Error::invalid_utf8: return "text message is not valid UTF-8";
      case Error::invalid_close_reason: return "close reason is not valid UTF-8";
      case Error::inflate_failed: return "compressed message could not be decompressed";
      case Error::frame_too_big: return "frame payload over the size limit";
      case Error::message_too_big: return "message over the size limit";
      case Error::connection_closed: return "connection is closing or closed";
      case Error::deflate_failed: return "message could not be compressed";
      case Error::bad_http_request: return "malformed HTTP request";
      case Error::header_too_large: return "HTTP head over the size limit";
      case Error::bad_method: return "WebSocket upgrade must use GET";
      case Error::bad_http_version: return "WebSocket upgrade needs HTTP/1.1";
      case Error::missing_host: return "missing Host header";
      case Error::missing_upgrade: return "missing 'Upgrade: websocket' header";
      case Error::missing_connection_upgrade: return "missing 'Connection: Upgrade' header";
      case Error::bad_websocket_version: return "unsupported Sec-WebSocket-Version (13 required)";
      case Error::bad_websocket_key: return "missing or invalid Sec-WebSocket-Key";
      case Error::origin_rejected: return "origin not allowed";
      case Error::bad_extension_offer: return "malformed Sec-WebSocket-Extensions header";
      case Error::bad_http_response: return "malformed HTTP response to the upgrade request";
      case Error::handshake_rejected: return "server rejected the WebSocket upgrade";
      case Error::bad_accept_key: return "wrong Sec-WebSocket-Accept in the response";
      case Error::unexpected_extension: return "server accepted an extension that was not offered";
      case Error::unexpected_subprotocol: return "server selected a subprotocol that was not offered";
      case Error::bad_request_option:
        return "a handshake option (host, target, origin, subprotocol or header) has a CR, LF or NUL, "
               "or a header name that is not a token";
    }
    return "unknown websocket error";
  }
};

}  // namespace

const std::error_category& protocol_category() noexcept {
  static const ProtocolCategory category;
  return category;
}

std::uint16_t close_code_for(Error e) noexcept {
  switch (e) {
    case Error::invalid_utf8:
    case Error::invalid_close_reason:
    case Error::inflate_failed:
      return close_code::invalid_payload;
    case Error::frame_too_big:
    case Error::message_too_big:
      return close_code::message_too_big;
    case Error::reserved_opcode:
    case Error::reserved_bits_set:
    case Error::non_minimal_length:
    case Error::length_high_bit_set:
    case Error::unmasked_client_frame:
    case Error::masked_server_frame:
    case Error::control_frame_too_long:
    case Error::fragmented_control_frame:
    case Error::unexpected_continuation:
    case Error::expected_continuation:
    case Error::bad_close_payload:
    case Error::bad_close_code:
      return close_code::protocol_error;
    default:
      return close_code::internal_error;
  }
}

std::uint16_t close_code_for(std::error_code ec) noexcept {
  if (ec.category() != protocol_category()) return close_code::internal_error;
  return close_code_for(static_cast<Error>(ec.value()));
}

unsigned http_status_for(Error e) noexcept {
  switch (e) {
    case Error::header_too_large: return 431;
    case Error::bad_method: return 405;
    case Error::bad_websocket_version: return 426;
    case Error::origin_rejected: return 403;
    default: return 400;
  }
}

}  // namespace sluice::protocol
