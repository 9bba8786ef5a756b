// Who a WebSocket connection is and what it may do (SPEC §3 Security): a
// connection token (JWT: its `subscribe` and `publish` patterns, until its
// `exp`) or an API key (its scopes: `read` subscribes to every topic,
// `publish` publishes to every topic, `admin` does both; no expiry).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/auth/key_ring.hpp"
#include "sluice/auth/scopes.hpp"
#include "sluice/auth/token_claims.hpp"
#include "sluice/auth/token_verifier.hpp"

namespace sluice::auth {

/// What an authenticated connection may do. A plain value: thread-safe to
/// copy and read.
struct ConnectionGrant {
  /// For logs and connection info: the token's `sub`, or "key:NAME".
  std::string subject;
  /// Unix seconds after which the grant is void (the token's `exp` plus the
  /// verifier's leeway); 0: never (API keys).
  std::int64_t expires_at = 0;
  /// Set for a token: its patterns decide.
  std::optional<TokenClaims> token;
  /// For an API key: its scopes decide.
  Scopes key_scopes;

  /// True if the grant allows subscribing to `pattern` (a valid topic or pattern).
  bool may_subscribe(std::string_view pattern) const;
  /// True if the grant allows publishing on the topic `topic`.
  bool may_publish(std::string_view topic) const;
};

/// check()'s answer: a grant, or the reason it was refused. A plain value.
struct ConnectionCheck {
  std::optional<ConnectionGrant> grant;
  /// Why not, in words fit for a close reason (at most 100 bytes): e.g.
  /// "token expired", "missing token". Never holds the credential or key.
  std::string message;
  /// Why not, as a short static label for metrics: "missing", "invalid_key",
  /// "not_configured" or a TokenFailure's name ("expired", "bad_signature", ...).
  std::string_view reason;
  explicit operator bool() const noexcept { return grant.has_value(); }
};

/// Checks the credential a connection brings against the server's API keys
/// and connection-token key. Immutable after construction; check() is
/// thread-safe. `keys` (may be null) must outlive it; the verifier is shared.
class ConnectionAuthenticator {
 public:
  /// Called with ConnectionCheck::reason on every refusal (metrics), on the
  /// checking thread: must be thread-safe and quick. May be empty.
  using RefusalObserver = std::function<void(std::string_view reason)>;

  ConnectionAuthenticator(const KeyRingSlot* keys, std::shared_ptr<const TokenVerifier> tokens,
                          RefusalObserver on_refused = {})
      : keys_(keys), tokens_(std::move(tokens)), on_refused_(std::move(on_refused)) {}

  /// True when connections must authenticate (keys or a token key configured).
  bool required() const noexcept { return keys_ != nullptr || tokens_ != nullptr; }
  /// True when connection tokens can be verified (a JWT key is configured).
  bool accepts_tokens() const noexcept { return tokens_ != nullptr; }

  /// Checks `credential` (a JWT or an API key; empty: none given) at `now`.
  /// A credential shaped like a JWT (three dot-separated parts) is verified
  /// as a token when a token key is configured; anything else is looked up
  /// among the API keys. The credential is only read during the call.
  ConnectionCheck check(std::string_view credential, std::chrono::system_clock::time_point now) const;

  /// Like check(), for a token only (the in-band refresh): API keys are
  /// not accepted there.
  ConnectionCheck check_token(std::string_view token, std::chrono::system_clock::time_point now) const;

 private:
  const KeyRingSlot* keys_;
  std::shared_ptr<const TokenVerifier> tokens_;
  RefusalObserver on_refused_;
  ConnectionCheck refused(ConnectionCheck check) const;
};

}  // namespace sluice::auth
