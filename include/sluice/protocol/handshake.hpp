// The opening handshake (RFC 6455 §4), sans-I/O: bytes in, a decision and bytes out.
//
// The HTTP head is parsed by Boost.Beast's parser; the WebSocket rules on top of
// it (version, key, Upgrade/Connection tokens, subprotocols, extensions) are ours.
// Objects here are not thread-safe; each belongs to one connection.
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sluice/protocol/deflate_params.hpp"

namespace sluice::protocol {

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
std::string compute_accept_key(std::string_view key);

/// A random 16-byte nonce, base64-encoded, from the CSPRNG (OpenSSL RAND_bytes).
std::string generate_websocket_key();

enum class HandshakeStatus { need_more, accepted, rejected };

/// Server-side settings for accepting an upgrade.
struct ServerHandshakeOptions {
  /// Largest request head (request line + headers) accepted; larger is a 431.
  std::size_t max_header_bytes = 8192;
  /// Subprotocols the server speaks, in the server's order of preference. The
  /// first one the client also offered is selected; none in common selects none.
  std::vector<std::string> subprotocols;
  /// Called with the Origin header value (empty string when absent). Returning
  /// false rejects the handshake with 403. Unset: every origin is accepted.
  /// Called on the connection's thread, with no lock held.
  std::function<bool(std::string_view origin)> origin_check;
  /// What the server agrees to for permessage-deflate (disabled by default).
  DeflateOptions deflate;
};

/// The outcome of validating one upgrade request.
struct UpgradeDecision {
  std::error_code error;                 ///< empty when accepted
  std::string response;                  ///< full HTTP response bytes to write (101 or the error)
  std::string subprotocol;               ///< selected subprotocol, empty if none
  std::optional<DeflateParams> deflate;  ///< set when permessage-deflate was agreed
};

/// True if the request asks for a WebSocket upgrade (Upgrade: websocket). A
/// router uses this to choose between the HTTP API and accept_upgrade().
bool is_websocket_upgrade(const boost::beast::http::request_header<>& request);

/// Validates an already-parsed upgrade request and builds the response: 101
/// with the accept key and negotiated subprotocol/extension, or an error status
/// (400, 403, 405, 426 with Sec-WebSocket-Version: 13) with a short text body.
/// Pure function of its inputs except for calling options.origin_check.
UpgradeDecision accept_upgrade(const boost::beast::http::request_header<>& request,
                               const ServerHandshakeOptions& options);

/// Reads a request head from bytes and decides on it. `options` must outlive
/// this object.
class ServerHandshake {
 public:
  explicit ServerHandshake(const ServerHandshakeOptions& options);

  /// Feeds received bytes; all of them are taken (buffered until the head is
  /// complete). Returns need_more until then, then accepted or rejected (and
  /// keeps returning that). On a malformed or too large head: rejected, with a
  /// 400 or 431 response in decision().
  HandshakeStatus feed(std::span<const char> data);

  /// Bytes received after the request head (already frames, for the codec).
  /// Valid once feed() returned accepted.
  std::string_view leftover() const noexcept;

  /// Valid once feed() returned accepted or rejected.
  const UpgradeDecision& decision() const noexcept { return decision_; }
  /// The parsed request head (valid once the head was complete).
  const boost::beast::http::request_header<>& request() const { return parser_.get().base(); }

 private:
  const ServerHandshakeOptions& options_;
  std::string buffer_;           // received bytes not yet parsed, then the leftover
  std::size_t head_size_ = 0;    // bytes of buffer_ taken by the head once complete
  boost::beast::http::request_parser<boost::beast::http::empty_body> parser_;
  UpgradeDecision decision_;
  HandshakeStatus status_ = HandshakeStatus::need_more;
};

/// Client-side settings for one connection attempt.
struct ClientHandshakeOptions {
  std::string host;                 ///< Host header value: "host" or "host:port"
  std::string target = "/";         ///< request target: path and query
  std::string origin;               ///< Origin header; empty: not sent
  std::vector<std::string> subprotocols;  ///< offered, in order of preference
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra request headers
  DeflateOptions deflate;           ///< what to offer for permessage-deflate
  std::size_t max_header_bytes = 16384;  ///< largest response head accepted
};

/// True for an HTTP token (RFC 9110 §5.6.2): a valid header name or subprotocol. Pure.
bool is_http_token(std::string_view text) noexcept;
/// True when `text` has a CR, LF or NUL: as a header value it would end the
/// line early (header injection). Pure.
bool breaks_header_line(std::string_view text) noexcept;
/// True when `text` has a space or a control byte (<= 0x20, 0x7f): in a
/// request line or Host value it would split it. Pure.
bool has_space_or_control(std::string_view text) noexcept;

/// Error::bad_request_option when a value would break the request head (CR,
/// LF or NUL: header injection) or a header name is not an HTTP token; else {}.
std::error_code check_request_options(const ClientHandshakeOptions& options);

/// Builds the request (with a fresh random key) and validates the response.
class ClientHandshake {
 public:
  /// Options that fail check_request_options() give a handshake that is
  /// rejected from the start: error() says why and request() is empty.
  explicit ClientHandshake(ClientHandshakeOptions options);

  /// The request bytes to write. Stable for the object's lifetime.
  const std::string& request() const noexcept { return request_; }
  const std::string& key() const noexcept { return key_; }

  /// Feeds response bytes, all taken (as for ServerHandshake::feed). Returns
  /// accepted once a valid 101 arrived; rejected with error() on a non-101
  /// status, a wrong accept key, or an extension/subprotocol not offered.
  HandshakeStatus feed(std::span<const char> data);

  /// Bytes received after the response head (already frames, for the codec).
  std::string_view leftover() const noexcept;

  std::error_code error() const noexcept { return error_; }
  /// The response head (status, headers); valid once the head was complete.
  const boost::beast::http::response_header<>& response() const { return parser_.get().base(); }
  const std::string& subprotocol() const noexcept { return subprotocol_; }
  const std::optional<DeflateParams>& deflate() const noexcept { return deflate_; }

 private:
  ClientHandshakeOptions options_;
  std::string key_;
  std::string request_;
  std::string buffer_;
  std::size_t head_size_ = 0;
  boost::beast::http::response_parser<boost::beast::http::empty_body> parser_;
  std::error_code error_;
  std::string subprotocol_;
  std::optional<DeflateParams> deflate_;
  HandshakeStatus status_ = HandshakeStatus::need_more;
};

}  // namespace sluice::protocol
