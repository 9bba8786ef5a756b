// ws:// and wss:// URLs, as the client and the command line take them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::net {

struct WsUrl {
  bool secure = false;   ///< wss://
  std::string host;      ///< without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string target;    ///< path and query, at least "/"

  /// The Host header value: host, plus ":port" when it is not the scheme's default.
  std::string host_header() const;
};

/// Parses "ws://host[:port][/path][?query]" or "wss://..." (IPv6 as "[::1]").
/// Returns nullopt for another scheme, an empty host or a bad port. Pure, thread-safe.
std::optional<WsUrl> parse_ws_url(std::string_view url);

}  // namespace sluice::net
