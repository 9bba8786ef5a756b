// The HTTP API's routing, request checks (size, media type, rate limit), the
// service and health endpoints, and the helpers its other files share.
// Events are in http_events.cpp, subscriptions in http_subscriptions.cpp.
#include "sluice/log/log.hpp"
#include "server/http/http_api.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "server/http/http_api_internal.hpp"
#include "server/http/http_ui.hpp"
#include "sluice/auth/bearer.hpp"
#include "sluice/server/sluice_server.hpp"
#include "sluice/util/ascii.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::server {

namespace json = boost::json;

namespace detail {


std::optional<HttpResponse> parse_json_body(const HttpRequest& request, json::value& out, json::storage_ptr storage) {
  if (request.body.empty()) return HttpResponse::error(400, "invalid_json", "the request body is empty; send a JSON object");
  std::error_code ec;
  out = json::parse(request.body, ec, std::move(storage));
  if (ec) return HttpResponse::error(400, "invalid_json", "the request body is not valid JSON: " + ec.message());
  return std::nullopt;
}

std::optional<HttpResponse> unknown_query_param(const HttpRequest& request,
                                                std::initializer_list<std::string_view> known) {
  for (const std::string& name : request.query_names()) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string allowed;
    for (const std::string_view k : known) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
    return bad_request("unknown query parameter " + util::quoted(name) + " (" +
                       (allowed.empty() ? std::string("this route takes none") : "this route takes " + allowed) + ")");
  }
  return std::nullopt;
}

HttpResponse bad_request(std::string_view message) { return HttpResponse::error(400, "bad_request", message); }
HttpResponse not_found(std::string_view message) { return HttpResponse::error(404, "not_found", message); }

HttpResponse with_header(HttpResponse response, std::string name, std::string value) {
  response.headers.emplace_back(std::move(name), std::move(value));
  return response;
}

bool parse_uint(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

namespace {
constexpr std::string_view kBase64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
int base64url_value(char c) {
  const auto at = kBase64Url.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}
}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Url[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kBase64Url[(buffer << (6 - bits)) & 0x3f];
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base64url_value(c);
    if (v < 0) return false;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return bits < 6;  // a lone trailing character carries no whole byte
}


}  // namespace detail

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

HttpResponse method_not_allowed(const HttpRequest& request, std::string allow) {
  return detail::with_header(HttpResponse::error(405, "method_not_allowed",
                                                 request.method + " is not allowed on " + request.path +
                                                     " (allowed: " + allow + ")"),
                             "Allow", allow);
}

HttpResponse upgrade_required(const std::string& path) {
  return detail::with_header(
      HttpResponse::error(426, "upgrade_required", path + " is a WebSocket endpoint: send a WebSocket upgrade request"),
      "Upgrade", "websocket");
}

// 429 with Retry-After; `who` says whose rate it was.
HttpResponse too_many_requests(const std::string& who, std::int64_t retry_after_s) {
  const std::string seconds = std::to_string(retry_after_s);
  return detail::with_header(HttpResponse::error(429, "rate_limited", who + "; retry in " + seconds + " s"),
                             "Retry-After", seconds);
}

bool is_probe(std::string_view path) { return path == "/health" || path == "/ready" || path == "/live"; }

constexpr std::string_view kEvents = "/v1/events";
constexpr std::string_view kSubscriptions = "/v1/subscriptions";

}  // namespace

HttpApi::HttpApi(broker::Broker& broker, SubscriptionRegistry& subscriptions, store::EventStore* store,
                 ApiLimits limits, Clock clock, PublishService* publisher)
    : broker_(broker),
      subscriptions_(subscriptions),
      store_(store),
      limits_(limits),
      clock_(clock ? std::move(clock) : Clock(unix_time_ms)),
      publisher_(publisher),
      ip_rate_({limits.rate_per_second, limits.rate_burst, limits.max_rate_clients}, clock_),
      key_rate_({limits.key_rate_per_second, limits.key_rate_burst, limits.max_rate_keys}, clock_) {
  if (!publisher_) {
    own_idempotency_ = std::make_unique<IdempotencyIndex>(
        store, IdempotencyLimits{limits.idempotency_window, limits.max_idempotency_keys}, clock_);
    own_publisher_ = std::make_unique<PublishService>(broker, *own_idempotency_);
    publisher_ = own_publisher_.get();
  }
  idempotency_ = &publisher_->idempotency();
}

