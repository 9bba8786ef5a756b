#include "server/webhooks/webhook_service.hpp"

#include <future>

#include "sluice/engine/redis_shared_state.hpp"
#include "sluice/log/log.hpp"

#include "server/webhooks/webhook_lease_keeper.hpp"
#include "server/webhooks/webhook_state_writer.hpp"
#include "server/webhooks/webhook_worker.hpp"
#include "server/webhooks/webhook_config.hpp"

namespace sluice::server {

using detail::DeadLetter;
using detail::WebhookLoop;
using detail::WebhookWorker;

namespace {

// Which loop a subscription's worker lives on: by its id, so it is stable.
std::size_t loop_for(std::string_view id, std::size_t loops) { return std::hash<std::string_view>{}(id) % loops; }

}  // namespace

WebhookService::WebhookService(net::LoopGroup& loops, broker::Broker& broker, store::WebhookStateTable* store,
                               WebhookSettings settings, WebhookAttemptObserver observer)
    : loops_(loops), broker_(broker), store_(store), settings_(std::move(settings)), observer_(std::move(observer)) {
  std::string ignored;  // settings are valid (ServerSettings::validate)
  auto p = webhook::AddressPolicy::from_strings(settings_.allow, ignored);
  policy_ = std::make_shared<const webhook::AddressPolicy>(p ? std::move(*p) : webhook::AddressPolicy());
  if (store_) writer_ = std::make_unique<detail::WebhookStateWriter>(*store_);
}

// Without stop() (the loops no longer run): nothing to wait for; write what is queued.
WebhookService::~WebhookService() {
  if (keeper_) keeper_->stop();
  if (writer_) writer_->stop();
}

void WebhookService::share(std::unique_ptr<engine::RedisWebhookLeases> leases, store::WebhookStateTable& state,
                           std::chrono::milliseconds lease_ttl, std::function<void(const SubscriptionPtr&)> put_back) {
  writer_ = std::make_unique<detail::WebhookStateWriter>(state);
  detail::WebhookLeaseKeeper::Hooks hooks;
  hooks.candidates = [this] {
    std::vector<SubscriptionPtr> out;
    std::lock_guard lock(mutex_);
    out.reserve(known_.size());
    for (const auto& [id, sub] : known_) out.push_back(sub);
    return out;
  };
  hooks.delivering = [this](const std::string& id) { return find(id) != nullptr; };
  hooks.start = [this](const SubscriptionPtr& sub, engine::RedisWebhookLeases::State stored) {
    start_leased(sub, std::move(stored.positions), std::move(stored.dead_letters));
  };
  hooks.stop = [this](const std::string& id) { drop_worker(id); };
  hooks.missing = std::move(put_back);
  keeper_ = std::make_unique<detail::WebhookLeaseKeeper>(std::move(leases), lease_ttl, std::move(hooks));
}

void WebhookService::lease_lost(const std::string& id) { drop_worker(id); }

std::map<std::string, TopicMark> WebhookService::current_ends(const std::vector<std::string>& patterns) const {
  std::map<std::string, TopicMark> ends;
  for (const auto& pattern : patterns) {
    broker::ReplayRequest probe;  // lists the matching topics and their last offsets, copies no events
    probe.pattern = pattern;
    probe.since_time_ms = INT64_MAX;
    for (const auto& [topic, last] : broker_.replay(probe).covered) {
      auto info = broker_.topic_info(topic);
      ends.emplace(topic, TopicMark{last, info ? info->second : std::string()});
    }
  }
  return ends;
}

std::optional<std::string> WebhookService::delivered_elsewhere(const std::string& id) const {
  if (!keeper_ || find(id)) return std::nullopt;
  {
    std::lock_guard lock(mutex_);
    if (!known_.contains(id)) return std::nullopt;  // no webhook
  }
  return keeper_->holder(id);
}

void WebhookService::start_leased(const SubscriptionPtr& sub, std::vector<store::WebhookPosition> positions,
                                  std::vector<store::WebhookDeadLetter> dead_letters) {
  std::string why;
  auto worker = make_worker(sub, why);
  if (!worker) {
    return log::limited(spdlog::level::warn, "webhook_lease", {},
                        "subscription " + sub->id + ": its webhook is not delivered: " + why);
  }
  std::map<std::string, std::uint64_t> stored;
  std::map<std::string, std::string> epochs;
  for (auto& p : positions) {
    stored[p.topic] = p.offset;
    if (!p.epoch.empty()) epochs[p.topic] = std::move(p.epoch);
  }
  std::vector<DeadLetter> letters;
  for (auto& d : dead_letters) {
    if (auto letter = DeadLetter::from_stored_json(d.json)) letters.push_back(std::move(*letter));
  }
  const bool set_up = !stored.empty();
  worker->restore(std::move(stored), std::move(letters), std::move(epochs));
  // Never delivered yet: from where its topics ended when it was created.
  if (!set_up) worker->seed_positions(&sub->webhook_start);
  {
    std::lock_guard lock(mutex_);
    if (stopped_ || !known_.contains(sub->id) || workers_.contains(sub->id)) return;
    workers_[sub->id] = worker;
  }
  loops_.at(loop_for(sub->id, loops_.size())).post([worker] { worker->start_on_loop(); });
}

std::shared_ptr<const webhook::AddressPolicy> WebhookService::policy() const {
  std::lock_guard lock(mutex_);
  return policy_;
}

bool WebhookService::set_allowlist(const std::vector<std::string>& allow, std::string& error) {
  auto parsed = webhook::AddressPolicy::from_strings(allow, error);
  if (!parsed) return false;
  auto next = std::make_shared<const webhook::AddressPolicy>(std::move(*parsed));
  {
    std::lock_guard lock(mutex_);
    policy_ = next;  // settings_ stays as started: other threads read it without the lock
  }
  // Each client belongs to its loop: the new guard travels there by post.
  for (const auto& state : per_loop_) {
    state->loop->post([client = state->client.get(), next] { client->set_address_policy(*next); });
  }
  return true;
}

bool WebhookService::start(const std::vector<SubscriptionPtr>& existing, std::string& error,
                           std::vector<std::string>& problems) {
  webhook::HttpClientOptions options;
  options.address_policy = *policy();
  options.connect_timeout = settings_.connect_timeout;
  options.total_timeout = settings_.timeout;
  options.max_connections = settings_.max_connections;
  options.max_connections_per_host = settings_.max_connections_per_host;
  options.extra_ca_file = settings_.ca_file;
  // One trust store for every loop's client: loaded once (tens of
  // milliseconds and a megabyte or so each).
  options.tls = webhook::make_client_tls_context(settings_.ca_file, error);
  if (!options.tls) {
    error = "webhook client: " + error;
    return false;
  }
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    auto state = std::make_unique<WebhookLoop>();
    state->loop = &loops_.at(i);
    // Before the loops run: the client may be made here (see HttpClient).
    state->client = webhook::HttpClient::create(state->loop->io(), options, error);
    if (!state->client) {
      error = "webhook client: " + error;
      return false;
    }
    per_loop_.push_back(std::move(state));
  }
  if (keeper_) {
    // Shared: the lease keeper starts what this node takes.
    {
      std::lock_guard lock(mutex_);
      for (const auto& sub : existing) {
        if (sub->webhook.is_object()) known_[sub->id] = sub;
      }
    }
    keeper_->start();
    return true;
  }
  // Stored state, by subscription.
  std::unordered_map<std::string, std::map<std::string, std::uint64_t>> positions;
  std::unordered_map<std::string, std::vector<DeadLetter>> dead_letters;
  if (store_) {
    for (auto& p : store_->load_webhook_positions()) positions[p.subscription][p.topic] = p.offset;
    for (auto& d : store_->load_webhook_dead_letters()) {
      if (auto letter = DeadLetter::from_stored_json(d.json)) dead_letters[d.subscription].push_back(std::move(*letter));
    }
  }
  for (const auto& sub : existing) {
    if (!sub->webhook.is_object()) continue;
    std::string why;
    auto worker = make_worker(sub, why);
    if (!worker) {
      problems.push_back("subscription " + sub->id + ": its webhook is not delivered: " + why);
      continue;
    }
    auto& stored = positions[sub->id];
    const bool set_up = !stored.empty();
    worker->restore(std::move(stored), std::move(dead_letters[sub->id]));
    if (!set_up) worker->seed_positions();  // a webhook stored before delivery existed: from now on
    {
      std::lock_guard lock(mutex_);
      workers_[sub->id] = worker;
    }
    loops_.at(loop_for(sub->id, loops_.size())).post([worker] { worker->start_on_loop(); });
  }
  return true;
}

