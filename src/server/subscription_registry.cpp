#include "sluice/server/subscription_registry.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <stdexcept>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "sluice/broker/event.hpp"
#include "sluice/topic/topic.hpp"
#include "sluice/engine/subscription_store.hpp"

namespace sluice::server {

namespace json = boost::json;

namespace {

// "sub_" + 12 hex digits of the creation time in ms + 12 random hex digits:
// unique across restarts, and listing in id order is roughly creation order.
std::string new_subscription_id(std::int64_t now_ms) {
  unsigned char raw[6];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("OpenSSL RAND_bytes failed");
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "sub_%012llx%02x%02x%02x%02x%02x%02x",
                static_cast<unsigned long long>(now_ms) & 0xffffffffffffULL, raw[0], raw[1], raw[2], raw[3],
                raw[4], raw[5]);
  return buffer;
}

json::array patterns_json(const std::vector<std::string>& patterns) {
  json::array out;
  for (const auto& p : patterns) out.emplace_back(p);
  return out;
}

json::value filter_json(const std::optional<topic::Filter>& filter) {
  return filter ? filter->spec() : json::value(nullptr);
}

}  // namespace

bool Subscription::matches(std::string_view topic, std::string_view type, std::string_view key,
                           const json::value& data) const {
  const bool on_pattern = std::any_of(patterns.begin(), patterns.end(),
                                      [&](const std::string& p) { return topic::pattern_matches(p, topic); });
  if (!on_pattern) return false;
  return !filter || filter->matches_everything() || filter->matches(topic, type, key, data);
}

void Subscription::record_match(std::int64_t time_ms) const noexcept {
  counters.events_matched.fetch_add(1, std::memory_order_relaxed);
  // Keep the latest time even if two matches are recorded out of order.
  std::int64_t last = counters.last_event_ms.load(std::memory_order_relaxed);
  while (time_ms > last && !counters.last_event_ms.compare_exchange_weak(last, time_ms, std::memory_order_relaxed)) {
  }
}

std::string Subscription::to_json() const {
  json::object o;
  o["id"] = id;
  o["topics"] = patterns_json(patterns);
  o["filter"] = filter_json(filter);
  if (webhook.is_object()) {
    json::object shown = webhook.get_object();
    shown.erase("secret");  // write-only: never echoed
    o["webhook"] = std::move(shown);
  } else {
    o["webhook"] = nullptr;
  }
  o["createdAt"] = broker::format_time(created_ms);
  json::object counts;
  counts["eventsMatched"] = counters.events_matched.load(std::memory_order_relaxed);
  const std::int64_t last = counters.last_event_ms.load(std::memory_order_relaxed);
  counts["lastEventAt"] = last > 0 ? json::value(broker::format_time(last)) : json::value(nullptr);
  counts["attachedStreams"] = std::max<std::int64_t>(0, counters.attached_streams.load(std::memory_order_relaxed));
  o["counters"] = std::move(counts);
  json::object links;
  links["self"] = "/v1/subscriptions/" + id;
  links["stream"] = "/v1/subscriptions/" + id + "/stream";
  o["links"] = std::move(links);
  return json::serialize(o);
}

std::string Subscription::to_stored_json() const {
  json::object o;
  o["id"] = id;
  o["topics"] = patterns_json(patterns);
  o["filter"] = filter_json(filter);
  o["webhook"] = webhook.is_object() ? webhook : json::value(nullptr);
  if (!webhook_start.empty()) {
    json::object start;
    for (const auto& [topic, mark] : webhook_start) start[topic] = json::object{{"o", mark.offset}, {"e", mark.epoch}};
    o["webhookStart"] = std::move(start);
  }
  o["createdMs"] = created_ms;
  return json::serialize(o);
}

