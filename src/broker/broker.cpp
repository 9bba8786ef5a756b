#include "sluice/broker/broker.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <stdexcept>

#include "sluice/topic/topic.hpp"
#include "sluice/engine/embedded_engine.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::broker {

namespace {
std::string random_hex(std::size_t bytes) {
  unsigned char raw[16];
  if (bytes > sizeof raw || RAND_bytes(raw, static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  std::string out;
  char two[3];
  for (std::size_t i = 0; i < bytes; ++i) {
    std::snprintf(two, sizeof two, "%02x", raw[i]);
    out += two;
  }
  return out;
}
}  // namespace

std::string new_epoch() { return random_hex(8); }

Broker::Broker(Dispatch dispatch, HistoryPolicy history, store::GroupCommitLog* log, std::size_t id_index_size)
    : Broker(std::move(dispatch), std::move(history), static_cast<engine::Engine*>(nullptr), id_index_size) {
  if (log) {
    owned_engine_ = std::make_unique<engine::EmbeddedEngine>(*log);
    engine_ = owned_engine_.get();
    id_index_size_ = 0;  // the store finds any event
  }
}

// With an embedded engine the store finds any event by id; in memory, or
// with a shared engine, the broker's own index finds this node's recent ones.
Broker::Broker(Dispatch dispatch, HistoryPolicy history, engine::Engine* engine, std::size_t id_index_size)
    : dispatch_(std::move(dispatch)),
      history_(std::make_shared<const HistoryPolicy>(std::move(history))),
      engine_(engine),
      id_prefix_(random_hex(4)),
      id_index_size_(engine && !engine->numbers_events() ? 0 : id_index_size) {}

Broker::~Broker() = default;

HistoryLimits Broker::limits_for(std::string_view topic) const {
  std::shared_ptr<const HistoryPolicy> policy;
  {
    std::lock_guard lock(history_mutex_);
    policy = history_;
  }
  return policy->limits_for(topic);
}

void Broker::set_history_policy(HistoryPolicy history) {
  auto policy = std::make_shared<const HistoryPolicy>(std::move(history));
  {
    std::lock_guard lock(history_mutex_);
    history_ = policy;
  }
  // A topic created meanwhile already took the new policy; this pass is
  // for those made before.
  const std::int64_t now_ms = unix_time_ms();
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto& [topic, state] : shard.topics) {
      state.limits = policy->limits_for(topic);
      if (!state.history.empty() && trim(state, now_ms)) mark_moved(shard, topic, state);
    }
  }
}

bool Broker::trim(TopicState& state, std::int64_t now_ms) const {
  auto& h = state.history;
  const HistoryLimits& limits = state.limits;
  const std::int64_t oldest_allowed = now_ms - limits.max_age.count();
  bool dropped = false;
  while (!h.empty() && (h.size() > limits.max_events || state.history_bytes > limits.max_bytes ||
                        h.front()->time_ms < oldest_allowed)) {
    state.history_bytes -= h.front()->frame->size();
    history_events_.fetch_sub(1, std::memory_order_relaxed);
    history_bytes_.fetch_sub(h.front()->frame->size(), std::memory_order_relaxed);
    h.pop_front();
    dropped = true;
  }
  return dropped;
}

// A reservation first, then the check: two shards creating topics at once
// can never both take the last place.
bool Broker::admit_topic() noexcept {
  const std::size_t max = max_topics_.load(std::memory_order_relaxed);
  const std::size_t before = topic_count_.fetch_add(1, std::memory_order_relaxed);
  if (max == 0 || before < max) return true;
  topic_count_.fetch_sub(1, std::memory_order_relaxed);
  topics_refused_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void Broker::mark_moved(Shard& shard, const std::string& topic, TopicState& state) {
  if (state.moved) return;
  state.moved = true;
  shard.moved.push_back(topic);
}

// "evt_" + the process prefix + 16 hex digits of a counter (by hand: snprintf
// showed in publish profiles).
std::string_view Broker::next_id(IdBuffer& buffer, std::uint64_t& sequence) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t n = id_counter_.fetch_add(1, std::memory_order_relaxed);
  sequence = n;
  const std::size_t size = 4 + id_prefix_.size() + 16;
  char* out = buffer.data();
  std::copy_n("evt_", 4, out);
  std::copy(id_prefix_.begin(), id_prefix_.end(), out + 4);
  std::fill_n(out + 4 + id_prefix_.size(), 16, '0');
  for (std::size_t i = size; n != 0; n >>= 4) out[--i] = kHex[n & 15];
  return {out, size};
}

