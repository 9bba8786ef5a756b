#include "client/topic_state.hpp"

#include <chrono>
#include <random>

#include "sluice/topic/topic.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::client::detail {

namespace {

// Unique per client: a publish resent after a reconnect keeps its key, two
// clients never share one.
std::string random_prefix() {
  std::random_device device;
  const std::uint64_t a = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  const std::uint64_t b = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  char text[40];
  std::snprintf(text, sizeof text, "c%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return text;
}

}  // namespace

TopicState::TopicState(std::size_t max_pending_bytes, std::chrono::milliseconds resume_time_margin)
    : max_pending_bytes_(max_pending_bytes), resume_time_margin_(resume_time_margin), key_prefix_(random_prefix()) {}

std::string TopicState::next_idempotency_key(std::uint64_t request_id) const {
  return key_prefix_ + "-" + std::to_string(request_id);
}

// Resubscribing after a reconnect: per topic, from the last event delivered;
// topics never delivered from when the subscription was made (or from the
// point it asked for, until the server acknowledged it once).
std::optional<Since> TopicState::resume_point(const std::string& pattern,
                                              const std::vector<SubscriptionPtr>& subs) const {
  bool any_acked = false;
  Since since;
  for (const auto& sub : subs) {
    if (!sub->acked) {
      if (!sub->since) continue;  // asked for live only, and never started
      for (const auto& [topic, position] : sub->since->topics) since.topics.emplace(topic, position);
      if (sub->since->time_ms) since.time_ms = std::min(since.time_ms.value_or(*sub->since->time_ms), *sub->since->time_ms);
      continue;
    }
    any_acked = true;
    since.time_ms = std::min(since.time_ms.value_or(sub->resume_time_ms), sub->resume_time_ms);
  }
  for (const auto& [topic, position] : positions_) {
    if (topic::pattern_matches(pattern, topic)) since.topics[topic] = position;
  }
  if (!any_acked && since.topics.empty() && !since.time_ms) return std::nullopt;
  return since;
}

HookResult TopicState::on_session(Session& session) {
  std::lock_guard lock(mutex_);
  if (closed_) return HookResult::done;
  subscribe_requests_.clear();  // requests of an earlier connection are answered never
  std::map<std::string, std::vector<SubscriptionPtr>> by_pattern;
  for (const auto& [id, sub] : subscriptions_) by_pattern[sub->pattern].push_back(sub);
  for (const auto& [pattern, subs] : by_pattern) {
    const std::uint64_t request_id = next_request_id_++;
    auto& ids = subscribe_requests_[request_id];
    for (const auto& sub : subs) ids.push_back(sub->id);
    session.send_text(subscribe_request(request_id, pattern, resume_point(pattern, subs), subs.front()->fallback));
  }
  for (const auto& [id, publish] : pending_) session.send_text(publish.request);
  ready_connection_ = session.connection();
  return HookResult::done;
}

void TopicState::on_closed(const CloseEvent& event) {
  {
    std::lock_guard lock(mutex_);
    ready_connection_ = 0;
  }
  if (!event.will_retry) close_all("the client stopped: " + event.description);
}

void TopicState::on_message(const Message& message) {
  if (message.type != MessageType::text) return;
  ServerMessage& m = scratch_;  // the client's thread only; its strings keep their storage
  parse_server_message(message.text(), m);
  switch (m.kind) {
    case ServerMessage::Kind::event: {
      std::vector<SubscriptionPtr>& targets = targets_;
      targets.clear();
      {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        for (const auto& [id, sub] : subscriptions_) {
          if (topic::pattern_matches(sub->pattern, m.event.topic)) targets.push_back(sub);
        }
        if (targets.empty()) return;
        // A replay overlapping what was delivered: not again.
        if (!record_delivery(positions_, m.event.topic, m.event.offset, m.event.epoch)) return;
      }
      for (const auto& sub : targets) {
        if (sub->active.load(std::memory_order_acquire) && sub->handler) sub->handler(m.event);
      }
      targets.clear();  // holds no subscription past its delivery
      return;
    }
    case ServerMessage::Kind::ack:
    case ServerMessage::Kind::error: {
      std::vector<StatusCall> calls;
      PublishHandler done;
      PublishResult result;
      {
        std::lock_guard lock(mutex_);
        if (closed_ || !m.id) return;
        on_ack(m, calls, done, result);
      }
      for (auto& call : calls) call.handler(call.status);
      if (done) done(result);
      return;
    }
    case ServerMessage::Kind::gap:
    case ServerMessage::Kind::unsubscribed: {
      std::vector<StatusCall> calls;
      {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        SubscriptionStatus status;
        status.kind = m.kind == ServerMessage::Kind::gap ? SubscriptionStatus::Kind::gap : SubscriptionStatus::Kind::ended;
        status.dropped = m.dropped;
        status.message = m.kind == ServerMessage::Kind::gap
                             ? "the server skipped " + std::to_string(m.dropped) + " events (slow consumer)"
                             : "the server ended the subscription: " + m.message;
        for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
          const auto& sub = it->second;
          const bool hit = m.kind == ServerMessage::Kind::gap || sub->pattern == m.topic;
          if (hit && sub->on_status) calls.push_back({sub->on_status, status});
          if (hit && m.kind == ServerMessage::Kind::unsubscribed) {
            sub->active.store(false, std::memory_order_release);
            it = subscriptions_.erase(it);
          } else {
            ++it;
          }
        }
        if (m.kind == ServerMessage::Kind::unsubscribed) forget_positions_of(m.topic);
      }
      for (auto& call : calls) call.handler(call.status);
      return;
    }
    case ServerMessage::Kind::other:
    case ServerMessage::Kind::invalid:
      return;  // not for the topic layer (a raw on_message listener still sees it)
  }
}

