// The publish path: assigns each event its per-topic offset, serializes it
// once, and hands it to every event loop for delivery, in offset order.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/broker/error.hpp"
#include "sluice/broker/event.hpp"
#include "sluice/broker/history_policy.hpp"
#include "sluice/engine/engine.hpp"
#include "sluice/store/event_store.hpp"

namespace sluice::broker {

struct PublishRequest {
  std::string topic;  ///< a valid topic name (see topic_error)
  std::string data;   ///< serialized JSON
  std::string type;   ///< optional
  std::string key;    ///< optional
  /// The publisher's idempotencyKey ("" when none): stored with the event,
  /// so a repeat is recognised after a restart (see server::IdempotencyIndex).
  std::string idempotency_key;
  /// With idempotency_key: the content's fingerprint
  /// (server::IdempotencyIndex::fingerprint). A shared engine keeps it with
  /// the key to tell a repeat from a conflict.
  std::uint64_t idempotency_print = 0;
};


/// One topic as an operator sees it (GET /v1/topics, the dashboard).
struct TopicSummary {
  std::string topic;
  std::string epoch;
  std::uint64_t last_offset = 0;     ///< the newest committed event's offset (0: none yet)
  std::uint64_t history_events = 0;  ///< events history holds now
  std::uint64_t history_bytes = 0;   ///< their frames' bytes
  std::int64_t last_event_ms = 0;    ///< the newest event in history's time (0: history empty)
};

/// A point in a topic's history: the last offset seen, in an epoch.
struct Position {
  std::uint64_t offset = 0;
  std::string epoch;  ///< empty: any epoch
};

/// Where delivery starts when history no longer covers the resume point.
enum class Fallback { oldest, latest };

struct ReplayRequest {
  std::string pattern;
  /// Resume points per topic (for an exact topic, its one entry).
  std::unordered_map<std::string, Position> positions;
  /// For matching topics without a position: replay events at or after this
  /// time (milliseconds since the Unix epoch); unset: nothing for them.
  std::optional<std::int64_t> since_time_ms;
  Fallback fallback = Fallback::oldest;
};

struct ReplayResult {
  /// False if some position could not be honoured (history trimmed past it,
  /// or the topic's epoch changed); delivery then follows the fallback.
  bool recovered = true;
  std::vector<EventPtr> events;  ///< per topic in offset order
  /// Per topic: the last offset history held at the snapshot. Live events at
  /// or below it are duplicates of what the replay covers.
  std::vector<std::pair<std::string, std::uint64_t>> covered;
};

class Broker final : public engine::CommittedSink {
 public:
  /// Called once per event for each loop, in per-topic offset order, while
  /// the topic's shard lock is held; it must only post (no I/O, no callbacks).
  using Dispatch = std::function<void(const EventPtr&)>;

