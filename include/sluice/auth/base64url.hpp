// Base64url without padding (RFC 4648 §5), as JWTs and API keys use it.
// TODO(server): src/server/http/http_api.cpp has its own copy in its detail
// namespace; it should use this one once the server links sluice_auth.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::auth {

/// `bytes` in base64url, no '=' padding. Pure, thread-safe.
std::string base64url_encode(std::string_view bytes);

/// The bytes `text` encodes, or nullopt if it is not canonical unpadded
/// base64url: a character outside [A-Za-z0-9_-], '=' padding, a length of
/// 4n+1, or unused trailing bits that are not zero (one value, one spelling).
/// Pure, thread-safe.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace sluice::auth
