// TokenClaims to and from a JWT payload (private to sluice_auth).
#pragma once

#include <boost/json.hpp>

#include <string>

#include "sluice/auth/token_claims.hpp"

namespace sluice::auth::detail {

/// Reads Sluice's claims from a verified payload; false with `why` (short,
/// naming the claim, never echoing its value) if one has the wrong type or
/// shape, or `exp` is missing. Unknown claims are ignored. Pure, thread-safe.
bool claims_from_json(const boost::json::object& payload, TokenClaims& claims, std::string& why);

/// The payload for `claims`: sub (if not empty), exp, nbf/iat (if set),
/// subscribe, publish, channels (if not empty). Pure, thread-safe.
boost::json::object claims_to_json(const TokenClaims& claims);

}  // namespace sluice::auth::detail
