// Subscriptions over HTTP: create, list, get (with live counters), delete.
#include <algorithm>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "server/http/http_api_internal.hpp"
#include "sluice/topic/topic.hpp"
#include "sluice/util/json_numbers.hpp"
#include "server/http/http_api.hpp"
#include "server/webhooks/webhook_config.hpp"
#include "sluice/webhook/signature.hpp"

namespace sluice::server {

namespace json = boost::json;
using detail::bad_request;

namespace {
constexpr std::size_t kMaxPatterns = 64;  // per subscription

// The body's "topic" or "topics" (validated, duplicates dropped) into `spec.patterns`.
std::optional<HttpResponse> read_patterns(const json::object& o, SubscriptionSpec& spec) {
  const json::value* topics = o.if_contains("topics");
  const json::value* topic = o.if_contains("topic");
  if (topics && topic) return bad_request("give \"topics\" or \"topic\", not both");
  if (!topics && !topic) return bad_request("\"topics\" is required (an array of topic patterns)");

  auto add_pattern = [&](const json::value& v, const std::string& where) -> std::optional<HttpResponse> {
    if (!v.is_string()) return bad_request(where + " must be a string, got " + std::string(util::kind_of(v)));
    std::string pattern(v.get_string());
    if (auto why = topic::pattern_error(pattern); !why.empty()) {
      return HttpResponse::error(400, "invalid_topic", where + ": invalid topic pattern " + util::quoted(pattern) + ": " + why);
    }
    if (std::find(spec.patterns.begin(), spec.patterns.end(), pattern) == spec.patterns.end()) {
      spec.patterns.push_back(std::move(pattern));
    }
    return std::nullopt;
  };
  if (topic) {
    if (auto bad = add_pattern(*topic, "\"topic\"")) return *bad;
  } else {
    if (!topics->is_array()) {
      return bad_request("\"topics\" must be an array of topic patterns, got " + std::string(util::kind_of(*topics)));
    }
    const json::array& list = topics->get_array();
    if (list.empty()) return bad_request("\"topics\" must not be empty");
    if (list.size() > kMaxPatterns) {
      return bad_request("\"topics\" has " + std::to_string(list.size()) + " patterns; at most " +
                         std::to_string(kMaxPatterns));
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (auto bad = add_pattern(list[i], "topics[" + std::to_string(i) + "]")) return *bad;
    }
  }
  return std::nullopt;
}

}  // namespace

// POST /v1/subscriptions: {"topics": [patterns] | "topic": pattern,
// "filter"?: spec, "webhook"?: {...}} → 201 with the subscription, answered
// through `respond` once the subscription store kept it (nullopt returned).
std::optional<HttpResponse> HttpApi::post_subscription(const HttpRequest& request, HttpRespond& respond) {
  json::value body;
  if (auto bad = detail::parse_json_body(request, body)) return *bad;
  const json::object* o = body.if_object();
  if (!o) return bad_request("the body must be a JSON object, got " + std::string(util::kind_of(body)));
  for (const auto& [field, v] : *o) {
    if (field != "topics" && field != "topic" && field != "filter" && field != "webhook") {
      return bad_request("unknown field \"" + std::string(field) +
                         "\" (a subscription has topics or topic, filter and webhook)");
    }
  }
  SubscriptionSpec spec;
  if (auto bad = read_patterns(*o, spec)) return *bad;
  if (const json::value* filter = o->if_contains("filter"); filter && !filter->is_null()) {
    std::string why;
    // From its text, so a number a double cannot hold (1e-400) is refused, not read as 0.
    const auto text = util::raw_member(request.body, "filter");
    spec.filter = text ? topic::Filter::compile(*text, why) : topic::Filter::compile(*filter, why);
    if (!spec.filter) return HttpResponse::error(400, "invalid_filter", why);
  }
  if (const json::value* webhook = o->if_contains("webhook"); webhook && !webhook->is_null()) {
    if (!webhook->is_object()) {
      return bad_request("\"webhook\" must be an object, got " + std::string(util::kind_of(*webhook)));
    }
    // Kept as parsed: a number a double cannot hold would be stored as non-JSON.
    if (const std::string_view literal = first_number_beyond_double(util::raw_member(request.body, "webhook").value_or(""));
        !literal.empty()) {
      return bad_request("webhook: the number " + std::string(literal) + " is beyond the range of a double");
    }
    spec.webhook = *webhook;
  }
  std::string generated_secret;
  if (spec.webhook.is_object()) {
    if (auto bad = check_webhook(spec.webhook, generated_secret)) return *bad;
  }

  // Several nodes: whichever delivers the webhook starts where its topics end now.
  if (webhooks_ && webhooks_->shared() && spec.webhook.is_object()) {
    spec.webhook_start = webhooks_->current_ends(spec.patterns);
  }
  subscriptions_.create(std::move(spec), now_ms(), [this, respond = std::move(respond), secret = std::move(generated_secret)](
                                                     SubscriptionRegistry::CreateResult result) {
    respond(created_response(result, secret));
  });
  return std::nullopt;
}

// The answer to a create: 201 with the subscription (and, this once, the
// webhook secret the server generated), 409 past the limit, 503 if not stored.
HttpResponse HttpApi::created_response(const SubscriptionRegistry::CreateResult& result,
                                       const std::string& generated_secret) {
  switch (result.status) {
    case SubscriptionRegistry::CreateStatus::ok: {
      if (webhooks_) {
        webhooks_->add(result.subscription);
        // Deleted meanwhile (by another node, say) before add: its listener ran too early to undo it.
        if (!subscriptions_.get(result.subscription->id)) webhooks_->remove(result.subscription->id);
      }
      std::string created = result.subscription->to_json();
      if (!generated_secret.empty()) {
        // Shown this once: the receiver needs it, and no later answer holds it.
        json::value shown = json::parse(created);
        shown.as_object()["webhook"].as_object()["secret"] = generated_secret;
        created = json::serialize(shown);
      }
      return detail::with_header(HttpResponse::json(201, std::move(created)), "Location",
                                 "/v1/subscriptions/" + result.subscription->id);
    }
    case SubscriptionRegistry::CreateStatus::too_many:
      return HttpResponse::error(409, "too_many_subscriptions", result.error);
    case SubscriptionRegistry::CreateStatus::store_failed:
      return HttpResponse::error(503, "store_unavailable", result.error);
  }
  return HttpResponse::error(500, "internal_error", "unexpected create status");
}

// GET /v1/subscriptions?limit=&cursor=: {"subscriptions": [...], "nextCursor": id | null}, in id order.
HttpResponse HttpApi::list_subscriptions(const HttpRequest& request) {
  std::size_t limit = 0;
  if (auto bad = page_limit(request, limit)) return *bad;
  std::string cursor;
  if (request.query_param("cursor", cursor) && cursor.empty()) return bad_request("cursor must not be empty");
  const auto page = subscriptions_.list(limit, cursor);
  std::string out = "{\"subscriptions\":[";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i > 0) out += ',';
    out += page.items[i]->to_json();
  }
  out += "],\"nextCursor\":";
  out += page.next_cursor ? util::quoted(*page.next_cursor) : "null";
  out += '}';
  return HttpResponse::json(200, std::move(out));
}

