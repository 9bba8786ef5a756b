#include "server/shared_subscriptions.hpp"

#include <openssl/rand.h>

#include <cstdio>

#include "server/webhooks/webhook_service.hpp"
#include "sluice/log/log.hpp"

namespace sluice::server::detail {

namespace {

// 16 hex digits: unique among the nodes sharing a Redis.
std::string new_node_id() {
  unsigned char raw[8] = {};
  RAND_bytes(raw, sizeof raw);
  char text[17];
  for (std::size_t i = 0; i < sizeof raw; ++i) std::snprintf(text + 2 * i, 3, "%02x", raw[i]);
  return text;
}

void warn(const std::string& message) { log::limited(spdlog::level::warn, "shared_subscriptions", {}, message); }

}  // namespace

SharedSubscriptions::SharedSubscriptions(engine::RedisUrl first_shard, std::chrono::milliseconds lease_ttl) {
  settings_.url = std::move(first_shard);
  settings_.node = new_node_id();
  settings_.lease_ttl = lease_ttl;
  table_ = std::make_unique<engine::RedisSubscriptionTable>(settings_);
}

void SharedSubscriptions::watch(engine::RedisEngine& engine, SubscriptionRegistry& registry,
                                engine::SubscriptionStore& store) {
  registry_ = &registry;
  store_ = &store;
  engine.watch_channel(
      engine::RedisSharedKeys::kChannel, [this](std::string_view message) { on_message(message); },
      [this] { resync(); });
}

void SharedSubscriptions::share(WebhookService& webhooks) {
  webhook_state_ = std::make_unique<engine::RedisWebhookState>(
      settings_, [&webhooks](const std::string& id) { webhooks.lease_lost(id); });
  // A renewal must answer well within the lease's time to live, or it is a failure.
  auto lease_settings = settings_;
  lease_settings.timeout = std::min(settings_.timeout, settings_.lease_ttl / 4);
  webhooks.share(std::make_unique<engine::RedisWebhookLeases>(lease_settings), *webhook_state_, settings_.lease_ttl,
                 [this](const SubscriptionPtr& sub) { put_back(sub); });
}

void SharedSubscriptions::arm() {
  armed_.store(true);
  resync();
}

// "+<id>\n<document>": created; "-<id>": deleted (see RedisSubscriptionTable).
void SharedSubscriptions::on_message(std::string_view message) {
  if (!armed_.load() || message.size() < 2) return;
  if (message[0] == '-') return registry_->apply_removed(std::string(message.substr(1)));
  const auto newline = message.find('\n');
  if (message[0] != '+' || newline == std::string_view::npos) return warn("an unreadable subscription change was ignored");
  std::string error;
  store::StoredSubscription stored{std::string(message.substr(1, newline - 1)), std::string(message.substr(newline + 1))};
  if (!registry_->apply_put(stored, error)) warn("subscription " + stored.id + " from another node skipped: " + error);
}

// After a (re)subscription: what changed while this node was not listening.
void SharedSubscriptions::resync() {
  if (!armed_.load()) return;
  std::vector<std::string> known = registry_->ids();
  store_->reload([this, known = std::move(known)](std::vector<store::StoredSubscription> all, std::string error) {
    if (!error.empty()) return warn("subscriptions not read again from Redis: " + error);
    if (!armed_.load()) return;
    auto reconciled = registry_->reconcile(all, known);
    for (const auto& id : reconciled.absent) {
      if (auto sub = registry_->get(id)) put_back(sub);
    }
    for (const auto& id : reconciled.removed_here) store_->remove(id, [](const std::string&) {});
    for (const auto& problem : reconciled.problems) warn(problem);
  });
}

void SharedSubscriptions::put_back(const SubscriptionPtr& sub) {
  if (!armed_.load()) return;
  store_->put(sub->id, sub->to_stored_json(), [this, id = sub->id](std::string error) {
    if (error == engine::kSubscriptionDeleted) return registry_->apply_removed(id);
    if (!error.empty()) return warn("subscription " + id + " not stored again in Redis: " + error);
    log::limited(spdlog::level::warn, "shared_subscriptions", {},
                 "subscription " + id + " was missing in Redis (did it lose its data?): stored again");
  });
}

}  // namespace sluice::server::detail
