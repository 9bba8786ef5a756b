#include "server/webhooks/webhook_lease_keeper.hpp"

#include "sluice/log/log.hpp"
#include "sluice/util/thread_name.hpp"

namespace sluice::server::detail {

WebhookLeaseKeeper::WebhookLeaseKeeper(std::unique_ptr<engine::RedisWebhookLeases> leases,
                                       std::chrono::milliseconds ttl, Hooks hooks)
    : leases_(std::move(leases)), ttl_(ttl), hooks_(std::move(hooks)) {}

WebhookLeaseKeeper::~WebhookLeaseKeeper() { stop(); }

void WebhookLeaseKeeper::start() {
  held_until_ = std::chrono::steady_clock::now();  // nothing held yet
  thread_ = std::thread([this] { run(); });
  util::name_thread(thread_, "sluice-leases");
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

namespace {
constexpr std::size_t kStartsPerRound = 64;
}

bool WebhookLeaseKeeper::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
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
    // Wake at the next tick, or when the leases held may lapse (to stop delivering then).
    const auto now = std::chrono::steady_clock::now();
    const auto next = held_until_ > now ? std::min(now + tick, held_until_) : now + tick;
    wake_.wait_until(lock, next, [this] { return stopping_ || woken_; });
  }
}

void WebhookLeaseKeeper::stop_all(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (hooks_.delivering(id)) hooks_.stop(id);
  }
}

void WebhookLeaseKeeper::round() {
  const std::vector<SubscriptionPtr> candidates = hooks_.candidates();
  std::vector<std::string> ids;
  std::vector<bool> here;
  ids.reserve(candidates.size());
  for (const auto& sub : candidates) {
    ids.push_back(sub->id);
    here.push_back(hooks_.delivering(sub->id));
  }
  const auto sent = std::chrono::steady_clock::now();
  const auto leases = leases_->renew(ids, here);
  if (leases.size() != ids.size()) {
    log::limited(spdlog::level::warn, "webhook_lease", {}, "webhook leases not renewed: " + leases_->error());
    // Unrenewed, they may be another node's soon: stop delivering before then.
    if (std::chrono::steady_clock::now() >= held_until_) stop_all(ids);
    return;
  }
  // Another node may take a lease once it expired: stop a margin (a tenth) before.
  held_until_ = sent + ttl_ - ttl_ / 10;
  {
    std::lock_guard lock(mutex_);
    holders_.clear();
    for (std::size_t i = 0; i < ids.size(); ++i) holders_[ids[i]] = leases[i].holder;
  }
  std::size_t started = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!leases[i].stored && !leases[i].holder.empty() && hooks_.missing) hooks_.missing(candidates[i]);
    if (!leases[i].held) {
      if (here[i]) hooks_.stop(ids[i]);
      continue;
    }
    if (here[i] || started == kStartsPerRound) continue;  // the rest next round (their leases are kept)
    if (stopping() || std::chrono::steady_clock::now() >= held_until_) return;
    engine::RedisWebhookLeases::State state;
    if (!leases_->load(ids[i], state)) {
      log::limited(spdlog::level::warn, "webhook_lease", {}, "webhook state not read: " + leases_->error());
      return;  // the next round tries again
    }
    hooks_.start(candidates[i], std::move(state));
    ++started;
  }
}

}  // namespace sluice::server::detail
