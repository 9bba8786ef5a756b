#include "server/webhooks/webhook_worker.hpp"

#include <algorithm>
#include <cstdio>

#include "server/webhooks/webhook_state_writer.hpp"
#include "sluice/broker/event.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::server::detail {

using store::WebhookStateChange;

namespace {

constexpr std::size_t kAttemptRing = 200;      // attempts kept for GET .../deliveries
constexpr std::size_t kSkipBudget = 1000;      // unmatched events examined per loop turn
constexpr std::size_t kMaxErrorText = 300;

std::string clip(std::string text) {
  if (text.size() > kMaxErrorText) text.resize(kMaxErrorText);
  return text;
}

// A short description of a result for the API, never the URL's path or query
// (the HTTP client's messages name the origin only) and never the secret.
std::string describe(const webhook::HttpResult& r) {
  if (r.kind == webhook::HttpResult::Kind::response) {
    std::string text = "HTTP " + std::to_string(r.status);
    if (!r.retry_after.empty()) text += " (Retry-After: " + clip(r.retry_after) + ")";
    return text;
  }
  return clip(std::string(webhook::to_string(r.kind)) + ": " + r.error);
}

}  // namespace

// --- the worker ---

WebhookWorker::WebhookWorker(Deps deps, SubscriptionPtr subscription, WebhookConfig config,
                             webhook::WebhookSigner signer)
    : loop_(deps.loop),
      broker_(deps.broker),
      writer_(deps.writer),
      observer_(deps.observer),
      max_dead_letters_(deps.max_dead_letters),
      subscription_(std::move(subscription)),
      config_(std::move(config)),
      signer_(std::move(signer)),
      timer_(deps.loop.loop->io()) {}

void WebhookWorker::restore(std::map<std::string, std::uint64_t> positions, std::vector<DeadLetter> dead_letters,
                            std::map<std::string, std::string> epochs) {
  for (auto& [topic, epoch] : epochs) epochs_[topic] = std::move(epoch);  // not running yet: nobody else reads it
  std::lock_guard lock(view_mutex_);
  for (auto& [topic, offset] : positions) positions_[topic] = offset;
  for (auto& d : dead_letters) dead_letters_.emplace(d.id, std::move(d));
}

void WebhookWorker::seed_positions(const std::map<std::string, TopicMark>* start) {
  std::lock_guard lock(view_mutex_);
  // "" (no topic has that name) marks a webhook whose state was set up: after
  // a restart, a webhook without any position is one from before delivery
  // existed, and starts at the current end too instead of replaying history.
  if (positions_.emplace(std::string(), 0).second) store_position({}, 0);
  if (start) {
    for (const auto& [topic, mark] : *start) {
      if (!mark.epoch.empty()) epochs_.try_emplace(topic, mark.epoch);
      if (positions_.emplace(topic, mark.offset).second) store_position(topic, mark.offset);
    }
    return;
  }
  for (const auto& pattern : subscription_->patterns) {
    broker::ReplayRequest probe;  // lists the matching topics and their last offsets, copies no events
    probe.pattern = pattern;
    probe.since_time_ms = INT64_MAX;
    for (const auto& [topic, last] : broker_.replay(probe).covered) {
      if (positions_.emplace(topic, last).second) store_position(topic, last);
    }
  }
}

void WebhookWorker::store_position(const std::string& topic, std::uint64_t offset) {
  if (!writer_) return;
  WebhookStateChange c;
  c.kind = WebhookStateChange::Kind::position;
  c.subscription = id();
  c.key = topic;
  c.offset = offset;
  if (auto it = epochs_.find(topic); it != epochs_.end()) c.epoch = it->second;
  writer_->queue(std::move(c));
}

