#include "sluice/auth/token_verifier.hpp"

#include <jwt.h>
#include <openssl/crypto.h>

#include <boost/json.hpp>

#include "claims_json.hpp"
#include "jwt_handle.hpp"
#include "sluice/auth/base64url.hpp"

namespace sluice::auth {
namespace json = boost::json;

namespace {

TokenCheck refuse(TokenFailure failure, std::string message) {
  TokenCheck check;
  check.failure = failure;
  check.message = std::move(message);
  return check;
}

// A base64url part that must hold a JSON object (header or payload).
std::optional<json::object> json_part(std::string_view part) {
  const auto bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*bytes, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

bool iequals_jwt(std::string_view s) {
  return s.size() == 3 && (s[0] | 0x20) == 'j' && (s[1] | 0x20) == 'w' && (s[2] | 0x20) == 't';
}

jwt_alg_t libjwt_alg(TokenAlgorithm a) {
  switch (a) {
    case TokenAlgorithm::hs256: return JWT_ALG_HS256;
    case TokenAlgorithm::rs256: return JWT_ALG_RS256;
    case TokenAlgorithm::es256: return JWT_ALG_ES256;
  }
  return JWT_ALG_INVAL;
}

}  // namespace

std::string_view to_string(TokenFailure f) noexcept {
  switch (f) {
    case TokenFailure::missing: return "missing";
    case TokenFailure::malformed: return "malformed";
    case TokenFailure::wrong_algorithm: return "wrong_algorithm";
    case TokenFailure::bad_signature: return "bad_signature";
    case TokenFailure::invalid_claims: return "invalid_claims";
    case TokenFailure::expired: return "expired";
    case TokenFailure::not_yet_valid: return "not_yet_valid";
  }
  return "?";
}

std::string TokenVerifierSettings::validate() const {
  if (key_file.empty()) {
    return algorithm == TokenAlgorithm::hs256 ? "HS256 tokens need a secret file (--jwt-secret-file)"
                                              : "RS256/ES256 tokens need a public key file (--jwt-public-key)";
  }
  if (leeway < std::chrono::seconds(0) || leeway > std::chrono::seconds(300)) {
    return "the token leeway must be between 0 and 300 seconds";
  }
  return {};
}

TokenVerifier::TokenVerifier(TokenAlgorithm algorithm, std::string key, std::chrono::seconds leeway)
    : algorithm_(algorithm), key_(std::move(key)), leeway_(leeway) {}

TokenVerifier::~TokenVerifier() { OPENSSL_cleanse(key_.data(), key_.size()); }

std::shared_ptr<const TokenVerifier> TokenVerifier::create(const TokenVerifierSettings& settings, std::string& error) {
  if (auto why = settings.validate(); !why.empty()) {
    error = why;
    return nullptr;
  }
  auto key = settings.algorithm == TokenAlgorithm::hs256
                 ? read_hs256_secret_file(settings.key_file, error)
                 : read_public_key_file(settings.algorithm, settings.key_file, error);
  if (!key) return nullptr;
  return from_key(settings.algorithm, std::move(*key), settings.leeway, error);
}

std::shared_ptr<const TokenVerifier> TokenVerifier::from_key(TokenAlgorithm algorithm, std::string key,
                                                             std::chrono::seconds leeway, std::string& error) {
  if (algorithm == TokenAlgorithm::hs256) {
    if (key.size() < kMinHs256SecretBytes) {
      error = "the HS256 secret is shorter than " + std::to_string(kMinHs256SecretBytes) + " bytes (RFC 7518 §3.2)";
      OPENSSL_cleanse(key.data(), key.size());
      return nullptr;
    }
  } else if (auto why = public_key_error(algorithm, key); !why.empty()) {
    error = "the public key " + why;
    return nullptr;
  }
  if (leeway < std::chrono::seconds(0) || leeway > std::chrono::seconds(300)) {
    error = "the token leeway must be between 0 and 300 seconds";
    return nullptr;
  }
  // The constructor is private: make_shared cannot reach it.
  return std::shared_ptr<const TokenVerifier>(new TokenVerifier(algorithm, std::move(key), leeway));
}

TokenCheck TokenVerifier::verify(std::string_view token, std::chrono::system_clock::time_point now) const {
  if (token.empty()) return refuse(TokenFailure::missing, "missing token");
  if (token.size() > kMaxTokenLength) {
    return refuse(TokenFailure::malformed, "token malformed: longer than " + std::to_string(kMaxTokenLength) + " bytes");
  }
  // JWS compact: header.payload.signature (a JWE has five parts and is refused here too).
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return refuse(TokenFailure::malformed, "token malformed: not three dot-separated parts");
  }
  const auto header = json_part(token.substr(0, dot1));
  if (!header) return refuse(TokenFailure::malformed, "token malformed: header is not base64url JSON");
  const auto* alg = header->if_contains("alg");
  if (!alg || !alg->is_string()) return refuse(TokenFailure::malformed, "token malformed: header has no alg");
  const std::string_view alg_name = alg->get_string();
  const std::string expected(to_string(algorithm_));
  if (alg_name != expected) {
    // Only names we know are repeated: the header is the sender's text.
    const bool known = alg_name == "none" || alg_name == "HS256" || alg_name == "HS384" || alg_name == "HS512" ||
                       alg_name == "RS256" || alg_name == "RS384" || alg_name == "RS512" || alg_name == "ES256" ||
                       alg_name == "ES384" || alg_name == "ES512" || alg_name == "PS256" || alg_name == "EdDSA";
    return refuse(TokenFailure::wrong_algorithm, "token algorithm " + (known ? std::string(alg_name) : "unknown") +
                                                     " refused: only " + expected + " is accepted");
  }
  // RFC 7515 §4.1.11: extensions marked critical that we do not know must be refused.
  if (header->contains("crit")) return refuse(TokenFailure::malformed, "token malformed: crit header not supported");
  // typ, when present, is "JWT" in any case (RFC 7519 §5.1), as libjwt 1.10 also insists.
  if (const auto* typ = header->if_contains("typ"); typ && !(typ->is_string() && iequals_jwt(typ->get_string()))) {
    return refuse(TokenFailure::malformed, "token malformed: typ is not JWT");
  }
  const auto payload = json_part(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload) return refuse(TokenFailure::malformed, "token malformed: payload is not base64url JSON");
  if (dot2 + 1 == token.size()) return refuse(TokenFailure::bad_signature, "token signature invalid: none given");

