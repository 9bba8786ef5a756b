// The credential of a request: `Authorization: Bearer <credential>` (RFC 6750
// §2.1), used for API keys on the HTTP API and for connection tokens on the
// WebSocket upgrade (which may also bring it as `?token=`, browsers cannot
// set headers on a WebSocket).
#pragma once

#include <optional>
#include <string_view>

namespace sluice::auth {

/// The credential in an Authorization header value: "Bearer" (any case),
/// one or more spaces, then the credential (surrounding spaces trimmed).
/// nullopt when the header is empty, uses another scheme, or has no
/// credential or one with a space or control character in it. The view
/// points into `header_value`. Pure, thread-safe.
std::optional<std::string_view> bearer_credential(std::string_view header_value) noexcept;

}  // namespace sluice::auth