void WebhookWorker::start_on_loop() {
  if (stopped_) return;
  for (const auto& pattern : subscription_->patterns) loop_.by_pattern.insert(pattern, shared_from_this());
  // Where each matching topic ends now; later events arrive through notify().
  for (const auto& pattern : subscription_->patterns) {
    broker::ReplayRequest probe;
    probe.pattern = pattern;
    probe.since_time_ms = INT64_MAX;
    for (const auto& [topic, last] : broker_.replay(probe).covered) {
      if (auto info = broker_.topic_info(topic)) {
        // A position stored in an epoch the topic has left (the engine lost it meanwhile) starts over.
        auto [epoch, fresh] = epochs_.try_emplace(topic, info->second);
        if (!fresh && epoch->second != info->second) restart_topic(topic, info->second);
      }
      auto& head = heads_[topic];
      head = std::max(head, last);
      auto it = positions_.find(topic);
      if (head > (it == positions_.end() ? 0 : it->second)) ready_.insert(topic);
    }
  }
  std::vector<std::string> queued;
  {
    std::lock_guard lock(view_mutex_);
    for (auto& [dl_id, letter] : dead_letters_) {
      if (letter.redelivering) queued.push_back(dl_id);
    }
  }
  for (auto& q : queued) redeliver_.push_back(std::move(q));
  schedule_pump();
}

void WebhookWorker::notify(const broker::Event& event) {
  if (stopped_) return;
  auto [epoch, first_seen] = epochs_.try_emplace(event.topic, event.epoch);
  if (!first_seen && epoch->second != event.epoch) restart_topic(event.topic, event.epoch);
  auto& head = heads_[event.topic];
  if (event.offset <= head) return;
  head = event.offset;
  ready_.insert(event.topic);
  if (!current_) schedule_pump();
}

void WebhookWorker::stop_on_loop() {
  if (stopped_) return;
  stopped_ = true;
  for (const auto& pattern : subscription_->patterns) loop_.by_pattern.erase(pattern, shared_from_this());
  timer_.cancel();
  request_.cancel();  // the callback then sees `cancelled` and stopped_
  current_.reset();
  redeliver_.clear();
}

void WebhookWorker::redeliver(std::vector<std::string> ids) {
  if (stopped_) return;
  for (auto& i : ids) redeliver_.push_back(std::move(i));
  if (!current_) schedule_pump();
}

void WebhookWorker::schedule_pump() {
  if (pump_scheduled_ || stopped_) return;
  pump_scheduled_ = true;
  loop_.loop->post([self = shared_from_this()] {
    self->pump_scheduled_ = false;
    self->pump();
  });
}

// Starts the next delivery: a dead letter asked for again first, then the
// oldest pending event across topics; events the filter refuses are passed.
void WebhookWorker::pump() {
  if (stopped_ || current_) return;
  while (!redeliver_.empty()) {
    const std::string dl_id = std::move(redeliver_.front());
    redeliver_.pop_front();
    std::string topic, event_id;
    std::uint64_t offset = 0;
    {
      std::lock_guard lock(view_mutex_);
      auto it = dead_letters_.find(dl_id);
      if (it == dead_letters_.end()) continue;
      topic = it->second.topic;
      offset = it->second.offset;
      event_id = it->second.event_id;
    }
    broker::EventPtr event = broker_.history_event(topic, offset);
    if (!event || event->id != event_id) {
      std::lock_guard lock(view_mutex_);
      auto it = dead_letters_.find(dl_id);
      if (it != dead_letters_.end()) {
        it->second.redelivering = false;
        it->second.last_error = "not redelivered: the event is no longer in history";
      }
      continue;
    }
    return start_delivery(std::move(event), dl_id);
  }
  for (std::size_t budget = kSkipBudget; budget > 0; --budget) {
    broker::EventPtr event = next_event();
    if (!event) return;
    if (!subscription_->matches(event->topic, event->type, event->key, event->parsed_data())) {
      advance(event->topic, event->offset);
      continue;
    }
    return start_delivery(std::move(event), {});
  }
  schedule_pump();  // many unmatched events: let the loop breathe, then go on
}

