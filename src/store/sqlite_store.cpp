// The SQLite EventStore: one file, <directory>/sluice.db, in WAL mode.
//
// Durability (PRAGMA synchronous, with journal_mode=WAL):
// - Durability::fsync → FULL: every COMMIT fsyncs the WAL before it returns,
//   so an acknowledged batch survives a power loss.
// - Durability::os_buffered → NORMAL: a COMMIT write()s the WAL (into the OS
//   page cache) without fsync; the WAL is synced only at checkpoints. A process
//   crash (kill -9) loses nothing, since the kernel still has the pages; a power
//   loss may roll back the last batches but never corrupts the file. Not OFF:
//   OFF skips the checkpoint syncs too, and a power loss could then corrupt
//   the database file rather than just lose its newest batches.
//
// Locking: two connections. The writer connection (append, trim, subscription
// writes) is guarded by writer_.mutex; the reader connection (every read) by
// reader_.mutex. WAL lets the reader run concurrently with a write transaction
// and see the last committed state, so the group-commit writer never waits for
// a history query and vice versa; readers serialize among themselves (one read
// connection), which is enough for start-up loads and history queries.
//
// A LOCK file in the directory, held with flock() while the store is open,
// keeps a second Sluice process from appending to the same topics.
#include <algorithm>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "sluice/store/event_store.hpp"
#include "store/sqlite_store.hpp"

