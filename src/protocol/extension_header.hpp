// Parsing of Sec-WebSocket-Extensions (RFC 6455 §9.1) and of permessage-deflate's
// parameters (RFC 7692 §7.1). Private to the handshake. Pure functions: safe to
// call from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::protocol::detail {

/// One `name` or `name=value` parameter of an extension.
struct ExtensionParam {
  std::string name;
  std::optional<std::string> value;  ///< unquoted; nullopt when there is no "="
};

/// One element of the extension list: a name and its parameters, in order.
struct Extension {
  std::string name;
  std::vector<ExtensionParam> params;
};

/// Appends the extensions listed in one header value to `out`, in order.
/// Grammar: 1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) ), with
/// optional whitespace around the separators; a quoted value must unescape to a
/// token. Empty list elements are skipped (RFC 7230 §7). Returns false when the
/// value does not follow the grammar; `out` may then hold a partial result.
bool parse_extensions(std::string_view value, std::vector<Extension>& out);

/// The permessage-deflate parameters written in one offer or response.
struct DeflateParamSet {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::optional<int> server_max_window_bits;
  bool has_client_max_window_bits = false;  ///< present, with or without a value
  std::optional<int> client_max_window_bits;
};

/// Reads permessage-deflate's parameters. nullopt on an unknown or repeated
/// parameter, a value on a no_context_takeover flag, server_max_window_bits
/// without a value, or window bits that are not a decimal 8..15 without
/// leading zeros. Role-specific rules (e.g. an 8-bit server window) are the
/// caller's.
std::optional<DeflateParamSet> parse_deflate_params(const std::vector<ExtensionParam>& params);

}  // namespace sluice::protocol::detail