std::optional<std::uint64_t> Broker::id_sequence(std::string_view id) const {
  const std::size_t head = 4 + id_prefix_.size();
  if (id.size() != head + 16 || !id.starts_with("evt_") || id.substr(4, id_prefix_.size()) != id_prefix_) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (const char c : id.substr(head)) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    n = (n << 4) | static_cast<std::uint64_t>(digit);
  }
  return n;
}

void Broker::publish_async(PublishRequest request, Published done) {
  if (engine_ && engine_->numbers_events()) return publish_shared(std::move(request), std::move(done));
  IdBuffer id;
  std::uint64_t sequence = 0;
  EventFields fields;
  fields.id = next_id(id, sequence);
  fields.type = request.type;
  fields.key = request.key;
  fields.data = request.data;
  fields.time_ms = unix_time_ms();
  Shard& shard = shards_[std::hash<std::string>{}(request.topic) % kShards];
  std::unique_lock lock(shard.mutex);
  auto [it, inserted] = shard.topics.try_emplace(request.topic);
  if (inserted) {
    if (!admit_topic()) {
      shard.topics.erase(it);
      lock.unlock();
      return done(nullptr, make_error_code(Error::too_many_topics));
    }
    it->second.epoch = new_epoch();
    it->second.limits = limits_for(it->first);  // once per topic: not per publish
  }
  fields.offset = it->second.next_offset++;
  fields.epoch = it->second.epoch;
  fields.topic = it->first;
  auto event = make_event(fields);
  if (!engine_) {
    commit(shard, event);
    lock.unlock();
    index_id(sequence, event->topic, event->offset);
    return done(event, {});
  }
  // Views into the event (which the record keeps alive): nothing is copied here.
  store::EventRecord record{event,       event->id,  event->topic,   event->offset, event->epoch,
                            event->type, event->key, event->time_ms, event->data,   std::move(request.idempotency_key)};
  // Submitted under the topic's lock: the log's order is the offset order, and
  // its completions (one writer thread, in order) commit in that order.
  const bool queued = engine_->append(std::move(record), [this, &shard, event, done](std::error_code ec) {
    if (ec) return done(nullptr, ec);
    {
      std::lock_guard commit_lock(shard.mutex);
      commit(shard, event);
    }
    done(event, {});
  });
  if (!queued) {
    it->second.next_offset--;  // still under the lock: nobody took a later offset
    lock.unlock();
    done(nullptr, std::make_error_code(std::errc::resource_unavailable_try_again));
  }
}

// Under the shard lock: history, then every loop. A replay snapshot (same
// lock) therefore never misses an event nor sees one twice.
void Broker::commit(Shard& shard, const EventPtr& event) {
  auto it = shard.topics.find(event->topic);  // created by publish_async, never erased
  TopicState& state = it->second;
  ++shard.published;
  state.history.push_back(event);
  state.history_bytes += event->frame->size();
  history_events_.fetch_add(1, std::memory_order_relaxed);
  history_bytes_.fetch_add(event->frame->size(), std::memory_order_relaxed);
  state.committed = event->offset;
  if (trim(state, event->time_ms)) mark_moved(shard, it->first, state);
  dispatch_(event);
}

// The topic is created when its first event comes back committed; only the
// topic limit is checked here (a topic another node created is never refused).
void Broker::publish_shared(PublishRequest request, Published done) {
  {
    Shard& shard = shards_[std::hash<std::string>{}(request.topic) % kShards];
    std::lock_guard lock(shard.mutex);
    const std::size_t max = max_topics_.load(std::memory_order_relaxed);
    if (max != 0 && !shard.topics.contains(request.topic) && topic_count_.load(std::memory_order_relaxed) >= max) {
      topics_refused_.fetch_add(1, std::memory_order_relaxed);
      return done(nullptr, make_error_code(Error::too_many_topics));
    }
  }
  IdBuffer id;
  std::uint64_t sequence = 0;
  engine::Unnumbered event;
  event.id = next_id(id, sequence);
  event.topic = std::move(request.topic);
  event.type = std::move(request.type);
  event.key = std::move(request.key);
  event.data = std::move(request.data);
  event.time_ms = unix_time_ms();
  event.idempotency_key = std::move(request.idempotency_key);
  event.idempotency_print = request.idempotency_print;
  engine_->append_unnumbered(std::move(event), [this, sequence, done = std::move(done)](EventPtr committed_event,
                                                                                        std::error_code ec) {
    // An idempotent repeat carries the first publish's event: it is not committed again.
    if (!committed_event || ec) {
      return done(std::move(committed_event), ec ? ec : make_error_code(Error::engine_unavailable));
    }
    committed(committed_event);  // the engine's pub/sub may bring it too: the second is a duplicate
    index_id(sequence, committed_event->topic, committed_event->offset);
    done(std::move(committed_event), {});
  });
}