namespace sluice::store {
namespace detail {
namespace {

constexpr auto kMaxSqlInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

std::int64_t clamp_to_sql(std::uint64_t value) {
  return static_cast<std::int64_t>(value > kMaxSqlInt ? kMaxSqlInt : value);
}

// A row of an event SELECT, its columns in kEventColumns' order (sqlite_schema.hpp).
StoredEvent event_from_row(const Statement& s) {
  StoredEvent e;
  e.id = s.column_string(0);
  e.topic = s.column_string(1);
  e.offset = static_cast<std::uint64_t>(s.column_int64(2));
  e.epoch = s.column_string(3);
  e.type = s.column_string(4);
  e.key = s.column_string(5);
  e.time_ms = s.column_int64(6);
  e.data = s.column_string(7);
  e.idempotency_key = s.column_string(8);
  return e;
}

}  // namespace

std::error_code SqliteStore::append(std::span<const StoredEvent> batch) {
  if (batch.empty()) return {};
  for (const auto& e : batch) {
    if (e.offset > kMaxSqlInt) {
      std::lock_guard lock(error_mutex_);
      last_error_ = "append: offset " + std::to_string(e.offset) + " of topic '" + e.topic + "' is over 2^63-1";
      return std::make_error_code(std::errc::value_too_large);
    }
  }
  std::lock_guard lock(writer_mutex_);
  sqlite3* db = writer_.db.get();
  if (auto ec = run_simple(writer_.begin, "append: BEGIN")) return ec;

  // Each topic's position becomes that of its last event in the batch.
  std::unordered_map<std::string_view, const StoredEvent*> last_of_topic;
  Statement& insert = writer_.insert_event;
  for (const auto& e : batch) {
    ResetOnExit reset(insert);
    insert.bind(1, e.topic);
    insert.bind(2, static_cast<std::int64_t>(e.offset));
    insert.bind(3, e.id);
    insert.bind(4, e.epoch);
    insert.bind(5, e.type);
    insert.bind(6, e.key);
    insert.bind(7, e.time_ms);
    insert.bind_blob(8, e.data);
    insert.bind(9, e.idempotency_key);
    const int rc = insert.step();
    if (rc != SQLITE_DONE) {
      auto ec = fail(db, rc, "append: insert '" + e.topic + "' offset " + std::to_string(e.offset));
      rollback_if_open();
      return ec;
    }
    last_of_topic[e.topic] = &e;
  }
  for (const auto& [topic, e] : last_of_topic) {
    Statement& upsert = writer_.upsert_topic;
    ResetOnExit reset(upsert);
    upsert.bind(1, topic);
    upsert.bind(2, e->epoch);
    upsert.bind(3, static_cast<std::int64_t>(e->offset));
    const int rc = upsert.step();
    if (rc != SQLITE_DONE) {
      auto ec = fail(db, rc, "append: position of '" + e->topic + "'");
      rollback_if_open();
      return ec;
    }
  }
  if (auto ec = run_simple(writer_.commit, "append: COMMIT")) {
    rollback_if_open();
    return ec;
  }
  return {};
}

std::error_code SqliteStore::trim(std::string_view topic, std::uint64_t keep_from) {
  std::lock_guard lock(writer_mutex_);
  writer_.trim.bind(1, topic);
  writer_.trim.bind(2, clamp_to_sql(keep_from));
  return run_simple(writer_.trim, "trim");
}

// Transactions of at most ~kRowsPerTransaction deleted rows, the writer
// mutex released between them: a group commit waits for one chunk at most.
std::error_code SqliteStore::trim_batch(std::span<const TrimPoint> points) {
  constexpr std::uint64_t kRowsPerTransaction = 4096;
  std::size_t next = 0;
  while (next < points.size()) {
    std::lock_guard lock(writer_mutex_);
    sqlite3* db = writer_.db.get();
    if (auto ec = run_simple(writer_.begin, "trim: BEGIN")) return ec;
    std::uint64_t budget = kRowsPerTransaction;
    while (next < points.size() && budget > 0) {
      const TrimPoint& p = points[next];
      const std::uint64_t keep_from = std::min(p.keep_from, kMaxSqlInt);
      std::uint64_t oldest = keep_from;
      {
        Statement& s = writer_.oldest;
        ResetOnExit reset(s);
        s.bind(1, p.topic);
        const int rc = s.step();
        if (rc == SQLITE_ROW) {
          oldest = static_cast<std::uint64_t>(s.column_int64(0));
        } else if (rc != SQLITE_DONE) {
          auto ec = fail(db, rc, "trim: oldest of '" + p.topic + "'");
          rollback_if_open();
          return ec;
        }
      }
      // Offsets of a topic are (nearly) dense: `budget` offsets are about `budget` rows.
      const std::uint64_t upto = oldest >= keep_from ? keep_from : std::min(keep_from, oldest + budget);
      if (upto > oldest) {
        writer_.trim.bind(1, p.topic);
        writer_.trim.bind(2, static_cast<std::int64_t>(upto));
        if (auto ec = run_simple(writer_.trim, "trim '" + p.topic + "'")) {
          rollback_if_open();
          return ec;
        }
        budget -= std::min<std::uint64_t>(budget, std::max<std::uint64_t>(1, sqlite3_changes(db)));
      }
      if (upto >= keep_from) ++next;
    }
    if (auto ec = run_simple(writer_.commit, "trim: COMMIT")) {
      rollback_if_open();
      return ec;
    }
  }
  return {};
}

std::error_code SqliteStore::put_subscription(const StoredSubscription& subscription) {
  std::lock_guard lock(writer_mutex_);
  writer_.put_subscription.bind(1, subscription.id);
  writer_.put_subscription.bind(2, subscription.json);
  return run_simple(writer_.put_subscription, "put_subscription '" + subscription.id + "'");
}

std::error_code SqliteStore::delete_subscription(std::string_view id) {
  std::lock_guard lock(writer_mutex_);
  writer_.delete_subscription.bind(1, id);
  if (auto ec = run_simple(writer_.delete_subscription, "delete_subscription")) return ec;
  return sqlite3_changes(writer_.db.get()) > 0 ? std::error_code{} : std::make_error_code(std::errc::no_such_file_or_directory);
}

// Steps a bound SELECT of event rows to the end; resets it whatever happens.
std::vector<StoredEvent> SqliteStore::collect(Statement& s, std::string_view what) {
  ResetOnExit reset(s);
  std::vector<StoredEvent> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(event_from_row(s));
  if (rc != SQLITE_DONE) fail(reader_.db.get(), rc, what);
  return out;
}

std::vector<TopicPosition> SqliteStore::load_positions() {
  std::lock_guard lock(reader_mutex_);
  Statement& s = reader_.positions;
  ResetOnExit reset(s);
  std::vector<TopicPosition> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back({s.column_string(0), s.column_string(1), static_cast<std::uint64_t>(s.column_int64(2))});
  }
  if (rc != SQLITE_DONE) fail(reader_.db.get(), rc, "load_positions");
  return out;
}

// Per topic: walks back from the newest event and stops at `per_topic` events
// or at the first one older than `min_time_ms`, so the result is a contiguous
// suffix of the topic's offsets (what warming an in-memory history needs).
// Reads the primary key from the end, never the whole table.
std::vector<StoredEvent> SqliteStore::load_recent(std::size_t per_topic, std::int64_t min_time_ms) {
  std::vector<StoredEvent> out;
  if (per_topic == 0) return out;
  std::lock_guard lock(reader_mutex_);
  // One read transaction: every topic seen at the same commit.
  if (reader_.begin.step() != SQLITE_DONE) {
    reader_.begin.reset();
    fail(reader_.db.get(), sqlite3_extended_errcode(reader_.db.get()), "load_recent: BEGIN");
    return out;
  }
  reader_.begin.reset();

  std::vector<std::string> topics;
  {
    Statement& s = reader_.positions;
    ResetOnExit reset(s);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) topics.push_back(s.column_string(0));
    if (rc != SQLITE_DONE) fail(reader_.db.get(), rc, "load_recent: topics");
  }
  for (const auto& topic : topics) {
    reader_.newest.bind(1, topic);
    reader_.newest.bind(2, clamp_to_sql(per_topic));
    auto newest_first = collect(reader_.newest, "load_recent");
    std::size_t keep = 0;
    while (keep < newest_first.size() && newest_first[keep].time_ms >= min_time_ms) ++keep;
    for (std::size_t i = keep; i-- > 0;) out.push_back(std::move(newest_first[i]));
  }
  reader_.commit.step();
  reader_.commit.reset();
  return out;
}