// The oldest (by publish time) next event of the topics with something
// pending. What left history before it was delivered becomes an `expired`
// dead letter, and the position moves past it.
broker::EventPtr WebhookWorker::next_event() {
  broker::EventPtr best;
  for (auto it = ready_.begin(); it != ready_.end();) {
    const std::string& topic = *it;
    const std::uint64_t head = heads_[topic];
    auto p = positions_.find(topic);
    const std::uint64_t position = p == positions_.end() ? 0 : p->second;
    if (head <= position) {
      it = ready_.erase(it);
      continue;
    }
    broker::EventPtr event = broker_.history_event(topic, position + 1);
    if (!event) {
      const auto info = broker_.topic_info(topic);
      const std::uint64_t first = info ? info->first : head + 1;
      if (first > position + 1) {
        const std::uint64_t last_gone = std::min(first - 1, head);
        add_expired(topic, position + 1, last_gone, "left history before it was delivered");
        advance(topic, last_gone);
        continue;  // the same topic again, from its new position
      }
      // A hole in the offsets (a publish whose store write failed): skip it.
      const auto after = broker_.history(topic, position, 1);
      if (after.empty()) {
        advance(topic, head);
        continue;
      }
      advance(topic, after.front()->offset - 1);
      event = after.front();
    }
    // Oldest publish first; ids (a per-process sequence) break ties in publish order.
    if (!best || event->time_ms < best->time_ms || (event->time_ms == best->time_ms && event->id < best->id)) {
      best = std::move(event);
    }
    ++it;
  }
  return best;
}

void WebhookWorker::advance(const std::string& topic, std::uint64_t offset) {
  {
    std::lock_guard lock(view_mutex_);
    auto& position = positions_[topic];
    if (offset <= position) return;
    position = offset;
  }
  store_position(topic, offset);
}

// A shared engine (Redis) that lost a topic starts it again at offset 1 in
// a new epoch. Positions count in the old one: what it had not delivered is
// gone with its history (an `expired` dead letter, not a silent skip), and
// delivery starts over at the new epoch's first event.
void WebhookWorker::restart_topic(const std::string& topic, std::string_view epoch) {
  epochs_[topic] = std::string(epoch);
  std::uint64_t position = 0;
  {
    std::lock_guard lock(view_mutex_);
    auto it = positions_.find(topic);
    if (it != positions_.end()) position = it->second;
  }
  // An old-epoch event in flight finishes on its own (its end moves no position).
  if (current_ && current_->event->topic == topic && current_->dead_letter_id.empty() &&
      current_->event->offset == position + 1) {
    ++position;
  }
  const std::uint64_t old_head = heads_[topic];
  if (old_head > position) {
    add_expired(topic, position + 1, old_head,
                "the engine lost the topic's history (it restarted in a new epoch) before they were delivered");
  }
  {
    std::lock_guard lock(view_mutex_);
    positions_[topic] = 0;
  }
  store_position(topic, 0);
  heads_[topic] = 0;
  ready_.insert(topic);
}

void WebhookWorker::add_expired(const std::string& topic, std::uint64_t from, std::uint64_t to, std::string why) {
  DeadLetter letter;
  letter.id = next_record_id("dl_");
  letter.topic = topic;
  letter.offset = from;
  letter.to_offset = to;
  letter.reason = "expired";
  letter.last_error = std::move(why);
  letter.dead_ms = unix_time_ms();
  add_dead_letter(std::move(letter));
}

bool WebhookWorker::in_current_epoch(const broker::Event& event) const {
  auto it = epochs_.find(event.topic);
  return it == epochs_.end() || it->second == event.epoch;
}