// A shared engine's events, in any order: each topic's history takes them in
// offset order; one that comes early waits for the ones before it.
engine::CommittedSink::Accepted Broker::committed(EventPtr event) {
  Shard& shard = shards_[std::hash<std::string>{}(event->topic) % kShards];
  std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.topics.try_emplace(event->topic);
  TopicState& state = it->second;
  if (inserted) {
    state.limits = limits_for(it->first);
    state.epoch = event->epoch;
    topic_count_.fetch_add(1, std::memory_order_relaxed);  // counted, never refused: it exists in the engine
  } else if (state.epoch != event->epoch) {
    // The engine restarted the topic (its history was lost): so does this node.
    state.history.clear();
    state.history_bytes = 0;
    state.waiting.clear();
    state.epoch = event->epoch;
    state.committed = event->offset - 1;
    state.next_offset = event->offset;
    mark_moved(shard, it->first, state);
  }
  if (event->offset <= state.committed) return Accepted::duplicate;
  if (event->offset > state.committed + 1) {
    // Bounded: past the bound the event is dropped, and fetched again with the gap.
    if (state.waiting.size() < std::max<std::size_t>(state.limits.max_events, 1024)) {
      state.waiting.emplace(event->offset, std::move(event));
    }
    return Accepted::waiting;
  }
  state.next_offset = std::max(state.next_offset, event->offset + 1);
  commit(shard, event);
  index_foreign(*event);
  release_waiting(shard, state);
  return Accepted::committed;
}

void Broker::release_waiting(Shard& shard, TopicState& state) {
  auto& waiting = state.waiting;
  while (!waiting.empty() && waiting.begin()->first <= state.committed + 1) {
    EventPtr next = std::move(waiting.begin()->second);
    waiting.erase(waiting.begin());
    if (next->offset != state.committed + 1) continue;  // a duplicate
    state.next_offset = std::max(state.next_offset, next->offset + 1);
    commit(shard, next);
    index_foreign(*next);
  }
}