SubscriptionPtr subscription_from_stored_json(std::string_view text, std::string& error) {
  std::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) {
    error = "not valid JSON: " + ec.message();
    return nullptr;
  }
  const json::object* o = doc.if_object();
  if (!o) {
    error = "not a JSON object";
    return nullptr;
  }
  auto sub = std::make_shared<Subscription>();
  const json::value* id = o->if_contains("id");
  if (!id || !id->is_string() || id->get_string().empty()) {
    error = "missing \"id\"";
    return nullptr;
  }
  sub->id = std::string(id->get_string());
  const json::value* topics = o->if_contains("topics");
  if (!topics || !topics->is_array() || topics->get_array().empty()) {
    error = sub->id + ": \"topics\" must be a non-empty array";
    return nullptr;
  }
  for (const auto& t : topics->get_array()) {
    if (!t.is_string()) {
      error = sub->id + ": \"topics\" must hold strings";
      return nullptr;
    }
    std::string pattern(t.get_string());
    if (auto why = topic::pattern_error(pattern); !why.empty()) {
      error = sub->id + ": topic pattern \"" + pattern + "\": " + why;
      return nullptr;
    }
    if (std::find(sub->patterns.begin(), sub->patterns.end(), pattern) == sub->patterns.end()) {
      sub->patterns.push_back(std::move(pattern));
    }
  }
  if (const json::value* filter = o->if_contains("filter"); filter && !filter->is_null()) {
    std::string why;
    sub->filter = topic::Filter::compile(*filter, why);
    if (!sub->filter) {
      error = sub->id + ": " + why;
      return nullptr;
    }
  }
  if (const json::value* webhook = o->if_contains("webhook"); webhook && !webhook->is_null()) {
    if (!webhook->is_object()) {
      error = sub->id + ": \"webhook\" must be an object or null";
      return nullptr;
    }
    sub->webhook = *webhook;
  }
  if (const json::value* start = o->if_contains("webhookStart"); start && start->is_object()) {
    for (const auto& [topic, mark] : start->get_object()) {
      const json::object* m = mark.if_object();
      const json::value* offset = m ? m->if_contains("o") : nullptr;
      const json::value* epoch = m ? m->if_contains("e") : nullptr;
      if (!offset || !(offset->is_uint64() || offset->is_int64()) || !epoch || !epoch->is_string()) {
        error = sub->id + ": \"webhookStart\" must map topics to {\"o\": offset, \"e\": epoch}";
        return nullptr;
      }
      sub->webhook_start[std::string(topic)] = {offset->to_number<std::uint64_t>(), std::string(epoch->get_string())};
    }
  }
  const json::value* created = o->if_contains("createdMs");
  if (!created || !(created->is_int64() || created->is_uint64())) {
    error = sub->id + ": \"createdMs\" must be an integer";
    return nullptr;
  }
  sub->created_ms = created->to_number<std::int64_t>();
  return sub;
}

SubscriptionRegistry::SubscriptionRegistry(engine::SubscriptionStore* store, RegistryLimits limits)
    : store_(store), limits_(limits) {}

bool SubscriptionRegistry::insert_locked(const SubscriptionPtr& subscription) {
  if (!by_id_.emplace(subscription->id, subscription).second) return false;
  for (const auto& pattern : subscription->patterns) by_pattern_.insert(pattern, subscription);
  return true;
}

