// IdempotencyIndex: keys in memory (claimed, then done with the first
// publish's result), the durable store behind them for keys memory no longer
// has (pruned, or from before a restart).
#include "sluice/server/idempotency_index.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "sluice/store/event_store.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::server {

IdempotencyIndex::IdempotencyIndex(store::EventStore* store, IdempotencyLimits limits, Clock clock)
    : store_(store), limits_(limits), clock_(clock ? std::move(clock) : Clock(unix_time_ms)) {
  if (store_) store_horizon_ms_ = store_->newest_idempotent_time().value_or(INT64_MIN);
}

// SHA-256 rather than std::hash: nodes of other builds compare each other's
// fingerprints (the Redis engine keeps them with the keys).
std::uint64_t IdempotencyIndex::fingerprint(std::string_view topic, std::string_view type, std::string_view key,
                                            std::string_view canonical_data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const char separator = '\0';
  bool ok = context && EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) == 1;
  for (const std::string_view part : {topic, std::string_view(&separator, 1), type, std::string_view(&separator, 1),
                                      key, std::string_view(&separator, 1), canonical_data}) {
    ok = ok && EVP_DigestUpdate(context.get(), part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(context.get(), digest, &size) == 1 && size >= 8;
  if (!ok) throw std::bad_alloc();  // OpenSSL fails here only when out of memory
  std::uint64_t print = 0;
  for (int i = 0; i < 8; ++i) print = (print << 8) | digest[i];
  return print;
}

// Forgets keys older than the window, and the oldest beyond the count bound
// (never one in flight: its owner still has to complete or abandon it).
void IdempotencyIndex::prune_locked(std::int64_t now) {
  const std::int64_t oldest = now - limits_.window.count();
  while (!order_.empty() && (order_.front().first < oldest || entries_.size() > limits_.max_keys)) {
    const auto& [time, key] = order_.front();
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.done && it->second.time_ms == time) {
      // Forgotten while still in the window: from now on misses ask the store.
      if (time >= oldest) store_horizon_ms_ = std::max(store_horizon_ms_, time);
      entries_.erase(it);
    }
    order_.pop_front();
  }
}

IdempotencyIndex::Answer IdempotencyIndex::answer_for(const Entry& entry, std::uint64_t print) const {
  Answer answer;
  answer.kind = entry.print == print ? Answer::Kind::duplicate : Answer::Kind::conflict;
  answer.event = entry.event;
  return answer;
}

IdempotencyIndex::Claim IdempotencyIndex::claim(const std::string& key, std::uint64_t print, Answer& answer,
                                                Waiter waiter) {
  const std::int64_t now = now_ms();
  {
    std::lock_guard lock(mutex_);
    prune_locked(now);
    auto [it, fresh] = entries_.try_emplace(key);
    Entry& entry = it->second;
    // A done entry may be older than the window without having been pruned
    // yet (one learnt from the store carries its event's time): it no longer counts.
    if (!fresh && entry.done && entry.time_ms < now - limits_.window.count()) {
      entry = Entry{};
      fresh = true;
    }
    if (!fresh) {
      if (entry.done) {
        answer = answer_for(entry, print);
        return Claim::answered;
      }
      if (!waiter) return Claim::in_flight;
      entry.waiters.emplace_back(print, std::move(waiter));
      return Claim::waiting;
    }
    entry.print = print;
    // Ours now: the store may know the key from before (pruned, or a restart).
    if (!store_ || store_horizon_ms_ < now - limits_.window.count()) return Claim::owned;
    ++store_lookups_;
  }
  std::optional<store::StoredEvent> stored;
  try {
    stored = store_->find_idempotent(key, now - limits_.window.count());
  } catch (...) {
    abandon(key, std::make_error_code(std::errc::io_error));
    throw;
  }
  if (!stored) return Claim::owned;
  // Re-serialized, so a difference in formatting does not look like other content.
  std::error_code ec;
  const boost::json::value data = boost::json::parse(stored->data, ec);
  const std::string canonical = ec ? stored->data : boost::json::serialize(data);
  const std::uint64_t stored_print = fingerprint(stored->topic, stored->type, stored->key, canonical);
  PublishedEvent event{stored->id, stored->topic, stored->offset, stored->epoch};
  answer.kind = stored_print == print ? Answer::Kind::duplicate : Answer::Kind::conflict;
  answer.event = event;
  finish(key, stored_print, event, stored->time_ms);
  return Claim::answered;
}

// Marks a claimed key done and answers its waiters (outside the lock).
void IdempotencyIndex::finish(const std::string& key, std::uint64_t print, const PublishedEvent& event,
                              std::int64_t time_ms) {
  std::vector<std::pair<std::uint64_t, Waiter>> waiters;
  Entry snapshot;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.done) return;
    Entry& entry = it->second;
    entry.done = true;
    entry.print = print;
    entry.event = event;
    entry.time_ms = time_ms;
    waiters.swap(entry.waiters);
    snapshot.print = entry.print;
    snapshot.event = entry.event;
    order_.emplace_back(time_ms, key);
    prune_locked(now_ms());
  }
  for (auto& [waiter_print, waiter] : waiters) waiter(answer_for(snapshot, waiter_print));
}

void IdempotencyIndex::complete(const std::string& key, const PublishedEvent& event) {
  complete(key, event, now_ms());
}

void IdempotencyIndex::complete(const std::string& key, const PublishedEvent& event, std::int64_t published_ms) {
  std::uint64_t print = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.done) return;
    print = it->second.print;
  }
  // Only the owner completes a claimed key, so nobody changes it in between.
  finish(key, print, event, published_ms);
}

void IdempotencyIndex::abandon(const std::string& key, std::error_code error) {
  std::vector<std::pair<std::uint64_t, Waiter>> waiters;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.done) return;
    waiters.swap(it->second.waiters);
    entries_.erase(it);
  }
  Answer answer;
  answer.kind = Answer::Kind::failed;
  answer.error = error;
  for (auto& waiter : waiters) waiter.second(answer);
}

std::uint64_t IdempotencyIndex::store_lookups() const {
  std::lock_guard lock(mutex_);
  return store_lookups_;
}

std::size_t IdempotencyIndex::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace sluice::server
