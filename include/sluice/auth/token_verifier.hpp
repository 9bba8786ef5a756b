// Verifies connection tokens (JWS compact JWTs) with libjwt: one algorithm
// per server (HS256 with a shared secret, or RS256/ES256 with a public key),
// `exp` required, `nbf` honoured, Sluice's claims read and checked.
//
// Refused, each with its own reason: no token; anything that is not three
// base64url parts of JSON; `alg: none` and every algorithm but the
// configured one (checked before the signature, so an HS256 token "signed"
// with the text of an RS256 public key never reaches HMAC); a signature
// that does not verify; claims of the wrong type; a token past `exp` or
// before `nbf`.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/auth/token_claims.hpp"
#include "sluice/auth/token_keys.hpp"

namespace sluice::auth {

/// Longer tokens are refused before any parsing.
inline constexpr std::size_t kMaxTokenLength = 8192;

struct TokenVerifierSettings {
  TokenAlgorithm algorithm = TokenAlgorithm::hs256;
  /// HS256: the secret file (--jwt-secret-file); RS256/ES256: the PEM
  /// public key file (--jwt-public-key).
  std::filesystem::path key_file;
  /// Clock skew tolerated on `exp` and `nbf` (0 to 300 s).
  std::chrono::seconds leeway{0};

  /// Why these settings are invalid; empty if valid (the file is read by
  /// TokenVerifier::create). Pure, thread-safe.
  std::string validate() const;
};

/// Why a token was refused. Every one means close 4401.
enum class TokenFailure {
  missing,          ///< no token given
  malformed,        ///< not a JWS compact JWT of JSON parts, or too long
  wrong_algorithm,  ///< `alg` is none or not the configured algorithm
  bad_signature,    ///< the signature does not verify with the configured key
  invalid_claims,   ///< no `exp`, or a claim of the wrong type or shape
  expired,          ///< now >= exp + leeway
  not_yet_valid,    ///< now + leeway < nbf
};
/// "missing", "malformed", "wrong_algorithm", "bad_signature", ... (static
/// strings, for logs and metrics labels). Pure, thread-safe.
std::string_view to_string(TokenFailure f) noexcept;

/// verify()'s answer: the claims, or why not. A plain value: thread-safe to
/// copy and read, independent of the verifier and the token.
struct TokenCheck {
  std::optional<TokenClaims> claims;
  TokenFailure failure = TokenFailure::missing;  ///< meaningful only without claims
  /// Human words for the refusal, e.g. "token expired"; fits a close
  /// reason (at most 100 bytes) and never holds the token, the key, or
  /// text taken from the token.
  std::string message;

  explicit operator bool() const noexcept { return claims.has_value(); }
};

class TokenVerifier {
 public:
  /// A verifier from `settings`, reading its key file now. Null with
  /// `error` (never holding the key) if the settings or the file are bad.
  /// Thread-safe; the verifier lives as long as its last shared_ptr.
  static std::shared_ptr<const TokenVerifier> create(const TokenVerifierSettings& settings, std::string& error);
  /// A verifier from key material in memory: the secret for HS256, the PEM
  /// public key for RS256/ES256. Null with `error` (never holding the key)
  /// if the key is unfit. Thread-safe.
  static std::shared_ptr<const TokenVerifier> from_key(TokenAlgorithm algorithm, std::string key,
                                                       std::chrono::seconds leeway, std::string& error);

  /// Checks `token` (the bare JWT, e.g. from bearer_credential() or
  /// ?token=) at time `now`. Thread-safe: the verifier is immutable, so
  /// any number of threads may call this at once. The token is only read
  /// during the call; nothing of it is kept but the returned claims.
  TokenCheck verify(std::string_view token, std::chrono::system_clock::time_point now) const;

  /// The configured algorithm and leeway. Thread-safe (const).
  TokenAlgorithm algorithm() const noexcept { return algorithm_; }
  std::chrono::seconds leeway() const noexcept { return leeway_; }

  /// Wipes the key from memory.
  ~TokenVerifier();
  TokenVerifier(const TokenVerifier&) = delete;
  TokenVerifier& operator=(const TokenVerifier&) = delete;

 private:
  TokenVerifier(TokenAlgorithm algorithm, std::string key, std::chrono::seconds leeway);

  TokenAlgorithm algorithm_;
  std::string key_;
  std::chrono::seconds leeway_;
};

}  // namespace sluice::auth