  // The signature, by libjwt (it wants a NUL-terminated copy).
  const std::string copy(token);
  jwt_t* raw = nullptr;
  const int rc = jwt_decode(&raw, copy.c_str(), reinterpret_cast<const unsigned char*>(key_.data()),
                            static_cast<int>(key_.size()));
  detail::JwtHandle decoded(raw);
  if (rc != 0 || !decoded) return refuse(TokenFailure::bad_signature, "token signature invalid");
  // Belt and braces: libjwt verified with the header's algorithm, which must be ours.
  if (jwt_get_alg(decoded.get()) != libjwt_alg(algorithm_)) {
    return refuse(TokenFailure::wrong_algorithm, "token algorithm refused: only " + expected + " is accepted");
  }

  TokenClaims claims;
  std::string why;
  if (!detail::claims_from_json(*payload, claims, why)) return refuse(TokenFailure::invalid_claims, "token claims invalid: " + why);
  const std::int64_t now_s = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::int64_t leeway = leeway_.count();
  // RFC 7519 §4.1.4: valid only strictly before exp; §4.1.5: from nbf on.
  if (now_s >= claims.exp + leeway) return refuse(TokenFailure::expired, "token expired");
  if (claims.nbf && now_s + leeway < *claims.nbf) return refuse(TokenFailure::not_yet_valid, "token not yet valid (nbf)");
  TokenCheck check;
  check.claims = std::move(claims);
  return check;
}

}  // namespace sluice::auth