engine::TopicView Broker::view(const std::string& topic) const {
  const Shard& shard = shards_[std::hash<std::string>{}(topic) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.topics.find(topic);
  if (it == shard.topics.end()) return {};
  return {it->second.committed, it->second.epoch};
}

void Broker::skip(const std::string& topic, const std::string& epoch, std::uint64_t up_to) {
  Shard& shard = shards_[std::hash<std::string>{}(topic) % kShards];
  std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.topics.try_emplace(topic);
  TopicState& state = it->second;
  if (inserted) {
    state.limits = limits_for(it->first);
    state.epoch = epoch;
    topic_count_.fetch_add(1, std::memory_order_relaxed);
  }
  if (state.epoch != epoch || state.committed >= up_to) return;
  // History restarts after the hole: a resume from inside it is not recovered.
  state.history.clear();
  state.history_bytes = 0;
  mark_moved(shard, it->first, state);
  state.committed = up_to;
  state.next_offset = std::max(state.next_offset, up_to + 1);
  release_waiting(shard, state);
}

EventPtr Broker::publish(PublishRequest request) {
  std::promise<EventPtr> result;
  auto future = result.get_future();
  publish_async(std::move(request), [&result](EventPtr event, std::error_code) { result.set_value(std::move(event)); });
  return future.get();
}

void Broker::restore(const std::vector<store::TopicPosition>& positions,
                     const std::vector<store::StoredEvent>& recent) {
  for (const auto& p : positions) {
    Shard& shard = shards_[std::hash<std::string>{}(p.topic) % kShards];
    std::lock_guard lock(shard.mutex);
    auto [it, inserted] = shard.topics.try_emplace(p.topic);
    TopicState& state = it->second;
    if (inserted) {
      state.limits = limits_for(it->first);
      topic_count_.fetch_add(1, std::memory_order_relaxed);  // counted, never refused: the store has it
    }
    state.epoch = p.epoch;
    state.next_offset = p.last_offset + 1;
    state.committed = p.last_offset;
    // The store may hold more than history now keeps: the first sweep trims it.
    mark_moved(shard, it->first, state);
  }
  const auto now_ms = unix_time_ms();
  for (const auto& e : recent) {
    Shard& shard = shards_[std::hash<std::string>{}(e.topic) % kShards];
    std::lock_guard lock(shard.mutex);
    auto [it, inserted] = shard.topics.try_emplace(e.topic);
    TopicState& state = it->second;
    if (inserted) {
      state.limits = limits_for(it->first);
      topic_count_.fetch_add(1, std::memory_order_relaxed);
    }
    auto event = make_event({e.id, e.topic, e.offset, e.epoch, e.type, e.key, e.time_ms, e.data});
    state.history_bytes += event->frame->size();
    history_events_.fetch_add(1, std::memory_order_relaxed);
    history_bytes_.fetch_add(event->frame->size(), std::memory_order_relaxed);
    state.history.push_back(std::move(event));
    if (state.epoch.empty()) state.epoch = e.epoch;
    state.next_offset = std::max(state.next_offset, e.offset + 1);
    state.committed = std::max(state.committed, e.offset);
    trim(state, now_ms);  // the store's recent events may be over the byte bound
    mark_moved(shard, it->first, state);
  }
}

void Broker::replay_topic(const std::string& topic, const TopicState& state, const ReplayRequest& request,
                          ReplayResult& out) const {
  const auto& h = state.history;
  // What history holds, not what was handed out: with a durable store, offsets
  // past `committed` are still being written and reach the loops live later.
  const std::uint64_t last = state.committed;
  out.covered.emplace_back(topic, last);
  auto append_after = [&](std::uint64_t after) {
    const std::uint64_t first = h.empty() ? state.committed + 1 : h.front()->offset;
    const std::size_t skip = after + 1 > first ? static_cast<std::size_t>(after + 1 - first) : 0;
    for (std::size_t i = skip; i < h.size(); ++i) out.events.push_back(h[i]);
  };
  auto position = request.positions.find(topic);
  if (position == request.positions.end()) {
    if (!request.since_time_ms) return;
    for (const auto& e : h) {
      if (e->time_ms >= *request.since_time_ms) out.events.push_back(e);
    }
    return;
  }
  const Position& since = position->second;
  const std::uint64_t first = h.empty() ? state.committed + 1 : h.front()->offset;
  const bool same_epoch = since.epoch.empty() || since.epoch == state.epoch;
  if (same_epoch && since.offset <= last && since.offset + 1 >= first) return append_after(since.offset);
  out.recovered = false;
  if (request.fallback == Fallback::oldest) append_after(0);
}

ReplayResult Broker::replay(const ReplayRequest& request) const {
  ReplayResult out;
  const bool wildcard = topic::is_wildcard_pattern(request.pattern);
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    if (!wildcard) {
      auto it = shard.topics.find(request.pattern);
      if (it != shard.topics.end()) replay_topic(it->first, it->second, request, out);
      continue;
    }
    for (const auto& [topic, state] : shard.topics) {
      if (topic::pattern_matches(request.pattern, topic)) replay_topic(topic, state, request, out);
    }
  }
  if (!wildcard && out.covered.empty()) {
    // The topic has no events at all (or none since a restart of an in-memory
    // server): a position past offset 0 cannot be honoured.
    auto position = request.positions.find(request.pattern);
    if (position != request.positions.end() && position->second.offset > 0) out.recovered = false;
  }
  return out;
}

std::vector<EventPtr> Broker::history(const std::string& topic, std::uint64_t after, std::size_t limit) const {
  const Shard& shard = shards_[std::hash<std::string>{}(topic) % kShards];
  std::lock_guard lock(shard.mutex);
  std::vector<EventPtr> out;
  auto it = shard.topics.find(topic);
  if (it == shard.topics.end()) return out;
  for (const auto& e : it->second.history) {
    if (out.size() >= limit) break;
    if (e->offset > after) out.push_back(e);
  }
  return out;
}

