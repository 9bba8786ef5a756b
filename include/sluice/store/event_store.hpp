// Durable storage of events and subscriptions (SPEC §3, "Storage"): the
// interface, and the group-commit log that makes a publish durable before it
// is acknowledged.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sluice::store {

/// One event as stored. Fields as in broker::Event; `data` is serialized JSON.
struct StoredEvent {
  std::string id;
  std::string topic;
  std::uint64_t offset = 0;
  std::string epoch;
  std::string type;
  std::string key;
  std::int64_t time_ms = 0;
  std::string data;
  std::string idempotency_key;  ///< "" when the publisher gave none
};

/// An event to append, as views into memory that `owner` keeps alive (the
/// broker's immutable Event): a publish copies no string on its own thread;
/// the log's writer copies them into buffers it reuses from batch to batch.
struct EventRecord {
  std::shared_ptr<const void> owner;  ///< keeps the viewed strings alive until written
  std::string_view id;
  std::string_view topic;
  std::uint64_t offset = 0;
  std::string_view epoch;
  std::string_view type;
  std::string_view key;
  std::int64_t time_ms = 0;
  std::string_view data;
  std::string idempotency_key;  ///< owned: it is not part of the event ("" when none)
};

/// Where a topic stands: the epoch of its history and its last offset.
struct TopicPosition {
  std::string topic;
  std::string epoch;
  std::uint64_t last_offset = 0;
};

/// Retention of one topic: its events with offset < `keep_from` may go.
struct TrimPoint {
  std::string topic;
  std::uint64_t keep_from = 0;
};

/// A subscription resource, stored as its JSON document.
struct StoredSubscription {
  std::string id;
  std::string json;
};

/// Where a subscription's webhook stands on one topic: every event up to
/// `offset` was delivered or became a dead letter.
struct WebhookPosition {
  std::string subscription;
  std::string topic;
  std::uint64_t offset = 0;
  std::string epoch;  ///< the epoch the offset counts in ("" when not kept: the SQLite store)
};

/// A webhook dead letter, stored as its JSON document.
struct WebhookDeadLetter {
  std::string subscription;
  std::string id;
  std::string json;
};

/// One change to webhook state. Changes are applied in order, a batch in one
/// transaction: a position never becomes durable before a dead letter that
/// precedes it.
struct WebhookStateChange {
  enum class Kind { position, put_dead_letter, delete_dead_letter };
  Kind kind = Kind::position;
  std::string subscription;
  std::string key;  ///< position: the topic; dead letters: the dead letter's id
  std::uint64_t offset = 0;  ///< position
  std::string json;          ///< put_dead_letter
  std::string epoch;         ///< position: the epoch it counts in ("" unknown; kept by Redis only)
};

/// When an append counts as durable.
enum class Durability {
  fsync,        ///< each batch is fsync'ed before it is acknowledged (default)
  os_buffered,  ///< written to the OS; survives a process crash, not a power loss
};

/// Where subscription documents are kept: the SQLite store (EventStore), or
/// Redis when several nodes share them (engine::RedisSubscriptionTable).
/// Thread safety: one thread writes (the subscription store's); load at start-up.
class SubscriptionTable {
 public:
  virtual ~SubscriptionTable() = default;
  virtual std::error_code put_subscription(const StoredSubscription& subscription) = 0;
  /// {} if it was deleted; std::errc::no_such_file_or_directory if there was
  /// none (another node deleted it first); another error on failure (see last_error()).
  virtual std::error_code delete_subscription(std::string_view id) = 0;
  virtual std::vector<StoredSubscription> load_subscriptions() = 0;
  /// The full text of the most recent failure, "" if none. Thread-safe.
  virtual std::string last_error() const { return {}; }
};

/// Where webhook delivery state is kept (issue #14): the SQLite store, or
/// Redis (engine::RedisWebhookState). Called from one thread (the webhook
/// state writer), and at start-up for the loads.
class WebhookStateTable {
 public:
  virtual ~WebhookStateTable() = default;
  /// Applies `changes` in order, in one transaction. Stores without webhook
  /// state accept and forget them.
  virtual std::error_code write_webhook_state(std::span<const WebhookStateChange> changes) {
    (void)changes;
    return {};
  }
  /// Every stored webhook position and dead letter (at start-up). Deleting a
  /// subscription removes its state along with it.
  virtual std::vector<WebhookPosition> load_webhook_positions() { return {}; }
  virtual std::vector<WebhookDeadLetter> load_webhook_dead_letters() { return {}; }
  /// The full text of the most recent failure, "" if none. Thread-safe.
  virtual std::string last_error() const { return {}; }
};

/// Storage back end. Thread safety: append() is called from one writer
/// thread, trim() and trim_batch() from one retention thread; the read
/// functions may be called from any thread concurrently with them
/// (implementations use their own locking or connections).
class EventStore : public SubscriptionTable, public WebhookStateTable {
 public:
  virtual ~EventStore() = default;

