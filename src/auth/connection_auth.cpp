#include "sluice/auth/connection_auth.hpp"

#include <algorithm>

namespace sluice::auth {

namespace {

bool looks_like_jwt(std::string_view credential) {
  return std::count(credential.begin(), credential.end(), '.') == 2;
}

}  // namespace

bool ConnectionGrant::may_subscribe(std::string_view pattern) const {
  if (token) return token->may_subscribe(pattern);
  return key_scopes.allows(Scope::read);
}

bool ConnectionGrant::may_publish(std::string_view topic) const {
  if (token) return token->may_publish(topic);
  return key_scopes.allows(Scope::publish);
}

ConnectionCheck ConnectionAuthenticator::refused(ConnectionCheck check) const {
  if (on_refused_) on_refused_(check.reason);
  return check;
}

ConnectionCheck ConnectionAuthenticator::check_token(std::string_view token,
                                                     std::chrono::system_clock::time_point now) const {
  ConnectionCheck out;
  if (!tokens_) {
    out.message = "connection tokens are not enabled on this server";
    out.reason = "not_configured";
    return refused(std::move(out));
  }
  auto verified = tokens_->verify(token, now);
  if (!verified) {
    out.message = verified.failure == TokenFailure::missing ? "missing token" : std::move(verified.message);
    out.reason = to_string(verified.failure);
    return refused(std::move(out));
  }
  ConnectionGrant grant;
  grant.subject = verified.claims->sub;
  grant.expires_at = verified.claims->exp + tokens_->leeway().count();
  grant.token = std::move(verified.claims);
  out.grant = std::move(grant);
  return out;
}

ConnectionCheck ConnectionAuthenticator::check(std::string_view credential,
                                               std::chrono::system_clock::time_point now) const {
  if (credential.empty()) {
    return refused(ConnectionCheck{std::nullopt, tokens_ ? "missing token" : "missing API key", "missing"});
  }
  if (tokens_ && (looks_like_jwt(credential) || !keys_)) return check_token(credential, now);
  ConnectionCheck out;
  if (!keys_) {
    out.message = "authentication is not configured";
    out.reason = "not_configured";
    return refused(std::move(out));
  }
  const auto key = keys_->get()->authenticate(credential);
  if (!key) {
    out.message = "unknown API key";
    out.reason = "invalid_key";
    return refused(std::move(out));
  }
  ConnectionGrant grant;
  grant.subject = "key:" + key.identity->name;
  grant.key_scopes = key.identity->scopes;
  out.grant = std::move(grant);
  return out;
}

}  // namespace sluice::auth
