// Centrifugo's server HTTP API, as a shim over Sluice's (docs/centrifugo.md):
// POST /api/publish, /api/broadcast and /api/history, with an API key in
// `X-API-Key: KEY` or `Authorization: apikey KEY`, so a backend written for
// Centrifugo publishes to Sluice unchanged. Channels are mapped to topics as
// on /connection/websocket; publishes go through the one publish door.
// Method errors are HTTP 200 with {"error":{"code","message"}}, as there.
#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "server/http/http_api_internal.hpp"
#include "sluice/auth/bearer.hpp"
#include "sluice/centrifugo/channel.hpp"
#include "sluice/centrifugo/codec.hpp"
#include "sluice/centrifugo/history.hpp"
#include "server/http/http_api.hpp"

namespace sluice::server {

namespace json = boost::json;
namespace error_code = centrifugo::error_code;

namespace {

// Centrifugo's own methods that Sluice does not offer: error 108.
constexpr std::array<std::string_view, 12> kNotAvailable = {
    "subscribe", "unsubscribe", "disconnect", "presence", "presence_stats", "history_remove",
    "info",      "rpc",         "refresh",    "channels", "batch",          "map_publish"};

// Centrifugo caps what one history call returns; so does Sluice (as the
// client protocol's `history`, centrifugo::SessionSettings::max_history).
constexpr std::size_t kMaxHistory = 10'000;

std::string error_body(int code, std::string_view message) {
  std::string out = "{\"error\":{\"code\":" + std::to_string(code) + ",\"message\":";
  util::append_quoted(out, message);
  out += "}}";
  return out;
}

// A method-level error: HTTP 200 with the error object, as Centrifugo answers.
HttpResponse method_error(int code, std::string_view message) { return HttpResponse::json(200, error_body(code, message)); }

// A request-level refusal (auth, size, not JSON): its HTTP status, the body
// still Centrifugo's error object so SDKs can read it.
HttpResponse request_error(unsigned status, int code, std::string_view message) {
  return HttpResponse::json(status, error_body(code, message));
}

std::string publish_result(const PublishedEvent& event) {
  std::string out = "{\"offset\":" + std::to_string(event.offset) + ",\"epoch\":";
  util::append_quoted(out, event.epoch);
  out += '}';
  return out;
}

// The reply object for one publish outcome: {"result":{...}} or {"error":{...}}.
std::string publish_reply(const PublishService::Outcome& o) {
  switch (o.error) {
    case PublishError::none:
      return "{\"result\":" + publish_result(o.event) + "}";
    case PublishError::invalid:
    case PublishError::invalid_topic:
      return error_body(error_code::bad_request, "bad request: " + o.message);
    case PublishError::key_conflict:
      return error_body(error_code::bad_request,
                        "bad request: idempotency_key was already used for a different publication");
    case PublishError::too_many_topics:
      return error_body(error_code::limit_exceeded, "limit exceeded: " + o.message);
    case PublishError::key_in_flight:
    case PublishError::store_busy:
    case PublishError::store_failed:
    case PublishError::engine_unavailable:
      break;
  }
  // Nothing was published; the backend may retry (with the same idempotency_key).
  return error_body(error_code::internal, "internal server error: " + o.message);
}

// The API key of a Centrifugo request: `X-API-Key: KEY`, or `Authorization:
// apikey KEY` (the scheme in any case); Sluice's `Bearer KEY` too.
std::optional<std::string_view> api_key(const HttpRequest& request, bool& missing) {
  const std::string_view x_api_key = request.header("X-API-Key");
  const std::string_view authorization = request.header("Authorization");
  missing = x_api_key.empty() && authorization.empty();
  if (!x_api_key.empty()) return x_api_key;
  constexpr std::string_view kScheme = "apikey ";
  if (authorization.size() > kScheme.size() &&
      std::equal(kScheme.begin(), kScheme.end(), authorization.begin(), [](char a, char b) {
        return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
      })) {
    std::string_view key = authorization.substr(kScheme.size());
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    if (key.empty() || key.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
    return key;
  }
  return auth::bearer_credential(authorization);
}

// `channel` of `params` as its topic, or the 107 to answer.
std::optional<std::string> channel_topic(const json::object& params, std::string_view field,
                                         std::optional<HttpResponse>& refused) {
  const json::value* channel = params.if_contains(field);
  if (!channel || !channel->is_string() || channel->get_string().empty()) {
    refused = method_error(error_code::bad_request, "bad request: \"" + std::string(field) +
                                                        "\" is required (a non-empty string)");
    return std::nullopt;
  }
  std::string why;
  auto topic = centrifugo::channel_to_topic(channel->get_string(), why);
  if (!topic) refused = method_error(error_code::bad_request, "bad request: " + why);
  return topic;
}

// The publish door's view of a Centrifugo publication: {topic, data,
// idempotencyKey}; `data` keeps its text from the request body.
PublishService::Outcome parse_publication(const PublishService& publisher, const std::string& topic,
                                          const json::value& data, std::string_view key, std::string_view body,
                                          PublishService::Input& out) {
  json::object event;
  event["topic"] = topic;
  event["data"] = data;
  if (!key.empty()) event["idempotencyKey"] = key;
  return publisher.parse(event, body, "", {}, out);
}

// `data` of `params`, or the 107 to answer (Sluice's data is JSON: no b64data).
const json::value* publication_data(const json::object& params, std::optional<HttpResponse>& refused) {
  if (params.contains("b64data")) {
    refused = method_error(error_code::bad_request, "bad request: b64data is not supported; send data as JSON");
    return nullptr;
  }
  const json::value* data = params.if_contains("data");
  if (!data) refused = method_error(error_code::bad_request, "bad request: \"data\" is required (any JSON value)");
  return data;
}

std::optional<std::string_view> optional_string(const json::object& params, std::string_view field,
                                                std::optional<HttpResponse>& refused) {
  const json::value* v = params.if_contains(field);
  if (!v || v->is_null()) return std::string_view();
  if (!v->is_string()) {
    refused = method_error(error_code::bad_request, "bad request: \"" + std::string(field) + "\" must be a string");
    return std::nullopt;
  }
  return std::string_view(v->get_string());
}

// An integer field as int64 (absent: `fallback`), nullopt if not an integer.
std::optional<std::int64_t> optional_int(const json::object& params, std::string_view field, std::int64_t fallback) {
  const json::value* v = params.if_contains(field);
  if (!v || v->is_null()) return fallback;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->get_uint64());
  }
  return std::nullopt;
}

}  // namespace

