// The Centrifugo session's tokens: refresh of the connection token, the
// close at its expiry, subscription tokens (checked on subscribe, renewed by
// sub_refresh, ended at expiry with 2501) and what a grant may read.
#include <boost/asio/steady_timer.hpp>

#include <algorithm>

#include "centrifugo/session_util.hpp"
#include "sluice/centrifugo/session.hpp"

namespace sluice::centrifugo {

using detail::append_line;
using detail::expiry_fields;
using detail::until;

void Session::refresh(const Command& c, std::string& replies) {
  if (!context_.auth || !context_.auth->accepts_tokens()) {
    return append_line(replies, encode_error(c.id, error_code::not_available, "not available"));
  }
  auto checked = context_.auth->check_token(c.token, std::chrono::system_clock::now());
  if (!checked) {
    if (checked.message.find("expired") != std::string::npos) {
      return append_line(replies, encode_error(c.id, error_code::token_expired, "token expired"));
    }
    return close_with(disconnect::invalid_token);
  }
  if (grant_ && grant_->token && grant_->subject != checked.grant->subject) {
    return close_with(disconnect::invalid_token);  // a token for someone else
  }
  grant_ = std::make_unique<auth::ConnectionGrant>(std::move(*checked.grant));
  // Subscriptions the new grant no longer allows end with an unsubscribe
  // push; those made with a subscription token follow their own token.
  std::vector<std::string> revoked;
  for (const auto& [topic, subscription] : subscriptions_) {
    if (subscription.expires_at == 0 && !may_read(subscription.channel, topic)) revoked.push_back(topic);
  }
  append_line(replies, encode_result(c.id, "refresh", connect_result()));
  for (const auto& topic : revoked) drop_subscription(topic, "permission denied");
  arm_expiry();
}

// A timer at the grant's expiry plus expired_close_delay (moved by a
// refresh): the connection then closes with 3005 and the SDK reconnects
// with a fresh token.
void Session::arm_expiry() {
  if (!grant_ || grant_->expires_at == 0 || !connection_) return;
  if (!expiry_) expiry_ = std::make_unique<boost::asio::steady_timer>(connection_->executor());
  expiry_->expires_after(until(grant_->expires_at, context_.settings.expired_close_delay));
  expiry_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: refreshed or closed
    auto self = weak.lock();
    if (!self || !self->grant_) return;
    if (until(self->grant_->expires_at, self->context_.settings.expired_close_delay).count() > 0) {
      return self->arm_expiry();  // the clock was early
    }
    self->close_with(disconnect::expired);
  });
}

// One timer for every subscription made with a token, at the earliest end.
void Session::arm_subscription_expiry() {
  if (!connection_) return;
  std::int64_t earliest = 0;
  for (const auto& [topic, subscription] : subscriptions_) {
    if (subscription.expires_at > 0 && (earliest == 0 || subscription.expires_at < earliest)) {
      earliest = subscription.expires_at;
    }
  }
  if (earliest == 0) {
    if (sub_expiry_) sub_expiry_->cancel();
    return;
  }
  if (!sub_expiry_) sub_expiry_ = std::make_unique<boost::asio::steady_timer>(connection_->executor());
  sub_expiry_->expires_after(until(earliest, context_.settings.expired_close_delay));
  sub_expiry_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: re-armed or closed
    if (auto self = weak.lock()) self->expire_subscriptions();
  });
}

// Centrifugo's unsubscribe code 2501: the SDK subscribes again with a new
// token (from the position it had, so nothing is missed).
void Session::expire_subscriptions() {
  if (!connection_) return;
  std::vector<std::string> expired;
  for (const auto& [topic, subscription] : subscriptions_) {
    if (subscription.expires_at > 0 && until(subscription.expires_at, context_.settings.expired_close_delay).count() == 0) {
      expired.push_back(topic);
    }
  }
  for (const auto& topic : expired) end_subscription(topic, 2501, "subscription expired");
  arm_subscription_expiry();
}

// sub_refresh: {channel, token}, a new subscription token for a channel this
// connection is subscribed to with one. Answered with its ttl; an expired
// token is 109, a token for another channel or user closes with 3500.
void Session::sub_refresh(const Command& c, std::string& replies) {
  if (!context_.auth || !context_.auth->accepts_tokens()) {
    return append_line(replies, encode_error(c.id, error_code::not_available, "not available"));
  }
  auto topic = topic_of(c, replies);
  if (!topic) return;
  auto it = subscriptions_.find(*topic);
  if (it == subscriptions_.end()) {
    // Centrifugo's answer: only a subscription can be refreshed.
    return append_line(replies, encode_error(c.id, error_code::permission_denied, "permission denied"));
  }
  if (c.token.empty()) return append_line(replies, encode_error(c.id, error_code::bad_request, "token required"));
  const auto expires_at = check_subscription_token(c, replies);
  if (!expires_at) return;
  it->second.expires_at = *expires_at;
  const std::string fields = expiry_fields(*expires_at);  // ",..." or empty
  append_line(replies, encode_result(c.id, "sub_refresh", "{" + (fields.empty() ? fields : fields.substr(1)) + "}"));
  arm_subscription_expiry();
}

// A token's Centrifugo `channels` claim lists channels by name; its
// `subscribe` patterns cover topics; an API key's read scope covers all.
bool Session::may_read(const std::string& channel, const std::string& topic) const {
  if (!grant_) return true;
  if (grant_->token) {
    const auto& channels = grant_->token->channels;
    if (std::find(channels.begin(), channels.end(), channel) != channels.end()) return true;
  }
  return grant_->may_subscribe(topic);
}

// Centrifugo's subscription token (the `token` of subscribe): a JWT from the
// same verifier as connection tokens, whose `channel` is this channel and
// whose `sub` is the connection's user (a token's `sub`; "" otherwise). An
// expired one is error 109 (the SDK fetches a new one and subscribes again);
// any other fault closes with 3500, as Centrifugo does.
std::optional<std::int64_t> Session::check_subscription_token(const Command& c, std::string& replies) {
  const auto checked = context_.auth->check_token(c.token, std::chrono::system_clock::now());
  if (!checked) {
    if (checked.message.find("expired") != std::string::npos) {
      append_line(replies, encode_error(c.id, error_code::token_expired, "token expired"));
    } else {
      close_with(disconnect::invalid_token);
    }
    return std::nullopt;
  }
  const std::string user = grant_ && grant_->token ? grant_->token->sub : std::string();
  const auto& claims = *checked.grant->token;
  if (claims.channel != c.channel || claims.sub != user) {
    close_with(disconnect::invalid_token);
    return std::nullopt;
  }
  return checked.grant->expires_at;
}

}  // namespace sluice::centrifugo