std::shared_ptr<WebhookWorker> WebhookService::make_worker(const SubscriptionPtr& sub, std::string& error) {
  if (per_loop_.empty()) return nullptr;
  // Stored webhooks were checked at creation; their target is judged again at
  // connect time, where a refusal becomes a dead letter (forbidden_address).
  auto config = parse_webhook_config(sub->webhook.get_object(), settings_, permit_all_policy(), error);
  if (!config) return nullptr;
  auto signer = webhook::WebhookSigner::from_secret(config->secret, error);
  if (!signer) return nullptr;
  WebhookLoop& loop = *per_loop_[loop_for(sub->id, loops_.size())];
  return std::make_shared<WebhookWorker>(
      WebhookWorker::Deps{loop, broker_, writer_.get(), observer_, settings_.max_dead_letters}, sub,
      std::move(*config), std::move(*signer));
}

void WebhookService::add(const SubscriptionPtr& sub) {
  if (!sub || !sub->webhook.is_object()) return;
  if (keeper_) {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      known_[sub->id] = sub;
    }
    return keeper_->wake();  // one node takes its lease now
  }
  std::string why;
  auto worker = make_worker(sub, why);
  if (!worker) return;
  worker->seed_positions();
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    workers_[sub->id] = worker;
  }
  loops_.at(loop_for(sub->id, loops_.size())).post([worker] { worker->start_on_loop(); });
}