// Authorization of /api: 401 (101 unauthorized) for a missing or unknown key,
// 429 (111 too many requests) over the key's rate, 403 (103 permission
// denied) for a key without the scope.
std::optional<HttpResponse> HttpApi::centrifugo_authorize(const HttpRequest& request, auth::Scope needed) const {
  if (!keys_) return std::nullopt;
  bool missing = false;
  const auto credential = api_key(request, missing);
  const auto verdict = check_key(request, credential, missing, needed);
  using Status = KeyVerdict::Status;
  switch (verdict.status) {
    case Status::ok:
      return std::nullopt;
    case Status::missing:
      return request_error(401, error_code::unauthorized,
                           "unauthorized: an API key is required (X-API-Key: KEY or Authorization: apikey KEY)");
    case Status::invalid:
      return request_error(401, error_code::unauthorized, "unauthorized: the API key is not valid");
    case Status::rate_limited: {
      const std::string seconds = std::to_string(verdict.retry_after_s);
      return detail::with_header(request_error(429, 111, "too many requests; retry in " + seconds + " s"),
                                 "Retry-After", seconds);
    }
    case Status::forbidden:
      break;
  }
  return request_error(403, error_code::permission_denied,
                       "permission denied: the API key " + util::quoted(verdict.key_name) + " lacks the " +
                           std::string(auth::to_string(needed)) + " scope");
}