// With mutex_ held: a reply to one of our requests.
void TopicState::on_ack(const ServerMessage& m, std::vector<StatusCall>& calls, PublishHandler& done,
                        PublishResult& result) {
  const std::uint64_t request_id = *m.id;
  if (auto it = subscribe_requests_.find(request_id); it != subscribe_requests_.end()) {
    for (const SubscriptionId id : it->second) {
      auto found = subscriptions_.find(id);
      if (found == subscriptions_.end()) continue;
      const SubscriptionPtr sub = found->second;
      SubscriptionStatus status;
      if (m.kind == ServerMessage::Kind::ack) {
        status.kind = sub->acked ? SubscriptionStatus::Kind::resubscribed : SubscriptionStatus::Kind::subscribed;
        status.recovered = m.recovered;
        status.replayed = m.replayed;
        status.message = m.recovered ? "subscribed to " + sub->pattern
                                     : "subscribed to " + sub->pattern +
                                           "; history no longer covers the resume point, events were missed";
        sub->acked = true;
        sub->since.reset();
      } else {
        status.kind = SubscriptionStatus::Kind::failed;
        status.code = m.code;
        status.message = m.message;
        sub->active.store(false, std::memory_order_release);
        subscriptions_.erase(found);
      }
      if (sub->on_status) calls.push_back({sub->on_status, std::move(status)});
    }
    subscribe_requests_.erase(it);
    return;
  }
  auto it = pending_.find(request_id);
  if (it == pending_.end()) return;  // a repeat, or an unsubscribe's answer
  done = std::move(it->second.done);
  pending_bytes_ -= it->second.request.size();
  pending_.erase(it);
  result.ok = m.kind == ServerMessage::Kind::ack;
  result.code = m.code;
  result.message = m.message;
  result.event_id = m.event.id;
  result.topic = m.event.topic;
  result.offset = m.event.offset;
  result.epoch = m.event.epoch;
  result.duplicate = m.duplicate;
}