HttpHandler HttpApi::handler() {
  return [this](const HttpRequest& request, HttpRespond respond) { handle(request, std::move(respond)); };
}

void HttpApi::handle(const HttpRequest& request, HttpRespond respond) {
  std::optional<HttpResponse> response;
  try {
    response = dispatch(request, respond);
  } catch (...) {
    // Bad input is answered with a 4xx before it gets here; this is a fault
    // of ours (e.g. out of memory), still answered once.
    response = HttpResponse::error(500, "internal_error", "the request could not be completed");
  }
  // nullopt: `respond` was kept to answer later (an idempotent publish in flight).
  if (response && respond) respond(std::move(*response));
}

// Routes by path, then method. Returns nullopt if `respond` was taken to
// answer later.
std::optional<HttpResponse> HttpApi::dispatch(const HttpRequest& request, HttpRespond& respond) {
  std::string_view path = request.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (!is_probe(path)) {
    if (auto limited = rate_limit(request)) return limited;
  }
  const bool get = request.method == "GET";

  if (path == "/") return get ? root() : method_not_allowed(request, "GET");
  if (is_probe(path)) return get ? probe(path) : method_not_allowed(request, "GET");
  if (path == "/v1/ws") return get ? upgrade_required(request.path) : method_not_allowed(request, "GET");
  // Centrifugo's server API (docs/centrifugo.md): POST /api/<method>.
  if (path.starts_with("/api/") && path.find('/', 5) == std::string_view::npos) {
    return centrifugo_api(path.substr(5), request, respond);
  }
  // The dashboard's files are public; the data it shows needs the read scope (its own requests).
  if (path == "/ui" || path.starts_with("/ui/")) return get ? detail::ui_file(request, path) : method_not_allowed(request, "GET");

  // Only the paged GETs below take query parameters; elsewhere any is a mistake.
  const bool takes_query = get && (path == kEvents || path == kSubscriptions || path == "/v1/topics" || path.ends_with("/stream") ||
                                   path.ends_with("/deliveries"));
  if (!takes_query) {
    if (auto bad = detail::unknown_query_param(request, {})) return bad;
  }
  using auth::Scope;
  if (path == "/v1/topics") {
    if (!get) return method_not_allowed(request, "GET");
    if (auto bad = detail::unknown_query_param(request, {"limit", "cursor"})) return bad;
    if (auto refused = authorize(request, Scope::read)) return refused;
    return list_topics(request);
  }
  if (path == kEvents || (path.starts_with(kEvents) && path[kEvents.size()] == '/')) {
    return route_events(request, path, respond);
  }
  if (path == kSubscriptions || (path.starts_with(kSubscriptions) && path[kSubscriptions.size()] == '/')) {
    return route_subscriptions(request, path, respond);
  }
  return detail::not_found("no route for " + request.path);
}

// /v1/events, /v1/events/batch and /v1/events/{id}.
std::optional<HttpResponse> HttpApi::route_events(const HttpRequest& request, std::string_view path,
                                                  HttpRespond& respond) {
  using auth::Scope;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (path == kEvents) {
    if (get) {
      if (auto bad = detail::unknown_query_param(request, {"topic", "key", "since", "limit", "cursor"})) return bad;
      if (auto refused = authorize(request, Scope::read)) return refused;
      return get_events(request);
    }
    if (!post) return method_not_allowed(request, "GET, POST");
    if (auto refused = authorize(request, Scope::publish)) return refused;
    if (auto bad = check_body(request)) return bad;
    return post_event(request, respond);
  }
  if (path == "/v1/events/batch") {
    if (!post) return method_not_allowed(request, "POST");
    if (auto refused = authorize(request, Scope::publish)) return refused;
    if (auto bad = check_body(request)) return bad;
    return post_batch(request, respond);
  }
  const std::string_view id = path.substr(kEvents.size() + 1);
  if (id.find('/') != std::string_view::npos) return detail::not_found("no route for " + request.path);
  if (!get) return method_not_allowed(request, "GET");
  if (auto refused = authorize(request, Scope::read)) return refused;
  return get_event(std::string(id));
}