void WebhookService::remove(const std::string& id) {
  {
    std::lock_guard lock(mutex_);
    known_.erase(id);
  }
  drop_worker(id);
}

void WebhookService::drop_worker(const std::string& id) {
  std::shared_ptr<WebhookWorker> worker;
  {
    std::lock_guard lock(mutex_);
    auto it = workers_.find(id);
    if (it == workers_.end()) return;
    worker = std::move(it->second);
    workers_.erase(it);
  }
  if (writer_) writer_->forget(id);
  loops_.at(loop_for(id, loops_.size())).post([worker] { worker->stop_on_loop(); });
}

void WebhookService::on_events(std::size_t loop, std::span<const broker::EventPtr> events) {
  if (loop >= per_loop_.size()) return;
  WebhookLoop& state = *per_loop_[loop];
  if (state.by_pattern.empty()) return;
  for (const auto& event : events) {
    state.by_pattern.match(event->topic, [&](const std::shared_ptr<WebhookWorker>& w) { w->notify(*event); });
  }
}

std::shared_ptr<WebhookWorker> WebhookService::find(std::string_view id) const {
  std::lock_guard lock(mutex_);
  auto it = workers_.find(std::string(id));
  return it == workers_.end() ? nullptr : it->second;
}

std::optional<boost::json::object> WebhookService::state(std::string_view id) const {
  auto worker = find(id);
  if (!keeper_) {
    if (!worker) return std::nullopt;
    return worker->state_json();
  }
  // Shared: which node delivers it, and its state where that is this node.
  boost::json::object o = worker ? worker->state_json() : boost::json::object();
  const std::string holder = worker ? keeper_->node() : keeper_->holder(std::string(id));
  o["deliveredHere"] = worker != nullptr;
  o["deliveringNode"] = holder.empty() ? boost::json::value(nullptr) : boost::json::value(holder);
  return o;
}

std::optional<WebhookService::Page> WebhookService::deliveries(std::string_view id, std::string_view kind,
                                                               std::size_t limit, std::string_view cursor) const {
  auto worker = find(id);
  if (!worker) return std::nullopt;
  Page page;
  worker->deliveries(kind, limit, cursor, page);
  return page;
}

WebhookService::RetryResult WebhookService::retry(const std::string& id, std::string_view delivery_id) {
  auto worker = find(id);
  if (!worker) return {RetryStatus::no_webhook, 0, 0};
  std::vector<std::string> claimed;
  auto result = worker->claim_for_retry(delivery_id, claimed);
  if (!claimed.empty()) {
    loops_.at(loop_for(id, loops_.size())).post([worker, claimed = std::move(claimed)]() mutable {
      worker->redeliver(std::move(claimed));
    });
  }
  return result;
}

void WebhookService::stop() {
  std::unordered_map<std::string, std::shared_ptr<WebhookWorker>> workers;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (keeper_) keeper_->stop();  // takes no lease more; then this node's stop
  {
    std::lock_guard lock(mutex_);
    workers.swap(workers_);
  }
  // Each loop stops its workers; wait for every loop, so no request or timer survives.
  std::vector<std::promise<void>> done(per_loop_.size());
  for (std::size_t i = 0; i < per_loop_.size(); ++i) {
    std::vector<std::shared_ptr<WebhookWorker>> mine;
    for (auto& [id, w] : workers) {
      if (loop_for(id, loops_.size()) == i) mine.push_back(w);
    }
    loops_.at(i).post([mine = std::move(mine), &done, i] {
      for (auto& w : mine) w->stop_on_loop();
      done[i].set_value();
    });
  }
  for (auto& d : done) d.get_future().wait();
  if (writer_) writer_->stop();
  if (keeper_) {
    // Positions written: another node may take over at once. Every known id
    // (the release deletes only the leases this node holds, also one taken
    // in the last round whose delivery had not started).
    std::vector<std::string> ids;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, sub] : known_) ids.push_back(id);
    }
    keeper_->release(ids);
  }
}

std::size_t WebhookService::worker_count() const {
  std::lock_guard lock(mutex_);
  return workers_.size();
}

}  // namespace sluice::server