// POST /api/<method>: the shared checks, then the method.
std::optional<HttpResponse> HttpApi::centrifugo_api(std::string_view method, const HttpRequest& request,
                                                    HttpRespond& respond) {
  const bool known = method == "publish" || method == "broadcast" || method == "history";
  const bool unavailable = std::find(kNotAvailable.begin(), kNotAvailable.end(), method) != kNotAvailable.end();
  if (!known && !unavailable) {
    return request_error(404, error_code::method_not_found, "method not found: " + std::string(method));
  }
  if (request.method != "POST") {
    return detail::with_header(request_error(405, error_code::bad_request, "bad request: use POST"), "Allow", "POST");
  }
  const auto scope = method == "history" || unavailable ? auth::Scope::read : auth::Scope::publish;
  if (auto refused = centrifugo_authorize(request, scope)) return refused;
  if (unavailable) return method_error(error_code::not_available, "not available");
  // Centrifugo's own examples post JSON with `curl --data` (form-urlencoded).
  // Taken only with a key header: a browser cannot send one cross-site
  // without a CORS preflight, so this opens no form-post (CSRF) door.
  const bool key_header = !request.header("X-API-Key").empty() || !request.header("Authorization").empty();
  if (auto bad = check_body(request, key_header)) {
    // Its status (413, 415), in Centrifugo's error shape.
    std::string message = "bad request";
    std::error_code ec;
    const json::value parsed = json::parse(bad->body, ec);
    if (!ec && parsed.is_object()) {
      if (const auto* m = parsed.get_object().if_contains("message"); m && m->is_string()) {
        message += ": " + std::string(m->get_string());
      }
    }
    return request_error(bad->status, error_code::bad_request, message);
  }
  json::value body;
  if (detail::parse_json_body(request, body) || !body.is_object()) {
    return request_error(400, error_code::bad_request, "bad request: the body must be a JSON object");
  }
  const json::object& params = body.get_object();
  if (method == "publish") return centrifugo_publish(params, request, respond);
  if (method == "broadcast") return centrifugo_broadcast(params, request, respond);
  return centrifugo_history(params);
}

// /api/publish {channel, data, idempotency_key?} -> {"result":{offset, epoch}}
// once stored; a repeated idempotency_key within the window gets the first
// publication's result and publishes nothing.
std::optional<HttpResponse> HttpApi::centrifugo_publish(const json::object& params, const HttpRequest& request,
                                                        HttpRespond& respond) {
  std::optional<HttpResponse> refused;
  const auto topic = channel_topic(params, "channel", refused);
  if (!topic) return refused;
  const json::value* data = publication_data(params, refused);
  if (!data) return refused;
  const auto key = optional_string(params, "idempotency_key", refused);
  if (!key) return refused;
  PublishService::Input in;
  if (const auto bad = parse_publication(*publisher_, *topic, *data, *key, request.body, in);
      bad.error != PublishError::none) {
    return HttpResponse::json(200, publish_reply(bad));
  }
  publisher_->publish(std::move(in), [respond = std::exchange(respond, nullptr)](PublishService::Outcome o) {
    respond(HttpResponse::json(200, publish_reply(o)));
  });
  return std::nullopt;
}

// A broadcast between its publishes and its answer (shared with their completions).
struct HttpApi::BroadcastState {
  std::vector<std::string> replies;  // per channel, in request order
  std::atomic<std::size_t> pending{0};
  HttpRespond respond;

  // One channel's reply is in.
  void settle(std::size_t i, std::string reply) {
    replies[i] = std::move(reply);
    release();
  }
  // One less to wait for; the last one answers the request.
  void release() {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    std::string out = "{\"result\":{\"responses\":[";
    for (std::size_t k = 0; k < replies.size(); ++k) {
      if (k > 0) out += ',';
      out += replies[k];
    }
    out += "]}}";
    respond(HttpResponse::json(200, std::move(out)));
  }
};

