#include "server/webhooks/webhook_lease_keeper.hpp"

#include "sluice/log/log.hpp"

namespace sluice::server::detail {

WebhookLeaseKeeper::WebhookLeaseKeeper(std::unique_ptr<engine::RedisWebhookLeases> leases,
                                       std::chrono::milliseconds ttl, Hooks hooks)
    : leases_(std::move(leases)), ttl_(ttl), hooks_(std::move(hooks)) {}

WebhookLeaseKeeper::~WebhookLeaseKeeper() { stop(); }

void WebhookLeaseKeeper::start() {
  last_renewed_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { run(); });
}

void WebhookLeaseKeeper::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_one();
}

void WebhookLeaseKeeper::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void WebhookLeaseKeeper::release(std::span<const std::string> ids) {
  if (!ids.empty()) leases_->release(ids);
}

std::string WebhookLeaseKeeper::holder(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = holders_.find(id);
  return it == holders_.end() ? std::string() : it->second;
}

void WebhookLeaseKeeper::run() {
  // A third of the time to live: a lease survives two failed renewals.
  const auto tick = std::max(ttl_ / 3, std::chrono::milliseconds(10));
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    woken_ = false;
    lock.unlock();
    round();
    lock.lock();
    wake_.wait_for(lock, tick, [this] { return stopping_ || woken_; });
  }
}

void WebhookLeaseKeeper::round() {
  const std::vector<SubscriptionPtr> candidates = hooks_.candidates();
  std::vector<std::string> ids;
  ids.reserve(candidates.size());
  for (const auto& sub : candidates) ids.push_back(sub->id);
  const auto leases = leases_->renew(ids);
  const auto now = std::chrono::steady_clock::now();
  if (leases.size() != ids.size()) {
    log::limited(spdlog::level::warn, "webhook_lease", {}, "webhook leases not renewed: " + leases_->error());
    // Unrenewed past their time to live, the leases may be another node's:
    // stop delivering rather than deliver twice.
    if (now - last_renewed_ > ttl_) {
      for (const auto& id : ids) {
        if (hooks_.delivering(id)) hooks_.stop(id);
      }
    }
    return;
  }
  last_renewed_ = now;
  {
    std::lock_guard lock(mutex_);
    holders_.clear();
    for (std::size_t i = 0; i < ids.size(); ++i) holders_[ids[i]] = leases[i].holder;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!leases[i].stored && !leases[i].holder.empty() && hooks_.missing) hooks_.missing(candidates[i]);
    const bool here = hooks_.delivering(ids[i]);
    if (leases[i].held && !here) {
      engine::RedisWebhookLeases::State state;
      if (!leases_->load(ids[i], state)) {
        log::limited(spdlog::level::warn, "webhook_lease", {}, "webhook state not read: " + leases_->error());
        continue;  // the next round tries again (the lease is renewed meanwhile)
      }
      hooks_.start(candidates[i], std::move(state));
    } else if (!leases[i].held && here) {
      hooks_.stop(ids[i]);
    }
  }
}

}  // namespace sluice::server::detail