void SubscriptionRegistry::create(SubscriptionSpec spec, std::int64_t now_ms, Created done) {
  {
    std::unique_lock lock(mutex_);
    if (by_id_.size() + reserved_ >= limits_.max_subscriptions) {
      lock.unlock();
      return done({CreateStatus::too_many, nullptr,
                   "at most " + std::to_string(limits_.max_subscriptions) + " subscriptions may exist"});
    }
    ++reserved_;
  }
  auto sub = std::make_shared<Subscription>();
  sub->patterns = std::move(spec.patterns);
  sub->filter = std::move(spec.filter);
  sub->webhook = spec.webhook.is_object() ? std::move(spec.webhook) : json::value(nullptr);
  sub->webhook_start = std::move(spec.webhook_start);
  sub->created_ms = now_ms;
  try {
    sub->id = new_subscription_id(now_ms);
  } catch (...) {
    std::unique_lock lock(mutex_);
    --reserved_;
    throw;
  }
  {
    std::unique_lock lock(mutex_);
    creating_.insert(sub->id);
  }
  // Stored first: a subscription is visible only once durable.
  auto stored = [this, sub, done = std::move(done)](std::string error) mutable {
    {
      std::unique_lock lock(mutex_);
      --reserved_;
      creating_.erase(sub->id);
      // A fresh random id: present only if the store's announcement came first.
      if (error.empty()) {
        insert_locked(sub);
      } else {
        remember_removed_locked(sub->id);  // a late announcement of it must not add it
      }
    }
    if (!error.empty()) {
      // The store may hold it all the same (its answer was lost): delete it,
      // so no node keeps a subscription whose creator was told it failed.
      if (store_) store_->remove(sub->id, [](const std::string&) {});
      return done({CreateStatus::store_failed, nullptr, "could not store the subscription: " + error});
    }
    done({CreateStatus::ok, std::move(sub), {}});
  };
  if (!store_) return stored({});
  std::string document = sub->to_stored_json();
  store_->put(sub->id, std::move(document), std::move(stored));
}

