// Webhook deliveries over HTTP: recent attempts and dead letters, and
// redelivery of dead letters on request (issue #14).
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "server/http/http_api_internal.hpp"
#include "server/http/http_api.hpp"

namespace sluice::server {

namespace json = boost::json;
using detail::bad_request;

namespace {

// Shared engines: the deliveries of a webhook are known where it is delivered.
std::optional<HttpResponse> delivered_elsewhere(const WebhookService* webhooks, const std::string& id) {
  if (!webhooks) return std::nullopt;
  auto node = webhooks->delivered_elsewhere(id);
  if (!node) return std::nullopt;
  return HttpResponse::error(409, "delivered_elsewhere",
                             "subscription " + util::quoted(id) + "'s webhook is delivered by node " +
                                 (node->empty() ? std::string("(not known yet)") : util::quoted(*node)) +
                                 ": its deliveries are known there");
}

}  // namespace

// GET /v1/subscriptions/{id}/deliveries?kind=attempt|dead_letter&limit=&cursor=:
// {"deliveries": [...], "nextCursor": ... | null}, newest first.
HttpResponse HttpApi::get_deliveries(const std::string& id, const HttpRequest& request) const {
  auto sub = subscriptions_.get(id);
  if (!sub) return detail::not_found("no subscription " + util::quoted(id));
  std::size_t limit = 0;
  if (auto bad = page_limit(request, limit)) return *bad;
  std::string kind, cursor;
  if (request.query_param("kind", kind) && kind != "attempt" && kind != "dead_letter") {
    return bad_request("kind must be attempt or dead_letter");
  }
  if (request.query_param("cursor", cursor)) {
    if (cursor.size() != 16 || cursor.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return bad_request("cursor is not valid");
    }
  }
  if (auto elsewhere = delivered_elsewhere(webhooks_, id)) return *elsewhere;
  std::optional<WebhookService::Page> page;
  if (webhooks_) page = webhooks_->deliveries(id, kind, limit, cursor);
  if (!page) {
    return HttpResponse::error(404, "no_webhook", "subscription " + util::quoted(id) + " has no webhook");
  }
  json::object o;
  o["deliveries"] = std::move(page->items);
  o["nextCursor"] = page->next_cursor ? json::value(*page->next_cursor) : json::value(nullptr);
  return HttpResponse::json(200, json::serialize(o));
}

// POST /v1/subscriptions/{id}/deliveries/{deliveryId}/retry (one dead letter)
// and POST /v1/subscriptions/{id}/deliveries/retry (all): 202, redelivered
// ahead of new events.
HttpResponse HttpApi::retry_deliveries(const std::string& id, std::string_view delivery_id) {
  if (!subscriptions_.get(id)) return detail::not_found("no subscription " + util::quoted(id));
  if (!webhooks_) return HttpResponse::error(404, "no_webhook", "subscription " + util::quoted(id) + " has no webhook");
  if (auto elsewhere = delivered_elsewhere(webhooks_, id)) return *elsewhere;
  const auto r = webhooks_->retry(id, delivery_id);
  switch (r.status) {
    case WebhookService::RetryStatus::no_webhook:
      return HttpResponse::error(404, "no_webhook", "subscription " + util::quoted(id) + " has no webhook");
    case WebhookService::RetryStatus::no_such_delivery:
      return detail::not_found("no dead letter " + util::quoted(std::string(delivery_id)));
    case WebhookService::RetryStatus::not_redeliverable:
      return HttpResponse::error(409, "not_redeliverable",
                                 "dead letter " + util::quoted(std::string(delivery_id)) +
                                     " is for events that left history before delivery: they cannot be sent again");
    case WebhookService::RetryStatus::queued:
      break;
  }
  json::object o;
  o["queued"] = r.queued;
  o["notRedeliverable"] = r.not_redeliverable;
  return HttpResponse::json(202, json::serialize(o));
}

}  // namespace sluice::server