void TopicState::forget_positions_of(const std::string& pattern) {
  for (auto it = positions_.begin(); it != positions_.end();) {
    bool followed = false;
    if (topic::pattern_matches(pattern, it->first)) {
      for (const auto& [id, sub] : subscriptions_) {
        if (topic::pattern_matches(sub->pattern, it->first)) {
          followed = true;
          break;
        }
      }
    } else {
      followed = true;
    }
    it = followed ? std::next(it) : positions_.erase(it);
  }
}

SubscriptionId TopicState::subscribe(std::string pattern, EventHandler handler, SubscribeOptions options) {
  if (!topic::pattern_error(pattern).empty()) return 0;
  auto sub = std::make_shared<Subscription>();
  sub->pattern = std::move(pattern);
  sub->handler = std::move(handler);
  sub->on_status = std::move(options.on_status);
  sub->fallback = options.fallback;
  sub->since = std::move(options.since);
  sub->resume_time_ms =
      sub->since && sub->since->time_ms ? *sub->since->time_ms : unix_time_ms() - resume_time_margin_.count();
  std::lock_guard lock(mutex_);
  if (closed_) return 0;
  sub->id = next_subscription_id_++;
  subscriptions_.emplace(sub->id, sub);
  if (ready_connection_ != 0 && client_) {
    const std::uint64_t request_id = next_request_id_++;
    subscribe_requests_[request_id].push_back(sub->id);
    client_->send_text(subscribe_request(request_id, sub->pattern, sub->since, sub->fallback));
  }
  return sub->id;
}

bool TopicState::unsubscribe(SubscriptionId id) {
  std::lock_guard lock(mutex_);
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return false;
  const std::string pattern = it->second->pattern;
  it->second->active.store(false, std::memory_order_release);
  subscriptions_.erase(it);
  bool shared = false;
  for (const auto& [other, sub] : subscriptions_) shared = shared || sub->pattern == pattern;
  if (!shared) {
    forget_positions_of(pattern);
    if (ready_connection_ != 0 && client_) client_->send_text(unsubscribe_request(next_request_id_++, pattern));
  }
  return true;
}

SendStatus TopicState::publish(std::string_view topic, std::string data_json, PublishOptions options,
                               PublishHandler done) {
  std::lock_guard lock(mutex_);
  if (closed_) return SendStatus::closed;
  const std::uint64_t request_id = next_request_id_++;
  if (options.idempotency_key.empty()) options.idempotency_key = next_idempotency_key(request_id);
  std::string request = publish_request(request_id, topic, data_json, options);
  if (request.size() > max_pending_bytes_) return SendStatus::too_large;
  if (pending_bytes_ + request.size() > max_pending_bytes_) return SendStatus::queue_full;
  SendStatus status = SendStatus::queued;
  if (ready_connection_ != 0 && client_) {
    status = client_->send_text(request);
    if (!accepted(status)) return status;
  }
  pending_bytes_ += request.size();
  pending_.emplace(request_id, PendingPublish{std::move(request), std::move(done)});
  return status;
}

std::optional<Position> TopicState::position(std::string_view topic) const {
  std::lock_guard lock(mutex_);
  auto it = positions_.find(std::string(topic));
  if (it == positions_.end()) return std::nullopt;
  return it->second;
}

std::size_t TopicState::pending_publishes() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

void TopicState::close_all(const std::string& message) {
  std::map<std::uint64_t, PendingPublish> failed;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    ready_connection_ = 0;
    for (auto& [id, sub] : subscriptions_) sub->active.store(false, std::memory_order_release);
    failed.swap(pending_);
    pending_bytes_ = 0;
  }
  for (auto& [id, publish] : failed) {
    if (!publish.done) continue;
    PublishResult result;
    result.code = "closed";
    result.message = message;
    publish.done(result);
  }
}

}  // namespace sluice::client::detail
