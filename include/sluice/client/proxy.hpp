// HTTP CONNECT proxies: which one (if any) a URL goes through, from
// ProxyOptions or the usual environment variables (curl's conventions).
// Pure functions; thread-safe (the environment is read through `getenv`).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/client/options.hpp"
#include "sluice/net/url.hpp"

namespace sluice::client {

struct ProxyEndpoint {
  std::string host;
  std::uint16_t port = 0;
  /// Headers for the CONNECT request (Proxy-Authorization from user:password in the URL, extras).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Parses "http://[user:password@]host[:port][/]" (port 80 by default; a bare
/// "host:port" is taken as http). Returns nullopt and sets `error` otherwise.
std::optional<ProxyEndpoint> parse_proxy_url(std::string_view url, std::string& error);

/// True if `host` is excluded by a no_proxy list: comma-separated names,
/// ".suffix" or "suffix" domain matches, IP literals, "*" for all; an entry
/// "name:port" only matches that port.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port);

using GetEnv = std::function<const char*(const char*)>;

/// The proxy for `url`: options.url if set; otherwise, when use_environment,
/// http_proxy/HTTP_PROXY for ws:// and https_proxy/HTTPS_PROXY for wss://
/// unless no_proxy/NO_PROXY excludes the host or the host is loopback
/// (localhost, 127.x, ::1). all_proxy (often SOCKS) is not read. nullopt: connect directly. A malformed proxy URL sets `error`.
std::optional<ProxyEndpoint> select_proxy(const net::WsUrl& url, const ProxyOptions& options, std::string& error,
                                          const GetEnv& getenv);
/// The same, reading the process environment.
std::optional<ProxyEndpoint> select_proxy(const net::WsUrl& url, const ProxyOptions& options, std::string& error);

}  // namespace sluice::client