SubscriptionPtr SubscriptionRegistry::get(std::string_view id) const {
  std::shared_lock lock(mutex_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

SubscriptionRegistry::Page SubscriptionRegistry::list(std::size_t limit, std::string_view after) const {
  Page page;
  std::shared_lock lock(mutex_);
  auto it = after.empty() ? by_id_.begin() : by_id_.upper_bound(after);
  for (; it != by_id_.end() && page.items.size() < limit; ++it) page.items.push_back(it->second);
  if (it != by_id_.end() && !page.items.empty()) page.next_cursor = page.items.back()->id;
  return page;
}

bool SubscriptionRegistry::remove(const std::string& id, Removed done) {
  std::function<void(const std::string&)> listener;
  {
    std::unique_lock lock(mutex_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) {
      lock.unlock();
      if (done) done(RemoveOutcome::absent);
      return false;
    }
    for (const auto& pattern : it->second->patterns) by_pattern_.erase(pattern, it->second);
    by_id_.erase(it);
    remember_removed_locked(id);
    listener = on_removed_;
  }
  // The listener and the store run without the lock (SPEC §1.4); the listener
  // first, so that whoever `done` answers finds the streams told and the webhook stopped.
  if (listener) listener(id);
  if (!store_) {
    if (done) done(RemoveOutcome::removed);
    return true;
  }
  store_->remove(id, [errors = store_errors_, done = std::move(done)](const std::string& error) {
    auto outcome = RemoveOutcome::removed;
    if (error == engine::kSubscriptionNotStored) {
      outcome = RemoveOutcome::absent;
    } else if (!error.empty()) {
      errors->fetch_add(1, std::memory_order_relaxed);
      outcome = RemoveOutcome::not_recorded;
    }
    if (done) done(outcome);
  });
  return true;
}

bool SubscriptionRegistry::record_match(std::string_view id, std::int64_t time_ms) const {
  SubscriptionPtr sub = get(id);
  if (!sub) return false;
  sub->record_match(time_ms);
  return true;
}

SubscriptionPtr SubscriptionRegistry::attach_stream(std::string_view id) const {
  std::shared_lock lock(mutex_);  // held so a concurrent remove sees the stream counted
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  it->second->counters.attached_streams.fetch_add(1, std::memory_order_relaxed);
  return it->second;
}

void SubscriptionRegistry::detach_stream(const Subscription& subscription) noexcept {
  subscription.counters.attached_streams.fetch_sub(1, std::memory_order_relaxed);
}

std::vector<SubscriptionPtr> SubscriptionRegistry::matching(std::string_view topic, std::string_view type,
                                                            std::string_view key, const json::value& data) const {
  std::vector<SubscriptionPtr> out;
  {
    std::shared_lock lock(mutex_);
    by_pattern_.match(topic, [&](const SubscriptionPtr& s) { out.push_back(s); });
  }
  // A subscription with two patterns that both match was visited twice.
  std::sort(out.begin(), out.end(), std::owner_less<SubscriptionPtr>());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  // Filters are immutable: evaluated outside the lock.
  std::erase_if(out, [&](const SubscriptionPtr& s) {
    return s->filter && !s->filter->matches_everything() && !s->filter->matches(topic, type, key, data);
  });
  return out;
}

void SubscriptionRegistry::set_on_removed(std::function<void(const std::string& id)> listener) {
  std::unique_lock lock(mutex_);
  on_removed_ = std::move(listener);
}

SubscriptionRegistry::LoadResult SubscriptionRegistry::load() {
  LoadResult result;
  if (!store_) return result;
  std::vector<SubscriptionPtr> loaded;
  for (const auto& stored : store_->load()) {
    std::string error;
    auto sub = subscription_from_stored_json(stored.json, error);
    if (!sub) {
      result.errors.push_back("subscription " + stored.id + " skipped: " + error);
    } else if (sub->id != stored.id) {
      result.errors.push_back("subscription " + stored.id + " skipped: its document has id " + sub->id);
    } else {
      loaded.push_back(std::move(sub));
    }
  }
  std::unique_lock lock(mutex_);
  for (const auto& sub : loaded) {
    if (insert_locked(sub)) ++result.loaded;
  }
  return result;
}

namespace {
constexpr std::size_t kRemembered = 10'000;  // removed ids kept against late announcements
}

void SubscriptionRegistry::remember_removed_locked(const std::string& id) {
  if (!removed_.insert(id).second) return;
  removed_order_.push_back(id);
  if (removed_order_.size() > kRemembered) {
    removed_.erase(removed_order_.front());
    removed_order_.pop_front();
  }
}

bool SubscriptionRegistry::apply_put(const store::StoredSubscription& stored, std::string& error) {
  auto sub = subscription_from_stored_json(stored.json, error);
  if (!sub) return false;
  std::function<void(const SubscriptionPtr&)> listener;
  {
    std::unique_lock lock(mutex_);
    if (creating_.contains(sub->id) || removed_.contains(sub->id) || !insert_locked(sub)) return true;
    listener = on_added_;
  }
  if (listener) listener(sub);
  return true;
}

void SubscriptionRegistry::apply_removed(const std::string& id) {
  std::function<void(const std::string&)> listener;
  {
    std::unique_lock lock(mutex_);
    remember_removed_locked(id);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    for (const auto& pattern : it->second->patterns) by_pattern_.erase(pattern, it->second);
    by_id_.erase(it);
    listener = on_removed_;
  }
  if (listener) listener(id);
}

SubscriptionRegistry::Reconciled SubscriptionRegistry::reconcile(const std::vector<store::StoredSubscription>& all,
                                                                 const std::vector<std::string>& known) {
  Reconciled out;
  std::set<std::string_view> in_store;
  for (const auto& stored : all) {
    in_store.insert(stored.id);
    {
      std::shared_lock lock(mutex_);
      if (removed_.contains(stored.id)) {
        out.removed_here.push_back(stored.id);
        continue;
      }
    }
    if (get(stored.id)) continue;
    std::string error;
    if (!apply_put(stored, error)) out.problems.push_back("subscription " + stored.id + " skipped: " + error);
  }
  for (const auto& id : known) {
    if (!in_store.contains(id) && get(id)) out.absent.push_back(id);
  }
  return out;
}

std::vector<std::string> SubscriptionRegistry::ids() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> out;
  out.reserve(by_id_.size());
  for (const auto& [id, sub] : by_id_) out.push_back(id);
  return out;
}

void SubscriptionRegistry::set_on_added(std::function<void(const SubscriptionPtr&)> listener) {
  std::unique_lock lock(mutex_);
  on_added_ = std::move(listener);
}

std::size_t SubscriptionRegistry::size() const {
  std::shared_lock lock(mutex_);
  return by_id_.size();
}

}  // namespace sluice::server