// The webhook object of a new subscription: its URL (a literal refused
// address is refused now), secret and options; a secret is generated when
// none is given (returned in `generated_secret`, and stored).
std::optional<HttpResponse> HttpApi::check_webhook(json::value& object, std::string& generated_secret) const {
  static const WebhookSettings default_settings;
  static const auto default_policy = std::make_shared<const webhook::AddressPolicy>();
  std::string why;
  const auto policy = webhooks_ ? webhooks_->policy() : default_policy;
  auto config = parse_webhook_config(object.get_object(), webhooks_ ? webhooks_->settings() : default_settings,
                                     *policy, why);
  if (!config) return HttpResponse::error(400, "invalid_webhook", why);
  if (config->secret.empty()) {
    auto secret = webhook::generate_secret();
    if (!secret) return HttpResponse::error(500, "internal_error", "could not generate a webhook secret");
    generated_secret = *secret;
    object.as_object()["secret"] = generated_secret;
  }
  return std::nullopt;
}

HttpResponse HttpApi::get_subscription(const std::string& id) const {
  auto sub = subscriptions_.get(id);
  if (!sub) return detail::not_found("no subscription " + util::quoted(id));
  if (webhooks_ && sub->webhook.is_object()) {
    if (auto state = webhooks_->state(id)) {
      json::value shown = json::parse(sub->to_json());
      shown.as_object()["webhookState"] = std::move(*state);
      return HttpResponse::json(200, json::serialize(shown));
    }
  }
  return HttpResponse::json(200, sub->to_json());
}

// DELETE /v1/subscriptions/{id}: 204 once the store deleted it; unknown, or
// already deleted (here, or on another node whose delete reached the store
// first): 404. A store that could not be written to is told again later
// (see SubscriptionRegistry::remove): still 204, the subscription is gone here.
std::optional<HttpResponse> HttpApi::delete_subscription(const std::string& id, HttpRespond& respond) {
  subscriptions_.remove(id, [id, respond = std::move(respond)](SubscriptionRegistry::RemoveOutcome outcome) {
    if (outcome == SubscriptionRegistry::RemoveOutcome::absent) {
      return respond(detail::not_found("no subscription " + util::quoted(id)));
    }
    HttpResponse response;
    response.status = 204;
    response.content_type = {};  // no body
    respond(std::move(response));
  });
  return std::nullopt;
}

}  // namespace sluice::server