  /// `log` (optional, with the store it writes to) makes publishes durable
  /// before they are delivered or acknowledged; without it they are in memory.
  /// `history` bounds each topic's history (plain HistoryLimits: the same for all).
  /// `id_index_size`: without a log, find_event() knows the ids of the last
  /// this many events published (with a log, the store finds any event).
  explicit Broker(Dispatch dispatch, HistoryPolicy history = {}, store::GroupCommitLog* log = nullptr,
                  std::size_t id_index_size = 100'000);
  /// With an engine (which must outlive the broker): an embedded one stores
  /// what the broker numbers (as `log` above); a shared one (Redis) numbers
  /// events itself and feeds every committed event back through the
  /// CommittedSink side of the broker. Null: memory only.
  Broker(Dispatch dispatch, HistoryPolicy history, engine::Engine* engine, std::size_t id_index_size = 100'000);
  ~Broker();

  /// Called once the event is durable (or with an error and a null event:
  /// "store_busy" when the log is full, the store's error, or
  /// Error::engine_unavailable). With a shared engine and an idempotency key
  /// it already had: Error::idempotent_repeat with the first publish's event
  /// (nothing published), or Error::idempotency_conflict and null. Runs on
  /// the log's writer thread or the engine's thread (or inline in memory
  /// mode): post elsewhere, quickly.
  using Published = std::function<void(EventPtr, std::error_code)>;

  /// True with a shared engine (Redis): it numbers events and keeps
  /// idempotency keys for every node. Thread-safe.
  bool shared_engine() const noexcept { return engine_ && engine_->numbers_events(); }

  /// Publishes one event. Once durable it enters history, then every loop,
  /// then `done` runs. Thread-safe. The caller validated the topic. A publish
  /// that would create a topic beyond max_topics() is refused at once:
  /// `done(nullptr, Error::too_many_topics)`, on the calling thread.
  void publish_async(PublishRequest request, Published done);

  /// Wake-up batching of the engine (see store::GroupCommitLog::hold_wakeups):
  /// while held, appends queue without waking the durable store's writer.
  /// Each hold must be released once. No-ops without an engine that batches
  /// (engine_batches_wakeups() false: memory, Redis). Thread-safe.
  bool engine_batches_wakeups() const noexcept { return engine_ && engine_->batches_wakeups(); }
  void hold_engine_wakeups() {
    if (engine_) engine_->hold_wakeups();
  }
  void release_engine_wakeups() {
    if (engine_) engine_->release_wakeups();
  }

  /// Topics a server keeps by default (SPEC §3 Security: topics per server).
  static constexpr std::size_t kDefaultMaxTopics = 100'000;
  /// The most topics publishes may create (topics are never removed, so this
  /// bounds the broker's memory for them); 0: no limit. Topics restore()
  /// brings back count but are never refused. Thread-safe; meant for start-up.
  void set_max_topics(std::size_t max) noexcept { max_topics_.store(max, std::memory_order_relaxed); }
  std::size_t max_topics() const noexcept { return max_topics_.load(std::memory_order_relaxed); }
  /// Topics that exist now. Thread-safe.
  std::size_t topic_count() const noexcept { return topic_count_.load(std::memory_order_relaxed); }
  /// Publishes refused with Error::too_many_topics so far (for metrics). Thread-safe.
  std::uint64_t topics_refused() const noexcept { return topics_refused_.load(std::memory_order_relaxed); }

  /// publish_async, waiting for the result: returns the event (id, offset,
  /// epoch; for an idempotent repeat the first publish's), or null if it
  /// could not be stored. Blocks the calling thread for
  /// one group commit; loops should use publish_async.
  EventPtr publish(PublishRequest request);

  /// Restores topics from the store at start-up: offsets continue after
  /// `positions`, and `recent` (oldest first per topic) refills history.
  void restore(const std::vector<store::TopicPosition>& positions, const std::vector<store::StoredEvent>& recent);

  /// Snapshots what a (re)subscription must replay. Thread-safe; each topic's
  /// snapshot is atomic with respect to publishes on it.
  ReplayResult replay(const ReplayRequest& request) const;

  /// Events of `topic` with offset > `after`, oldest first, at most `limit`.
  std::vector<EventPtr> history(const std::string& topic, std::uint64_t after, std::size_t limit) const;
  /// Without a log: the event with this id, if it is among the last
  /// `id_index_size` published here (or, with a shared engine, committed by
  /// another node) and history still holds it; else (and always with a log:
  /// ask the store) null. Thread-safe.
  EventPtr find_event(std::string_view id) const;
  /// The event at `offset` of `topic` while history still holds it, else null.
  EventPtr history_event(const std::string& topic, std::uint64_t offset) const;
  /// The sequence number inside an id this broker gave (ids count up from 0),
  /// or nullopt for any other text. Thread-safe.
  std::optional<std::uint64_t> id_sequence(std::string_view id) const;
  /// The first offset still in history and the epoch of `topic`, if it exists.
  std::optional<std::pair<std::uint64_t, std::string>> topic_info(const std::string& topic) const;

  /// Up to `limit` topics whose names sort after `after` ("" for the first
  /// page), in name order. Takes each shard's lock once, briefly; costs one
  /// pass over every topic. Thread-safe.
  std::vector<TopicSummary> topic_summaries(std::string_view after, std::size_t limit) const;

  /// CommittedSink (for a shared engine): see engine.hpp. Thread-safe.
  Accepted committed(EventPtr event) override;
  engine::TopicView view(const std::string& topic) const override;
  void skip(const std::string& topic, const std::string& epoch, std::uint64_t up_to) override;

  /// Events published so far (all topics). Thread-safe.
  std::uint64_t published() const;
  /// Events and frame bytes history holds now, over all topics (for
  /// metrics). Thread-safe, lock-free.
  std::uint64_t history_events() const noexcept { return history_events_.load(std::memory_order_relaxed); }
  std::uint64_t history_bytes() const noexcept { return history_bytes_.load(std::memory_order_relaxed); }

  /// For store retention: applies the age bound to every topic's history
  /// (as of `now_ms`), then returns each topic whose history start moved
  /// since the last call (or that was restored), with the first offset a
  /// store must keep for it: events below it are no longer in history. An
  /// event still being stored is never below it. Thread-safe.
  std::vector<std::pair<std::string, std::uint64_t>> take_history_starts(std::int64_t now_ms);
  /// Reports `topic` again at the next take_history_starts (a failed trim).
  void mark_history_moved(const std::string& topic);

  /// New history bounds (a reload): every topic, existing or new, takes its
  /// bounds from `history` now; what an existing topic holds beyond them is
  /// dropped at once (a store follows at its next retention sweep). Raised
  /// bounds keep what comes from now on: dropped events do not come back.
  /// Thread-safe.
  void set_history_policy(HistoryPolicy history);

 private:
  struct TopicState {
    std::uint64_t next_offset = 1;
    std::uint64_t committed = 0;  // last offset that entered history (commits go in offset order)
    std::string epoch;
    std::deque<EventPtr> history;
    std::size_t history_bytes = 0;
    HistoryLimits limits;  // this topic's bounds, from the policy (when it was created or last reloaded)
    bool moved = false;    // history start moved since take_history_starts
    // Shared engine: committed events that arrived before an earlier offset.
    std::map<std::uint64_t, EventPtr> waiting;
  };
  struct Shard;
  /// Shared engine: numbered and committed by the engine, then fed to committed().
  void publish_shared(PublishRequest request, Published done);
  /// Commits what waited behind `state.committed`, in order.
  void release_waiting(Shard& shard, TopicState& state);
  /// Counts a new topic in, or refuses it (and counts the refusal) when
  /// max_topics() are there already.
  bool admit_topic() noexcept;
  /// Drops what is over the bounds; true if anything was dropped.
  bool trim(TopicState& state, std::int64_t now_ms) const;
  static void mark_moved(Shard& shard, const std::string& topic, TopicState& state);
  void replay_topic(const std::string& topic, const TopicState& state, const ReplayRequest& request,
                    ReplayResult& out) const;
  // Topics are sharded so unrelated topics rarely contend on one lock.
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, TopicState> topics;
    std::vector<std::string> moved;  // topics whose `moved` is set, in marking order
    std::uint64_t published = 0;
  };
  static constexpr std::size_t kShards = 64;

  // Room for "evt_" + the prefix (8 hex digits) + 16 hex digits.
  using IdBuffer = std::array<char, 32>;
  std::string_view next_id(IdBuffer& buffer, std::uint64_t& sequence);
  void index_id(std::uint64_t sequence, std::string_view topic, std::uint64_t offset);

  void commit(Shard& shard, const EventPtr& event);
  /// The policy's bounds for `topic`; a scan of its overrides (once per topic).
  HistoryLimits limits_for(std::string_view topic) const;

  Dispatch dispatch_;
  mutable std::mutex history_mutex_;              // taken after a shard's lock, never before
  std::shared_ptr<const HistoryPolicy> history_;  // under history_mutex_; replaced by a reload
  std::unique_ptr<engine::Engine> owned_engine_;  // wraps a GroupCommitLog given to the first constructor
  engine::Engine* engine_;  // null: memory only
  std::array<Shard, kShards> shards_;
  std::string id_prefix_;  // random per process: ids stay unique across restarts
  std::atomic<std::uint64_t> id_counter_{0};
  std::atomic<std::size_t> max_topics_{kDefaultMaxTopics};
  std::atomic<std::size_t> topic_count_{0};
  std::atomic<std::uint64_t> topics_refused_{0};
  // History totals, changed under the topic's shard lock (one relaxed add per
  // event in and out; mutable: trim() is const).
  mutable std::atomic<std::uint64_t> history_events_{0};
  mutable std::atomic<std::uint64_t> history_bytes_{0};

  // Memory mode: id sequence -> where the event is (find_event).
  struct IndexedId {
    std::uint64_t sequence = UINT64_MAX;  // UINT64_MAX: empty slot
    std::string topic;
    std::uint64_t offset = 0;
  };
  std::size_t id_index_size_;  // 0: no index (a log, or turned off)
  mutable std::mutex id_index_mutex_;
  std::vector<IndexedId> id_index_;  // slot: sequence % id_index_size_, grown on demand
  // A shared engine: ids other nodes made (not ours, so not in the ring), the
  // last id_index_size_ of them, oldest first in foreign_order_.
  struct Location {
    std::string topic;
    std::uint64_t offset = 0;
  };
  std::unordered_map<std::string, Location> foreign_ids_;  // guarded by id_index_mutex_
  std::deque<std::string> foreign_order_;                   // guarded by id_index_mutex_
  void index_foreign(const Event& event);
};

/// A fresh random epoch string (16 hex digits). Thread-safe.
std::string new_epoch();

}  // namespace sluice::broker