// /v1/subscriptions and what is below it: one subscription, its stream, its webhook deliveries.
std::optional<HttpResponse> HttpApi::route_subscriptions(const HttpRequest& request, std::string_view path,
                                                         HttpRespond& respond) {
  using auth::Scope;
  const std::string& method = request.method;
  const bool get = method == "GET";
  const bool post = method == "POST";
  if (path == kSubscriptions) {
    if (get) {
      if (auto bad = detail::unknown_query_param(request, {"limit", "cursor"})) return bad;
      if (auto refused = authorize(request, Scope::read)) return refused;
      return list_subscriptions(request);
    }
    if (!post) return method_not_allowed(request, "GET, POST");
    if (auto refused = authorize(request, Scope::admin)) return refused;
    if (auto bad = check_body(request)) return bad;
    return post_subscription(request, respond);
  }
  std::string_view rest = path.substr(kSubscriptions.size() + 1);
  const std::size_t slash = rest.find('/');
  const std::string id(rest.substr(0, slash));
  if (slash == std::string_view::npos) {
    if (get) {
      if (auto refused = authorize(request, Scope::read)) return refused;
      return get_subscription(id);
    }
    if (method == "DELETE") {
      if (auto refused = authorize(request, Scope::admin)) return refused;
      return delete_subscription(id, respond);
    }
    return method_not_allowed(request, "GET, DELETE");
  }
  if (rest.substr(slash) == "/stream") {
    if (!get) return method_not_allowed(request, "GET");
    if (auto refused = authorize(request, Scope::read)) return refused;
    if (!subscriptions_.get(id)) return detail::not_found("no subscription " + id);
    return upgrade_required(request.path);
  }
  // Webhook deliveries: /deliveries, /deliveries/retry, /deliveries/{deliveryId}/retry.
  const std::string_view tail = rest.substr(slash);
  if (tail == "/deliveries") {
    if (!get) return method_not_allowed(request, "GET");
    if (auto bad = detail::unknown_query_param(request, {"kind", "limit", "cursor"})) return bad;
    if (auto refused = authorize(request, Scope::read)) return refused;
    return get_deliveries(id, request);
  }
  if (tail == "/deliveries/retry" || (tail.starts_with("/deliveries/") && tail.ends_with("/retry"))) {
    // "/deliveries/retry": every dead letter; "/deliveries/{deliveryId}/retry": that one.
    std::string_view middle;
    if (tail != "/deliveries/retry") {
      middle = tail.substr(12, tail.size() - 12 - 6);
      if (middle.empty() || middle.find('/') != std::string_view::npos) {
        return detail::not_found("no route for " + request.path);
      }
    }
    if (!post) return method_not_allowed(request, "POST");
    if (auto refused = authorize(request, Scope::admin)) return refused;
    return retry_deliveries(id, middle);
  }
  return detail::not_found("no route for " + request.path);
}

// API keys (SPEC §3 Security): `credential` compared with every key of the
// current ring in constant time; the key itself is never echoed or logged.
HttpApi::KeyVerdict HttpApi::check_key(const HttpRequest& request, std::optional<std::string_view> credential,
                                       bool missing, auth::Scope needed) const {
  KeyVerdict verdict;
  const auto check = keys_->get()->authenticate(credential.value_or(std::string_view()));
  if (!check) {
    missing = missing || !credential || credential->empty();
    if (on_auth_refused_) on_auth_refused_(missing ? "missing" : "invalid_key");
    // Rate-limited: a flood of bad clients must not fill the disk. Never the credential itself.
    const log::Field fields[] = {{"path", request.path}, {"reason", missing ? "missing_api_key" : "invalid_api_key"}};
    log::Context context;
    context.remote = request.remote_ip;
    context.extra = fields;
    log::limited(spdlog::level::warn, "http_unauthorized", context, "HTTP request refused: 401 unauthorized");
    verdict.status = missing ? KeyVerdict::Status::missing : KeyVerdict::Status::invalid;
    return verdict;
  }
  verdict.key_name = check.identity->name;
  // Per key, after authentication: only a valid key has a name to count
  // against, and the answer names that key, never its secret.
  if (const auto rate = key_rate_.acquire(check.identity->name); !rate) {
    verdict.status = KeyVerdict::Status::rate_limited;
    verdict.retry_after_s = rate.retry_after_s;
    return verdict;
  }
  if (!check.allows(needed)) {
    if (on_auth_refused_) on_auth_refused_("forbidden");
    verdict.status = KeyVerdict::Status::forbidden;
    verdict.scopes = auth::to_string(check.identity->scopes);
  }
  return verdict;
}

