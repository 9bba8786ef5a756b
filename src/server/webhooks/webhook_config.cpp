#include "server/webhooks/webhook_config.hpp"

#include <cmath>

#include "sluice/webhook/signature.hpp"

namespace sluice::server {

namespace json = boost::json;

namespace {

// A duration in seconds within [min_ms, max_ms], or an error naming `field`.
bool read_seconds(const json::value& v, const char* field, long long min_ms, long long max_ms,
                  std::chrono::milliseconds& out, std::string& error) {
  if (!v.is_number()) {
    error = std::string("webhook.") + field + " must be a number of seconds";
    return false;
  }
  const double seconds = v.to_number<double>();
  const double ms = seconds * 1000;
  if (!std::isfinite(ms) || ms < static_cast<double>(min_ms) || ms > static_cast<double>(max_ms)) {
    error = std::string("webhook.") + field + " must be " + std::to_string(static_cast<double>(min_ms) / 1000) +
            " to " + std::to_string(max_ms / 1000) + " seconds";
    return false;
  }
  out = std::chrono::milliseconds(static_cast<long long>(ms));
  return true;
}

}  // namespace

const webhook::AddressPolicy& permit_all_policy() {
  static const webhook::AddressPolicy policy = [] {
    std::string ignored;
    return *webhook::AddressPolicy::from_strings({"0.0.0.0/0", "::/0"}, ignored);
  }();
  return policy;
}

std::optional<WebhookConfig> parse_webhook_config(const json::object& o, const WebhookSettings& defaults,
                                                  const webhook::AddressPolicy& policy, std::string& error) {
  for (const auto& [field, value] : o) {
    if (field != "url" && field != "secret" && field != "maxAttempts" && field != "maxAge" &&
        field != "connectTimeout" && field != "timeout") {
      error = "unknown webhook field \"" + std::string(field) +
              "\" (a webhook has url, secret, maxAttempts, maxAge, connectTimeout and timeout)";
      return std::nullopt;
    }
  }
  WebhookConfig c;
  const json::value* url = o.if_contains("url");
  if (!url || !url->is_string()) {
    error = "webhook.url is required: an http:// or https:// URL";
    return std::nullopt;
  }
  std::string why;
  auto parsed = webhook::parse_webhook_url(std::string_view(url->get_string()), policy, why);
  if (!parsed) {
    error = "webhook.url: " + why;
    return std::nullopt;
  }
  c.url = std::move(*parsed);
  if (const json::value* secret = o.if_contains("secret"); secret && !secret->is_null()) {
    if (!secret->is_string()) {
      error = "webhook.secret must be a string";
      return std::nullopt;
    }
    if (auto bad = webhook::validate_secret(std::string_view(secret->get_string())); !bad.empty()) {
      error = "webhook.secret: " + bad;
      return std::nullopt;
    }
    c.secret = std::string(secret->get_string());
  }
  c.retry = defaults.retry_options();
  c.connect_timeout = defaults.connect_timeout;
  c.timeout = defaults.timeout;
  if (const json::value* v = o.if_contains("maxAttempts")) {
    if (!v->is_int64() && !v->is_uint64()) {
      error = "webhook.maxAttempts must be an integer from 1 to 1000";
      return std::nullopt;
    }
    const auto n = v->is_int64() ? v->get_int64() : static_cast<std::int64_t>(std::min<std::uint64_t>(v->get_uint64(), 1'000'000));
    if (n < 1 || n > 1000) {
      error = "webhook.maxAttempts must be an integer from 1 to 1000";
      return std::nullopt;
    }
    c.retry.max_attempts = static_cast<std::uint32_t>(n);
  }
  constexpr long long kDay = 24LL * 3600 * 1000;
  if (const json::value* v = o.if_contains("maxAge"); v && !read_seconds(*v, "maxAge", 1000, 30 * kDay, c.retry.max_age, error)) {
    return std::nullopt;
  }
  if (const json::value* v = o.if_contains("connectTimeout");
      v && !read_seconds(*v, "connectTimeout", 1, 60'000, c.connect_timeout, error)) {
    return std::nullopt;
  }
  if (const json::value* v = o.if_contains("timeout"); v && !read_seconds(*v, "timeout", 1, 300'000, c.timeout, error)) {
    return std::nullopt;
  }
  return c;
}

}  // namespace sluice::server