std::vector<StoredEvent> SqliteStore::read(std::string_view topic, std::uint64_t after, std::size_t limit) {
  if (limit == 0 || after >= kMaxSqlInt) return {};
  std::lock_guard lock(reader_mutex_);
  reader_.read.bind(1, topic);
  reader_.read.bind(2, static_cast<std::int64_t>(after));
  reader_.read.bind(3, clamp_to_sql(limit));
  return collect(reader_.read, "read");
}

std::optional<StoredEvent> SqliteStore::find(std::string_view id) {
  std::lock_guard lock(reader_mutex_);
  reader_.find.bind(1, id);
  auto found = collect(reader_.find, "find");
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::optional<StoredEvent> SqliteStore::find_idempotent(std::string_view key, std::int64_t min_time_ms) {
  if (key.empty()) return std::nullopt;  // "" means "no key", never a match
  std::lock_guard lock(reader_mutex_);
  reader_.find_idempotent.bind(1, key);
  reader_.find_idempotent.bind(2, min_time_ms);
  auto found = collect(reader_.find_idempotent, "find_idempotent");
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

// Walks the keyed events (the partial index): once, at start-up. On a read
// error: "unknown" (every miss is then looked up), never "none".
std::optional<std::int64_t> SqliteStore::newest_idempotent_time() {
  std::lock_guard lock(reader_mutex_);
  Statement& s = reader_.newest_idempotent;
  ResetOnExit reset(s);
  const int rc = s.step();
  if (rc != SQLITE_ROW) {
    fail(reader_.db.get(), rc, "newest_idempotent_time");
    return std::numeric_limits<std::int64_t>::max();
  }
  if (sqlite3_column_type(s.get(), 0) == SQLITE_NULL) return std::nullopt;
  return s.column_int64(0);
}

std::vector<StoredSubscription> SqliteStore::load_subscriptions() {
  std::lock_guard lock(reader_mutex_);
  Statement& s = reader_.subscriptions;
  ResetOnExit reset(s);
  std::vector<StoredSubscription> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.column_string(0), s.column_string(1)});
  if (rc != SQLITE_DONE) fail(reader_.db.get(), rc, "load_subscriptions");
  return out;
}

std::error_code SqliteStore::write_webhook_state(std::span<const WebhookStateChange> changes) {
  if (changes.empty()) return {};
  std::lock_guard lock(writer_mutex_);
  if (auto ec = run_simple(writer_.begin, "webhook state: BEGIN")) return ec;
  for (const auto& c : changes) {
    Statement* s = nullptr;
    switch (c.kind) {
      case WebhookStateChange::Kind::position:
        s = &writer_.put_webhook_position;
        s->bind(1, c.subscription);
        s->bind(2, c.key);
        s->bind(3, clamp_to_sql(c.offset));
        break;
      case WebhookStateChange::Kind::put_dead_letter:
        s = &writer_.put_dead_letter;
        s->bind(1, c.subscription);
        s->bind(2, c.key);
        s->bind(3, c.json);
        break;
      case WebhookStateChange::Kind::delete_dead_letter:
        s = &writer_.delete_dead_letter;
        s->bind(1, c.subscription);
        s->bind(2, c.key);
        break;
    }
    if (auto ec = run_simple(*s, "webhook state of '" + c.subscription + "'")) {
      rollback_if_open();
      return ec;
    }
  }
  if (auto ec = run_simple(writer_.commit, "webhook state: COMMIT")) {
    rollback_if_open();
    return ec;
  }
  return {};
}

std::vector<WebhookPosition> SqliteStore::load_webhook_positions() {
  std::lock_guard lock(reader_mutex_);
  Statement& s = reader_.webhook_positions;
  ResetOnExit reset(s);
  std::vector<WebhookPosition> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    out.push_back({s.column_string(0), s.column_string(1), static_cast<std::uint64_t>(s.column_int64(2)), {}});
  }
  if (rc != SQLITE_DONE) fail(reader_.db.get(), rc, "load_webhook_positions");
  return out;
}

std::vector<WebhookDeadLetter> SqliteStore::load_webhook_dead_letters() {
  std::lock_guard lock(reader_mutex_);
  Statement& s = reader_.dead_letters;
  ResetOnExit reset(s);
  std::vector<WebhookDeadLetter> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.column_string(0), s.column_string(1), s.column_string(2)});
  if (rc != SQLITE_DONE) fail(reader_.db.get(), rc, "load_webhook_dead_letters");
  return out;
}

}  // namespace detail

std::unique_ptr<EventStore> open_sqlite_store(const std::string& directory, Durability durability,
                                              std::string& error) {
  if (sqlite3_threadsafe() == 0) {
    error = "this SQLite library was built without thread support (SQLITE_THREADSAFE=0)";
    return nullptr;
  }
  auto store = std::make_unique<detail::SqliteStore>();
  if (!store->open(directory, durability, error)) return nullptr;
  error.clear();
  return store;
}

}  // namespace sluice::store