// /v1's wording: `Authorization: Bearer <key>`, errors as {"error":{...}} with 401/403/429.
std::optional<HttpResponse> HttpApi::authorize(const HttpRequest& request, auth::Scope needed) const {
  if (!keys_) return std::nullopt;
  const std::string_view header = request.header("Authorization");
  const auto verdict = check_key(request, auth::bearer_credential(header), header.empty(), needed);
  using Status = KeyVerdict::Status;
  switch (verdict.status) {
    case Status::ok:
      return std::nullopt;
    case Status::missing:
    case Status::invalid: {
      const bool missing = verdict.status == Status::missing;
      return detail::with_header(
          HttpResponse::error(401, "unauthorized",
                              missing ? "an API key is required: send Authorization: Bearer <key>"
                                      : "the API key is not valid (unknown or revoked)"),
          "WWW-Authenticate", missing ? "Bearer" : "Bearer error=\"invalid_token\"");
    }
    case Status::rate_limited:
      return too_many_requests("too many requests with the API key " + util::quoted(verdict.key_name),
                               verdict.retry_after_s);
    case Status::forbidden:
      break;
  }
  return HttpResponse::error(403, "forbidden",
                             "the API key " + util::quoted(verdict.key_name) + " lacks the " +
                                 std::string(auth::to_string(needed)) + " scope (it has " + verdict.scopes + ")");
}

// Per client IP token bucket (SPEC §3 Security: per-IP request rate limits).
std::optional<HttpResponse> HttpApi::rate_limit(const HttpRequest& request) {
  const auto verdict = ip_rate_.acquire(request.remote_ip);
  if (verdict) return std::nullopt;
  return too_many_requests("too many requests from " + request.remote_ip, verdict.retry_after_s);
}

// The checks every POST body passes first: size, then media type.
std::optional<HttpResponse> HttpApi::check_body(const HttpRequest& request, bool form_as_json) const {
  if (request.body.size() > limits_.max_body_bytes) {
    return HttpResponse::error(413, "payload_too_large",
                               "the request body is " + std::to_string(request.body.size()) +
                                   " bytes; the limit is " + std::to_string(limits_.max_body_bytes));
  }
  // Two media types: which one a proxy in front honoured is unknowable.
  const auto types = std::count_if(request.headers.begin(), request.headers.end(),
                                   [](const auto& h) { return ascii_iequals(h.first, "Content-Type"); });
  if (types > 1) return detail::bad_request("more than one Content-Type header");
  const std::string_view content_type = request.header("Content-Type");
  if (!content_type.empty()) {
    const std::string_view media = trim(content_type.substr(0, content_type.find(';')));
    if (!ascii_iequals(media, "application/json") && !(form_as_json && ascii_iequals(media, "application/x-www-form-urlencoded"))) {
      return HttpResponse::error(415, "unsupported_media_type",
                                 "Content-Type " + std::string(media) + " is not supported; send application/json");
    }
  }
  return std::nullopt;
}

std::optional<HttpResponse> HttpApi::page_limit(const HttpRequest& request, std::size_t& limit) const {
  std::string text;
  limit = std::min(limits_.default_page, limits_.max_page);
  if (!request.query_param("limit", text)) return std::nullopt;
  std::uint64_t value = 0;
  if (!detail::parse_uint(text, value) || value < 1 || value > limits_.max_page) {
    return detail::bad_request("limit must be an integer from 1 to " + std::to_string(limits_.max_page));
  }
  limit = static_cast<std::size_t>(value);
  return std::nullopt;
}

HttpResponse HttpApi::root() const {
  json::object links{{"self", "/"},
                     {"health", "/health"},
                     {"ready", "/ready"},
                     {"live", "/live"},
                     {"events", "/v1/events"},
                     {"subscriptions", "/v1/subscriptions"},
                     {"topics", "/v1/topics"},
                     {"ui", "/ui"},
                     {"ws", "/v1/ws"}};
  json::object body{{"service", "sluice"},
                    {"version", kVersion},
                    {"status", ready_.load() && (!ready_check_ || ready_check_()) ? "ok" : "unavailable"},
                    {"links", std::move(links)}};
  return HttpResponse::json(200, json::serialize(body));
}

HttpResponse HttpApi::probe(std::string_view path) const {
  if (path == "/ready" && !(ready_.load() && (!ready_check_ || ready_check_()))) return HttpResponse::json(503, R"({"status":"unavailable"})");
  return HttpResponse::json(200, R"({"status":"ok"})");
}

}  // namespace sluice::server