void WebhookWorker::add_dead_letter(DeadLetter letter) {
  if (writer_) {
    WebhookStateChange c;
    c.kind = WebhookStateChange::Kind::put_dead_letter;
    c.subscription = id();
    c.key = letter.id;
    c.json = letter.to_stored_json();
    writer_->queue(std::move(c));
  }
  std::string dropped;
  {
    std::lock_guard lock(view_mutex_);
    ++dead_letters_total_;
    dead_letters_[letter.id] = std::move(letter);
    if (dead_letters_.size() > max_dead_letters_) {
      dropped = dead_letters_.begin()->first;  // the oldest
      dead_letters_.erase(dead_letters_.begin());
      ++dead_letters_dropped_;
    }
  }
  if (!dropped.empty() && writer_) {
    WebhookStateChange c;
    c.kind = WebhookStateChange::Kind::delete_dead_letter;
    c.subscription = id();
    c.key = dropped;
    writer_->queue(std::move(c));
  }
}

void WebhookWorker::start_delivery(broker::EventPtr event, std::string dead_letter_id) {
  Current c;
  c.event = std::move(event);
  c.dead_letter_id = std::move(dead_letter_id);
  c.first_attempt_ms = unix_time_ms();
  c.first_attempt = std::chrono::steady_clock::now();
  current_ = std::move(c);
  send();
}

void WebhookWorker::send() {
  if (stopped_ || !current_) return;
  Current& c = *current_;
  ++c.attempts;
  c.attempt_started = std::chrono::steady_clock::now();
  const broker::Event& event = *c.event;
  const std::int64_t now_s = unix_time_ms() / 1000;
  webhook::HttpRequest request;
  request.url = config_.url;
  request.body.assign(event.json);
  const auto signature = signer_.sign(event.id, now_s, request.body);
  request.headers = {
      {"X-Sluice-Event-Id", std::string(event.id)},
      {"X-Sluice-Subscription", id()},
      {std::string(webhook::kSluiceTimestampHeader), signature.sluice_timestamp},
      {std::string(webhook::kSluiceSignatureHeader), signature.sluice_signature},
      {std::string(webhook::kWebhookIdHeader), signature.webhook_id},
      {std::string(webhook::kWebhookTimestampHeader), signature.webhook_timestamp},
      {std::string(webhook::kWebhookSignatureHeader), signature.webhook_signature},
  };
  request.connect_timeout = config_.connect_timeout;
  request.total_timeout = config_.timeout;
  {
    std::lock_guard lock(view_mutex_);
    in_flight_ = std::string(event.id);
    in_flight_attempts_ = c.attempts;
    next_attempt_ms_ = 0;
  }
  request_ = loop_.client->post(std::move(request), [self = shared_from_this()](webhook::HttpResult result) {
    self->on_result(std::move(result));
  });
}

void WebhookWorker::on_result(webhook::HttpResult result) {
  if (stopped_ || !current_ || result.kind == webhook::HttpResult::Kind::cancelled) return;
  Current& c = *current_;
  const auto now = std::chrono::steady_clock::now();
  const std::int64_t now_ms = unix_time_ms();
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(now - c.attempt_started);
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - c.first_attempt);
  const auto classification = webhook::classify(result.outcome(), std::chrono::system_clock::now());
  const auto decision = webhook::decide(config_.retry, classification, c.attempts, age, loop_.rng);
  const bool ok = decision.action == webhook::RetryDecision::Action::done;
  const char* outcome = ok ? "delivered"
                        : decision.action == webhook::RetryDecision::Action::retry ? "retry"
                                                                                   : "dead_letter";
  const unsigned status = result.kind == webhook::HttpResult::Kind::response ? result.status : 0;
  const std::string error = ok ? std::string() : describe(result);
  const broker::Event& event = *c.event;

  AttemptRecord record;
  record.id = next_record_id("att_");
  record.event_id = std::string(event.id);
  record.topic = event.topic;
  record.offset = event.offset;
  record.attempt = c.attempts;
  record.at_ms = now_ms - duration.count();
  record.duration_ms = duration.count();
  record.outcome = outcome;
  record.status = status;
  record.error = error;
  record.redelivery = !c.dead_letter_id.empty();
  record_attempt(std::move(record), decision, now_ms);
  if (observer_) {
    observer_(outcome, static_cast<double>(duration.count()) / 1000,
              static_cast<double>(std::max<std::int64_t>(0, now_ms - event.time_ms)) / 1000);
  }

  switch (decision.action) {
    case webhook::RetryDecision::Action::retry:
      timer_.expires_after(decision.delay);
      timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->send();
      });
      return;
    case webhook::RetryDecision::Action::done:
      finish_delivered(c);
      break;
    case webhook::RetryDecision::Action::dead_letter:
      finish_dead_letter(c, std::string(webhook::to_string(decision.reason)), status, error, now_ms);
      break;
  }
  current_.reset();
  schedule_pump();
}