  /// Appends a batch atomically: all of it is durable (per the Durability
  /// chosen at open) when this returns no error, or none of it is.
  virtual std::error_code append(std::span<const StoredEvent> batch) = 0;

  /// Every topic's epoch and last offset (at start-up, to continue offsets).
  virtual std::vector<TopicPosition> load_positions() = 0;
  /// The newest events of every topic, at most `per_topic` each and none
  /// older than `min_time_ms`, oldest first within a topic (to warm history).
  virtual std::vector<StoredEvent> load_recent(std::size_t per_topic, std::int64_t min_time_ms) = 0;
  /// Events of `topic` with offset > `after`, in offset order, at most `limit`.
  virtual std::vector<StoredEvent> read(std::string_view topic, std::uint64_t after, std::size_t limit) = 0;
  /// One event by id.
  virtual std::optional<StoredEvent> find(std::string_view id) = 0;
  /// An event published with this idempotency key at or after `min_time_ms`.
  virtual std::optional<StoredEvent> find_idempotent(std::string_view key, std::int64_t min_time_ms) = 0;
  /// The newest time_ms of any event stored with an idempotency key, nullopt
  /// if there is none. Read once at start-up, so that keys not in memory are
  /// looked up only while such older keys can still be within the window.
  /// By default "unknown": the largest time, so every miss is looked up.
  virtual std::optional<std::int64_t> newest_idempotent_time() { return INT64_MAX; }
  /// Deletes the events of `topic` with offset < `keep_from` (retention).
  /// Topic positions (load_positions) are kept, so offsets continue.
  virtual std::error_code trim(std::string_view topic, std::uint64_t keep_from) = 0;
  /// trim() for many topics, in few transactions of bounded size, so that
  /// appends get in between (the SQLite store: a few thousand rows each).
  /// Stops at the first failure. By default, trim() one topic at a time.
  virtual std::error_code trim_batch(std::span<const TrimPoint> points) {
    for (const auto& p : points) {
      if (auto ec = trim(p.topic, p.keep_from)) return ec;
    }
    return {};
  }

  // Subscriptions (SubscriptionTable) and webhook state (WebhookStateTable)
  // are kept here too, beside the events.

  /// The full text of the most recent failure of any call (e.g. SQLite's
  /// "UNIQUE constraint failed: events.id"), "" if none: the error_code says
  /// what kind of failure, this says which, for the log. Thread-safe.
  std::string last_error() const override { return {}; }
};

/// Opens (creating if needed) the SQLite store in `directory` (created if
/// missing): WAL mode, one transaction per batch. Returns nullptr and a clear
/// message in `error` (naming the path) on failure.
std::unique_ptr<EventStore> open_sqlite_store(const std::string& directory, Durability durability,
                                              std::string& error);

/// Makes appends durable in batches: many publishers submit, one writer thread
/// appends whatever has queued up in one transaction (one fsync for many
/// publishes), then runs the completions in submission order.
///
/// Thread-safe: submit() from any thread. Completions run on the writer
/// thread, in submission order, with no lock held; they must be quick (post
/// work elsewhere) and must not call submit() for an ordering-sensitive follow-up.
class GroupCommitLog {
 public:
  using Completion = std::function<void(std::error_code)>;

  /// `store` must outlive the log. `max_pending_bytes` bounds what may wait
  /// for the writer; beyond it submit() refuses (backpressure, never a silent drop).
  GroupCommitLog(EventStore& store, std::size_t max_pending_bytes = 64 * 1024 * 1024,
                 std::size_t max_batch = 4096);
  ~GroupCommitLog();  ///< stop(): drains what was submitted, then joins
  GroupCommitLog(const GroupCommitLog&) = delete;
  GroupCommitLog& operator=(const GroupCommitLog&) = delete;

  /// Queues `event`; `done` runs once it is durable (or failed). Returns false
  /// (and does not call `done`) when the pending bytes are over the bound or
  /// the log is stopped.
  bool submit(EventRecord event, Completion done);
  /// The same for an event the caller owns (kept by the log until written).
  bool submit(StoredEvent event, Completion done);

  /// Wake-up batching for a thread that submits many events in a row (an
  /// event loop handling one turn's requests): while at least one hold is
  /// on, submit() does not wake the writer; release_wakeups() wakes it if
  /// anything is queued. Each hold must be released once. A held log still
  /// writes what is queued when it is stopped.
  void hold_wakeups();
  void release_wakeups();

  /// Writes everything submitted so far, runs its completions, and stops the
  /// writer. Idempotent. Later submits are refused.
  void stop();

  /// Batches written so far (for tests and metrics).
  std::uint64_t batches_written() const;

  /// Called on the writer thread after each batch's transaction with its
  /// event count and how long the append (with its fsync) took. Set it
  /// before the first submit(); it must be quick and thread-safe.
  using CommitObserver = std::function<void(std::size_t events, double seconds)>;
  void set_commit_observer(CommitObserver observer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::store
