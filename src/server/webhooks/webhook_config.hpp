// A subscription's webhook object (issue #14), read and checked:
//   {"url": "https://...", "secret"?: "whsec_...", "maxAttempts"?: N,
//    "maxAge"?: seconds, "connectTimeout"?: seconds, "timeout"?: seconds}
// Options left out take the server's defaults (WebhookSettings).
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "sluice/server/webhook_settings.hpp"
#include "sluice/webhook/address_policy.hpp"
#include "sluice/webhook/retry_policy.hpp"
#include "sluice/webhook/webhook_url.hpp"

namespace sluice::server {

struct WebhookConfig {
  webhook::WebhookUrl url;
  std::string secret;  ///< "" when none was given (creation generates one)
  webhook::RetryOptions retry;
  std::chrono::milliseconds connect_timeout{0};
  std::chrono::milliseconds timeout{0};
};

/// Reads `object` with `defaults` for what it leaves out; the URL is checked
/// against `policy` (a literal refused address is an error). nullopt with
/// `error` set on failure; the message never holds the secret or the URL's
/// path and query. Pure, thread-safe.
std::optional<WebhookConfig> parse_webhook_config(const boost::json::object& object, const WebhookSettings& defaults,
                                                  const webhook::AddressPolicy& policy, std::string& error);

/// A policy that permits every address: for re-reading stored webhooks, whose
/// target is then judged at connect time (a refusal becomes a dead letter).
const webhook::AddressPolicy& permit_all_policy();

}  // namespace sluice::server
