// Who may hold a WebSocket (SPEC §3 Security): the per-IP connection limits
// (4429), and with authentication on the credential of the upgrade, the
// grant it gives, the per-request checks, the in-band refresh, and the close
// with 4401 when a token expires unrefreshed.
#include <boost/json/object.hpp>

#include <chrono>

#include "sluice/util/json_text.hpp"
#include "sluice/log/log.hpp"
#include "server/ws/upgrade_gate.hpp"
#include "sluice/server/inband_session.hpp"

namespace sluice::server {

namespace {

std::int64_t unix_seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

const std::string& InbandSession::subject() const noexcept {
  static const std::string none;
  return grant() ? grant()->subject : none;
}

std::optional<net::RouteRefusal> InbandSession::on_upgrade_request(net::Connection& connection,
                                                                   const net::ParsedRequest& request) {
  // Another protocol's path (/connection/websocket): its session takes over.
  if (auto* other = context_.owner.upgrade_requested(*this, connection, request)) {
    return other->on_upgrade_request(connection, request);
  }
  admit(connection);
  if (refusal_code() != 0) return std::nullopt;  // refused after the handshake, so the client can read why
  // Streams too: the UpgradeGate refused them without a fitting grant, and a
  // stream opened with a token is closed when that token expires.
  if (!context_.auth || !context_.auth->required()) return std::nullopt;
  Access& access = ensure_access();
  auto checked = context_.auth->check(detail::upgrade_credential(request), std::chrono::system_clock::now());
  if (checked) {
    access.grant = std::move(checked.grant);
  } else {
    access.refusal_code = 4401;
    access.refusal = std::move(checked.message);
  }
  return std::nullopt;
}

// Per client IP (SPEC §3 Security): new connections a second, then open ones.
void InbandSession::admit(net::Connection& connection) {
  if (!context_.connections_per_ip && !context_.new_connections_per_ip) return;
  const std::string ip = connection.remote_ip();
  if (!context_.limit_loopback && limits::is_loopback(ip)) return;
  Access& access = *(uncommon().access = std::make_unique<Access>());
  if (context_.new_connections_per_ip && !context_.new_connections_per_ip->acquire(ip)) {
    access.refusal_code = 4429;
    access.refusal = "too many new connections from " + ip + "; retry later";
    return;
  }
  if (context_.connections_per_ip) {
    access.ip_lease = context_.connections_per_ip->lease(ip);
    if (!access.ip_lease) {
      access.refusal_code = 4429;
      access.refusal = "too many connections from " + ip;
    }
  }
}

void InbandSession::on_open(net::Connection& connection) {
  if (const std::uint16_t refused = refusal_code(); refused != 0) {
    if (context_.metrics) {
      (refused == 4429 ? context_.metrics->rejected_limits : context_.metrics->rejected_auth)->add();
    }
    // Rate-limited per kind; the reason never holds the credential.
    const std::string code = std::to_string(refused);
    const log::Field fields[] = {{"close_code", code, true}, {"reason", access()->refusal}};
    const std::string remote = log::enabled(spdlog::level::warn) ? connection.remote_ip() : std::string();
    log::Context context;
    context.connection = id();
    context.remote = remote;
    context.extra = fields;
    log::limited(spdlog::level::warn, "websocket_refused_" + code, context, "WebSocket refused with " + code);
    return connection.close(refused, access()->refusal);
  }
  arm_expiry();
  context_.owner.session_opened(*this, connection);
}

// A timer at the grant's expiry; a refresh moves it. Token grants only.
void InbandSession::arm_expiry() {
  if (!grant() || grant()->expires_at == 0 || !connection_) return;
  auto& expiry = access()->expiry;
  if (!expiry) expiry = std::make_unique<boost::asio::steady_timer>(connection_->executor());
  const auto left = std::chrono::seconds(std::max<std::int64_t>(0, grant()->expires_at - unix_seconds_now()));
  expiry->expires_after(left);
  expiry->async_wait([owner = &context_.owner, session = id_](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: refreshed or closed
    auto* self = owner->find_session(session);
    if (!self || !self->grant()) return;
    if (self->grant()->expires_at > unix_seconds_now()) return self->arm_expiry();  // the clock was early
    self->close(4401, "token expired");
  });
}

bool InbandSession::may_subscribe(const std::string& id_json, const std::string& pattern) {
  const auth::ConnectionGrant* granted = grant();
  if (!granted || granted->may_subscribe(pattern)) return true;
  if (context_.metrics) context_.metrics->auth_forbidden->add();
  reply_error(id_json, "forbidden",
              granted->token ? "the token does not allow subscribing to " + pattern
                             : "the API key lacks the read scope");
  return false;
}

bool InbandSession::may_publish(const std::string& id_json, const std::string& topic) {
  const auth::ConnectionGrant* granted = grant();
  if (!granted || granted->may_publish(topic)) return true;
  if (context_.metrics) context_.metrics->auth_forbidden->add();
  reply_error(id_json, "forbidden",
              granted->token ? "the token does not allow publishing on " + topic
                             : "the API key lacks the publish scope");
  return false;
}

// {"op":"refresh","id":N,"token":JWT}: a new token for the same subject
// replaces the grant in place; subscriptions it no longer allows are
// dropped with an "unsubscribed" message. A refused token changes nothing
// (the old one still closes the connection when it expires).
void InbandSession::refresh(const std::string& id_json, const boost::json::object& request) {
  if (!context_.auth || !context_.auth->accepts_tokens()) {
    return reply_error(id_json, "not_supported", "this server does not use connection tokens");
  }
  const boost::json::value* token = request.if_contains("token");
  if (!token || !token->is_string()) return reply_error(id_json, "bad_request", "\"token\" (a string) is required");
  auto checked = context_.auth->check_token(token->get_string(), std::chrono::system_clock::now());
  if (!checked) return reply_error(id_json, "unauthorized", checked.message);
  Access& access = ensure_access();
  if (access.grant && access.grant->token && access.grant->subject != checked.grant->subject) {
    return reply_error(id_json, "forbidden", "the new token is for another subject");
  }
  access.grant = std::move(checked.grant);
  const std::int64_t expires_at = access.grant->expires_at;
  std::vector<std::string> revoked;
  for (const std::string_view pattern : subscriptions_) {
    if (!access.grant->may_subscribe(pattern)) revoked.emplace_back(pattern);
  }
  send_json("{\"type\":\"ack\",\"id\":" + id_json + ",\"op\":\"refresh\",\"expiresAt\":" + std::to_string(expires_at) + "}");
  for (const auto& pattern : revoked) drop_subscription(pattern, "the refreshed token does not allow it");
  arm_expiry();
}

}  // namespace sluice::server
