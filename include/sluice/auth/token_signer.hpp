// Makes HS256 connection tokens, for `sluice token` (the way Centrifugo's
// `gentoken` helps its users) and for tests. Servers only verify.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/auth/token_claims.hpp"

namespace sluice::auth {

/// A JWT with header {"alg":"HS256","typ":"JWT"} and `claims` (claims_to_json:
/// sub, exp, nbf, iat, subscribe, publish, channels), signed with `secret`
/// by libjwt. nullopt with `error` if the secret is shorter than
/// kMinHs256SecretBytes, a pattern is invalid, or libjwt failed. Neither the
/// secret nor the token ever appears in `error`. Thread-safe.
std::optional<std::string> sign_hs256_token(std::string_view secret, const TokenClaims& claims, std::string& error);

}  // namespace sluice::auth
