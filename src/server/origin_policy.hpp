// Which browser origins may open a WebSocket or call the HTTP API across
// origins (SPEC §3 Security: origin allowlist; Centrifugo's default).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::server::detail {

/// True if `origin` (an Origin header value, e.g. "https://app.example.com")
/// matches one of `allowed`: "*" (any), an exact origin (ASCII case
/// ignored), or "scheme://*.domain[:port]" (any subdomain of domain, not the
/// domain itself). "null" and malformed origins match only "*". Pure.
bool origin_listed(std::string_view origin, const std::vector<std::string>& allowed);

/// True if `origin` names the server itself: its host[:port] equals `host`
/// (the request's Host header), default ports (80 for http, 443 for https)
/// written or not. Pure.
bool same_origin(std::string_view origin, std::string_view host);

/// The WebSocket rule: no Origin (not a browser) passes; otherwise listed
/// in `allowed`, or the server's own origin when `allowed` is empty. Pure.
bool upgrade_origin_allowed(std::string_view origin, std::string_view host, const std::vector<std::string>& allowed);

}  // namespace sluice::server::detail
