// What the API shows of a webhook worker: its records as JSON (for the API and
// the store), its delivery state, the deliveries list (GET .../deliveries) and
// retry claims (POST .../retry). Any thread, under the view lock.
#include "server/webhooks/webhook_worker.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "sluice/broker/event.hpp"

namespace sluice::server::detail {

namespace json = boost::json;

namespace {

json::value time_or_null(std::int64_t ms) { return ms > 0 ? json::value(broker::format_time(ms)) : json::value(nullptr); }

}  // namespace

// --- records ---

json::object DeadLetter::to_json() const {
  json::object o;
  o["id"] = id;
  o["kind"] = "dead_letter";
  o["eventId"] = event_id.empty() ? json::value(nullptr) : json::value(event_id);
  o["topic"] = topic;
  o["offset"] = offset;
  if (reason == "expired") o["toOffset"] = to_offset;
  o["reason"] = reason;
  o["attempts"] = attempts;
  o["lastStatus"] = last_status ? json::value(last_status) : json::value(nullptr);
  o["lastError"] = last_error.empty() ? json::value(nullptr) : json::value(last_error);
  o["firstAttemptAt"] = time_or_null(first_attempt_ms);
  o["deadAt"] = time_or_null(dead_ms);
  o["redelivering"] = redelivering;
  return o;
}

std::string DeadLetter::to_stored_json() const {
  json::object o;
  o["id"] = id;
  o["eventId"] = event_id;
  o["topic"] = topic;
  o["offset"] = offset;
  o["toOffset"] = to_offset;
  o["reason"] = reason;
  o["attempts"] = attempts;
  o["lastStatus"] = last_status;
  o["lastError"] = last_error;
  o["firstAttemptMs"] = first_attempt_ms;
  o["deadMs"] = dead_ms;
  return json::serialize(o);
}

std::optional<DeadLetter> DeadLetter::from_stored_json(std::string_view text) {
  std::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  try {
    DeadLetter d;
    d.id = std::string(o.at("id").as_string());
    d.event_id = std::string(o.at("eventId").as_string());
    d.topic = std::string(o.at("topic").as_string());
    d.offset = o.at("offset").to_number<std::uint64_t>();
    d.to_offset = o.at("toOffset").to_number<std::uint64_t>();
    d.reason = std::string(o.at("reason").as_string());
    d.attempts = o.at("attempts").to_number<std::uint32_t>();
    d.last_status = o.at("lastStatus").to_number<unsigned>();
    d.last_error = std::string(o.at("lastError").as_string());
    d.first_attempt_ms = o.at("firstAttemptMs").to_number<std::int64_t>();
    d.dead_ms = o.at("deadMs").to_number<std::int64_t>();
    return d;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

json::object AttemptRecord::to_json() const {
  json::object o;
  o["id"] = id;
  o["kind"] = "attempt";
  o["eventId"] = event_id;
  o["topic"] = topic;
  o["offset"] = offset;
  o["attempt"] = attempt;
  o["at"] = broker::format_time(at_ms);
  o["durationMs"] = duration_ms;
  o["outcome"] = outcome;
  o["status"] = status ? json::value(status) : json::value(nullptr);
  o["error"] = error.empty() ? json::value(nullptr) : json::value(error);
  o["redelivery"] = redelivery;
  return o;
}

// --- the worker's view ---

json::object WebhookWorker::state_json() const {
  std::lock_guard lock(view_mutex_);
  json::object o;
  json::object positions;
  for (const auto& [topic, offset] : positions_) {
    if (!topic.empty()) positions[topic] = offset;
  }
  o["position"] = std::move(positions);
  o["inFlight"] = in_flight_.empty() ? json::value(nullptr) : json::value(in_flight_);
  o["attempt"] = in_flight_attempts_;
  o["consecutiveFailures"] = consecutive_failures_;
  o["lastStatus"] = last_status_ ? json::value(last_status_) : json::value(nullptr);
  o["lastError"] = last_error_.empty() ? json::value(nullptr) : json::value(last_error_);
  o["lastAttemptAt"] = time_or_null(last_attempt_ms_);
  o["nextAttemptAt"] = time_or_null(next_attempt_ms_);
  o["delivered"] = delivered_;
  o["deadLetters"] = dead_letters_.size();
  o["deadLettersDropped"] = dead_letters_dropped_;
  return o;
}

void WebhookWorker::deliveries(std::string_view kind, std::size_t limit, std::string_view cursor,
                               WebhookService::Page& page) const {
  // Both lists are in id order, and ids sort by creation time after their
  // prefix: merge them newest first, by the 16 hex digits.
  auto seq_of = [](std::string_view record_id) { return record_id.substr(record_id.find('_') + 1); };
  std::lock_guard lock(view_mutex_);
  const bool attempts = kind.empty() || kind == "attempt";
  const bool dead = kind.empty() || kind == "dead_letter";
  auto a = attempts_.rbegin();
  auto d = dead_letters_.rbegin();
  auto skip = [&](std::string_view seq) { return !cursor.empty() && seq >= cursor; };
  while (attempts && a != attempts_.rend() && skip(seq_of(a->id))) ++a;
  while (dead && d != dead_letters_.rend() && skip(seq_of(d->first))) ++d;
  std::string last;
  for (;;) {
    const bool has_a = attempts && a != attempts_.rend();
    const bool has_d = dead && d != dead_letters_.rend();
    if (!has_a && !has_d) return;
    if (page.items.size() == limit) {
      page.next_cursor = last;
      return;
    }
    if (has_a && (!has_d || seq_of(a->id) > seq_of(d->first))) {
      last = std::string(seq_of(a->id));
      page.items.push_back(a->to_json());
      ++a;
    } else {
      last = std::string(seq_of(d->first));
      page.items.push_back(d->second.to_json());
      ++d;
    }
  }
}

WebhookService::RetryResult WebhookWorker::claim_for_retry(std::string_view dl_id, std::vector<std::string>& claimed) {
  WebhookService::RetryResult r;
  std::lock_guard lock(view_mutex_);
  auto claim = [&](DeadLetter& letter) {
    if (letter.reason == "expired") {
      ++r.not_redeliverable;
      return;
    }
    if (!letter.redelivering) {
      letter.redelivering = true;
      claimed.push_back(letter.id);
    }
    ++r.queued;
  };
  if (dl_id.empty()) {
    for (auto& entry : dead_letters_) claim(entry.second);
    return r;
  }
  auto it = dead_letters_.find(dl_id);
  if (it == dead_letters_.end()) {
    r.status = WebhookService::RetryStatus::no_such_delivery;
    return r;
  }
  claim(it->second);
  if (r.not_redeliverable) r.status = WebhookService::RetryStatus::not_redeliverable;
  return r;
}

}  // namespace sluice::server::detail