// Memory mode: where find_event() looks for an id. A ring by the id's
// sequence number; a slot's buffers are reused, so no allocation once warm.
void Broker::index_id(std::uint64_t sequence, std::string_view topic, std::uint64_t offset) {
  if (id_index_size_ == 0) return;
  const std::size_t slot = static_cast<std::size_t>(sequence % id_index_size_);
  std::lock_guard lock(id_index_mutex_);
  if (slot >= id_index_.size()) id_index_.resize(slot + 1);
  IndexedId& entry = id_index_[slot];
  entry.sequence = sequence;
  entry.topic.assign(topic);
  entry.offset = offset;
}

// Under the topic's shard lock (the id index's lock is taken inside it, never
// the other way round).
void Broker::index_foreign(const Event& event) {
  if (id_index_size_ == 0 || id_sequence(event.id)) return;  // ours: index_id() has it
  std::lock_guard lock(id_index_mutex_);
  std::string id(event.id);
  if (!foreign_ids_.try_emplace(id, Location{std::string(event.topic), event.offset}).second) return;
  foreign_order_.push_back(std::move(id));
  if (foreign_order_.size() > id_index_size_) {
    foreign_ids_.erase(foreign_order_.front());
    foreign_order_.pop_front();
  }
}

EventPtr Broker::find_event(std::string_view id) const {
  if (id_index_size_ == 0) return nullptr;
  const auto sequence = id_sequence(id);
  std::string topic;
  std::uint64_t offset = 0;
  {
    std::lock_guard lock(id_index_mutex_);
    if (sequence) {  // ours: the sequence ring
      const std::size_t slot = static_cast<std::size_t>(*sequence % id_index_size_);
      if (slot >= id_index_.size() || id_index_[slot].sequence != *sequence) return nullptr;
      topic = id_index_[slot].topic;
      offset = id_index_[slot].offset;
    } else {  // another node's
      auto it = foreign_ids_.find(std::string(id));
      if (it == foreign_ids_.end()) return nullptr;
      topic = it->second.topic;
      offset = it->second.offset;
    }
  }
  EventPtr event = history_event(topic, offset);
  return event && event->id == id ? event : nullptr;
}

EventPtr Broker::history_event(const std::string& topic, std::uint64_t offset) const {
  const Shard& shard = shards_[std::hash<std::string>{}(topic) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.topics.find(topic);
  if (it == shard.topics.end() || it->second.history.empty()) return nullptr;
  const auto& h = it->second.history;
  const std::uint64_t first = h.front()->offset;
  if (offset < first) return nullptr;
  // Offsets are consecutive unless a store write failed: then search.
  if (offset - first < h.size() && h[static_cast<std::size_t>(offset - first)]->offset == offset) {
    return h[static_cast<std::size_t>(offset - first)];
  }
  auto at = std::lower_bound(h.begin(), h.end(), offset, [](const EventPtr& e, std::uint64_t o) { return e->offset < o; });
  return at != h.end() && (*at)->offset == offset ? *at : nullptr;
}

std::optional<std::pair<std::uint64_t, std::string>> Broker::topic_info(const std::string& topic) const {
  const Shard& shard = shards_[std::hash<std::string>{}(topic) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.topics.find(topic);
  if (it == shard.topics.end()) return std::nullopt;
  const auto& state = it->second;
  const std::uint64_t first = state.history.empty() ? state.next_offset : state.history.front()->offset;
  return std::make_pair(first, state.epoch);
}

std::vector<std::pair<std::string, std::uint64_t>> Broker::take_history_starts(std::int64_t now_ms) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    // The age bound, for topics nobody publishes to (publishes apply it too).
    for (auto& [topic, state] : shard.topics) {
      if (!state.history.empty() && trim(state, now_ms)) mark_moved(shard, topic, state);
    }
    for (auto& topic : shard.moved) {
      TopicState& state = shard.topics.at(topic);
      state.moved = false;
      // Empty history: everything committed so far may go, nothing after it
      // (an event being stored has a higher offset and is kept).
      const std::uint64_t keep_from = state.history.empty() ? state.committed + 1 : state.history.front()->offset;
      out.emplace_back(std::move(topic), keep_from);
    }
    shard.moved.clear();
  }
  return out;
}

void Broker::mark_history_moved(const std::string& topic) {
  Shard& shard = shards_[std::hash<std::string>{}(topic) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.topics.find(topic);
  if (it != shard.topics.end()) mark_moved(shard, it->first, it->second);
}

std::uint64_t Broker::published() const {
  std::uint64_t total = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.published;
  }
  return total;
}

}  // namespace sluice::broker
