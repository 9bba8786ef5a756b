#include "server/ws/upgrade_gate.hpp"

#include <charconv>
#include <chrono>

#include "server/origin_policy.hpp"
#include "sluice/auth/bearer.hpp"
#include "sluice/server/http_types.hpp"

namespace sluice::server::detail {

namespace {

// The query of `target` as an HttpRequest, for its percent-decoding parser.
HttpRequest query_of(std::string_view target) {
  HttpRequest request;
  const auto q = target.find('?');
  if (q != std::string_view::npos) request.query.assign(target.substr(q + 1));
  return request;
}

net::RouteRefusal unauthorized(std::string message) {
  return net::RouteRefusal{401, std::move(message), {{"WWW-Authenticate", "Bearer"}}};
}

}  // namespace

bool parse_stream_target(std::string_view target, StreamTarget& out) {
  constexpr std::string_view kPrefix = "/v1/subscriptions/", kSuffix = "/stream";
  const std::string_view path = target.substr(0, target.find('?'));
  if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix) || path.size() <= kPrefix.size() + kSuffix.size()) {
    return false;
  }
  out.subscription_id.assign(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
  if (out.subscription_id.find('/') != std::string::npos) return false;
  const HttpRequest request = query_of(target);
  for (const std::string& name : request.query_names()) {
    if (name != "since" && name != "token") {
      out.error = "unknown query parameter \"" + name + "\" (a stream takes since and token)";
      return false;
    }
  }
  std::string since;
  if (request.query_param("since", since)) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(since.data(), since.data() + since.size(), value);
    if (since.empty() || ec != std::errc() || end != since.data() + since.size()) {
      out.error = "since must be an integer >= 0: an offset (a subscription of one topic) or "
                  "milliseconds since the Unix epoch (patterns)";
      return false;
    }
    out.since = value;
  }
  return true;
}

std::string upgrade_credential(const net::ParsedRequest& request) {
  if (auto bearer = auth::bearer_credential(request.field("Authorization"))) return std::string(*bearer);
  std::string token;
  query_of(request.target()).query_param("token", token);
  return token;
}

std::optional<net::RouteRefusal> UpgradeGate::check(const net::ParsedRequest& request) const {
  Rejection why = Rejection::bad_upgrade;
  auto refusal = decide(request, why);
  if (refusal && metrics_) {
    metrics_->rejected(why);
    if (why == Rejection::auth && refusal->status == 403) metrics_->auth_refused("forbidden");
  }
  return refusal;
}

std::optional<net::RouteRefusal> UpgradeGate::decide(const net::ParsedRequest& request, Rejection& why) const {
  const std::string_view target = request.target();
  const auto path = target.substr(0, target.find('?'));
  StreamTarget stream;
  const bool is_stream = parse_stream_target(target, stream);
  if (path != "/v1/ws" && path != "/connection/websocket" && !is_stream) {
    why = Rejection::bad_upgrade;
    if (!stream.error.empty()) return net::RouteRefusal{400, stream.error, {}};
    return net::RouteRefusal{404, "no WebSocket endpoint at " + std::string(path), {}};
  }
  const std::string_view origin = request.field("Origin");
  std::shared_ptr<const std::vector<std::string>> allowed;
  {
    std::lock_guard lock(origins_mutex_);
    allowed = allowed_origins_;
  }
  if (!upgrade_origin_allowed(origin, request.field("Host"), *allowed)) {
    why = Rejection::origin;
    return net::RouteRefusal{403, "origin " + std::string(origin.substr(0, 200)) + " is not allowed (--allowed-origin)", {}};
  }
  why = Rejection::auth;
  if (is_stream) return check_stream(request, stream);
  return std::nullopt;
}

void UpgradeGate::set_allowed_origins(std::vector<std::string> origins) {
  auto next = std::make_shared<const std::vector<std::string>>(std::move(origins));
  std::lock_guard lock(origins_mutex_);
  allowed_origins_.swap(next);  // the old list goes after the lock, with `next`
}

// A stream needs a read API key, or a token whose `subscribe` patterns cover
// every topic pattern of the subscription.
std::optional<net::RouteRefusal> UpgradeGate::check_stream(const net::ParsedRequest& request,
                                                           const StreamTarget& stream) const {
  if (!auth_ || !auth_->required()) return std::nullopt;
  const auto checked = auth_->check(upgrade_credential(request), std::chrono::system_clock::now());
  if (!checked) return unauthorized(checked.message);
  const auth::ConnectionGrant& grant = *checked.grant;
  if (!grant.token) {
    if (grant.may_subscribe(">")) return std::nullopt;
    return net::RouteRefusal{403, "the API key " + grant.subject.substr(4) + " lacks the read scope", {}};
  }
  const auto subscription = subscriptions_.get(stream.subscription_id);
  if (!subscription) return std::nullopt;  // the session closes it with 4404
  for (const auto& pattern : subscription->patterns) {
    if (!grant.may_subscribe(pattern)) {
      return net::RouteRefusal{403, "the token does not allow subscribing to " + pattern, {}};
    }
  }
  return std::nullopt;
}

}  // namespace sluice::server::detail
