#include "sluice/auth/token_signer.hpp"

#include <jwt.h>

#include <cstdlib>
#include <memory>

#include "claims_json.hpp"
#include "jwt_handle.hpp"
#include "sluice/auth/token_keys.hpp"
#include "sluice/topic/topic.hpp"

namespace sluice::auth {
namespace {

struct CharFree {
  void operator()(char* s) const noexcept { std::free(s); }  // libjwt 1.10 strings come from malloc
};

}  // namespace

std::optional<std::string> sign_hs256_token(std::string_view secret, const TokenClaims& claims, std::string& error) {
  if (secret.size() < kMinHs256SecretBytes) {
    error = "the HS256 secret is shorter than " + std::to_string(kMinHs256SecretBytes) + " bytes (RFC 7518 §3.2)";
    return std::nullopt;
  }
  for (const auto* list : {&claims.subscribe, &claims.publish}) {
    for (const auto& p : *list) {
      if (auto why = topic::pattern_error(p); !why.empty()) {
        error = "'" + p + "' is not a topic pattern: " + why;
        return std::nullopt;
      }
    }
  }
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) {
    error = "libjwt could not make a token (out of memory)";
    return std::nullopt;
  }
  detail::JwtHandle jwt(raw);
  const std::string payload = boost::json::serialize(detail::claims_to_json(claims));
  if (jwt_add_grants_json(jwt.get(), payload.c_str()) != 0 ||
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                  static_cast<int>(secret.size())) != 0) {
    error = "libjwt refused the claims or the key";
    return std::nullopt;
  }
  std::unique_ptr<char, CharFree> token(jwt_encode_str(jwt.get()));
  if (!token) {
    error = "libjwt could not sign the token";
    return std::nullopt;
  }
  return std::string(token.get());
}

}  // namespace sluice::auth