// /api/broadcast {channels, data, idempotency_key?} -> {"result":{"responses":
// [one publish reply per channel, in order]}}. Each channel is published on
// its own (one may fail while the others succeed). An idempotency_key K is
// kept per channel, as K@channel.
std::optional<HttpResponse> HttpApi::centrifugo_broadcast(const json::object& params, const HttpRequest& request,
                                                          HttpRespond& respond) {
  const json::value* channels = params.if_contains("channels");
  if (!channels || !channels->is_array() || channels->get_array().empty()) {
    return method_error(error_code::bad_request, "bad request: \"channels\" is required (a non-empty array)");
  }
  const json::array& list = channels->get_array();
  if (list.size() > limits_.max_batch) {
    return method_error(error_code::bad_request, "bad request: at most " + std::to_string(limits_.max_batch) +
                                                     " channels per broadcast");
  }
  std::optional<HttpResponse> refused;
  const json::value* data = publication_data(params, refused);
  if (!data) return refused;
  const auto key = optional_string(params, "idempotency_key", refused);
  if (!key) return refused;

  // Every channel is checked before anything is published.
  auto state = std::make_shared<BroadcastState>();
  state->replies.resize(list.size());
  std::vector<std::optional<PublishService::Input>> inputs(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string() || list[i].get_string().empty()) {
      state->replies[i] = error_body(error_code::bad_request, "bad request: a channel must be a non-empty string");
      continue;
    }
    const std::string_view channel = list[i].get_string();
    std::string why;
    const auto topic = centrifugo::channel_to_topic(channel, why);
    if (!topic) {
      state->replies[i] = error_body(error_code::bad_request, "bad request: " + why);
      continue;
    }
    const std::string channel_key = key->empty() ? std::string() : std::string(*key) + "@" + std::string(channel);
    PublishService::Input in;
    if (const auto bad = parse_publication(*publisher_, *topic, *data, channel_key, request.body, in);
        bad.error != PublishError::none) {
      state->replies[i] = publish_reply(bad);
      continue;
    }
    inputs[i] = std::move(in);
  }
  state->respond = std::exchange(respond, nullptr);
  state->pending = list.size() + 1;  // + 1: released below, once every publish was handed over
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!inputs[i]) {
      state->release();  // answered above
      continue;
    }
    publisher_->publish(std::move(*inputs[i]),
                        [state, i](PublishService::Outcome o) { state->settle(i, publish_reply(o)); });
  }
  state->release();  // answers here if every publish has completed already
  return std::nullopt;
}

// /api/history {channel, limit?, since?: {offset, epoch}, reverse?} ->
// {"result":{"publications":[...], "offset", "epoch"}}: as the client
// protocol's history (limit 0: only the position; negative: all, at most
// 10,000; another epoch in since: 112).
HttpResponse HttpApi::centrifugo_history(const json::object& params) {
  std::optional<HttpResponse> refused;
  const auto topic = channel_topic(params, "channel", refused);
  if (!topic) return *refused;
  centrifugo::HistoryQuery query;
  const auto limit = optional_int(params, "limit", 0);
  if (!limit) return method_error(error_code::bad_request, "bad request: \"limit\" must be an integer");
  query.limit = *limit;
  if (const json::value* since = params.if_contains("since"); since && !since->is_null()) {
    const json::object* position = since->if_object();
    const auto offset = position ? optional_int(*position, "offset", 0) : std::nullopt;
    if (!offset || *offset < 0) {
      return method_error(error_code::bad_request, "bad request: \"since\" must be {\"offset\": N, \"epoch\": \"...\"}");
    }
    const auto epoch = optional_string(*position, "epoch", refused);
    if (!epoch) return *refused;
    query.has_since = true;
    query.since_offset = static_cast<std::uint64_t>(*offset);
    query.since_epoch = std::string(*epoch);
  }
  if (const json::value* reverse = params.if_contains("reverse"); reverse && !reverse->is_null()) {
    if (!reverse->is_bool()) return method_error(error_code::bad_request, "bad request: \"reverse\" must be a boolean");
    query.reverse = reverse->get_bool();
  }
  std::string result = "{\"result\":";
  if (const int error = centrifugo::history_result(broker_, *topic, query, kMaxHistory, result)) {
    return method_error(error, "unrecoverable position");
  }
  result += '}';
  return HttpResponse::json(200, std::move(result));
}

}  // namespace sluice::server