void WebhookWorker::record_attempt(AttemptRecord record, const webhook::RetryDecision& decision,
                                   std::int64_t now_ms) {
  const bool ok = decision.action == webhook::RetryDecision::Action::done;
  std::lock_guard lock(view_mutex_);
  last_status_ = record.status;
  last_error_ = record.error;
  attempts_.push_back(std::move(record));
  if (attempts_.size() > kAttemptRing) attempts_.pop_front();
  last_attempt_ms_ = now_ms;
  if (ok) {
    consecutive_failures_ = 0;
    ++delivered_;
  } else {
    ++consecutive_failures_;
  }
  if (decision.action != webhook::RetryDecision::Action::retry) {
    in_flight_.clear();
    in_flight_attempts_ = 0;
    next_attempt_ms_ = 0;
  } else {
    next_attempt_ms_ = now_ms + decision.delay.count();
  }
}

void WebhookWorker::finish_delivered(const Current& c) {
  const broker::Event& event = *c.event;
  if (!c.dead_letter_id.empty()) {
    {
      std::lock_guard lock(view_mutex_);
      dead_letters_.erase(c.dead_letter_id);
    }
    if (writer_) {
      WebhookStateChange change;
      change.kind = WebhookStateChange::Kind::delete_dead_letter;
      change.subscription = id();
      change.key = c.dead_letter_id;
      writer_->queue(std::move(change));
    }
  } else if (in_current_epoch(event)) {
    advance(event.topic, event.offset);
  }
}

void WebhookWorker::finish_dead_letter(const Current& c, std::string reason, unsigned status,
                                       const std::string& error, std::int64_t now_ms) {
  const broker::Event& event = *c.event;
  DeadLetter letter;
  letter.id = c.dead_letter_id.empty() ? next_record_id("dl_") : c.dead_letter_id;
  letter.event_id = std::string(event.id);
  letter.topic = event.topic;
  letter.offset = event.offset;
  letter.to_offset = event.offset;
  letter.reason = std::move(reason);
  letter.attempts = c.attempts;
  letter.last_status = status;
  letter.last_error = error;
  letter.first_attempt_ms = c.first_attempt_ms;
  letter.dead_ms = now_ms;
  const bool redelivery = !c.dead_letter_id.empty();
  add_dead_letter(std::move(letter));  // queued to the store before the position moves past it
  if (!redelivery) {
    if (in_current_epoch(event)) advance(event.topic, event.offset);
  } else {
    std::lock_guard lock(view_mutex_);
    --dead_letters_total_;  // the same dead letter again, not a new one
  }
}

std::string WebhookWorker::next_record_id(const char* prefix) {
  // Milliseconds and a counter: unique and in creation order, also across restarts.
  const auto seq = (static_cast<std::uint64_t>(unix_time_ms()) << 16) | (++record_counter_ & 0xffff);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%s%016llx", prefix, static_cast<unsigned long long>(seq));
  return buffer;
}

}  // namespace sluice::server::detail
