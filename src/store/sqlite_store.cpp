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
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "sluice/store/event_store.hpp"
#include "store/sqlite_util.hpp"

namespace sluice::store {
namespace {

using detail::Connection;
using detail::ResetOnExit;
using detail::Statement;
using detail::sqlite_error;

// 1: events, topics, subscriptions. 2: webhook positions and dead letters
// (added by CREATE ... IF NOT EXISTS: a version 1 file is migrated in place).
constexpr int kSchemaVersion = 2;
constexpr int kBusyTimeoutMs = 5000;
constexpr auto kMaxSqlInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// `offset` and `key` are SQL keywords, hence quoted everywhere.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  topic TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  id TEXT NOT NULL,
  epoch TEXT NOT NULL,
  type TEXT NOT NULL,
  "key" TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  data BLOB NOT NULL,
  idempotency_key TEXT NOT NULL,
  PRIMARY KEY (topic, "offset")
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events(id);
CREATE INDEX IF NOT EXISTS events_idempotency_key ON events(idempotency_key)
  WHERE idempotency_key <> '';
-- Each topic's position survives a trim that deletes all its events, so
-- offsets continue after a restart instead of starting over.
CREATE TABLE IF NOT EXISTS topics (
  topic TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  last_offset INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY,
  json TEXT NOT NULL
) WITHOUT ROWID;
-- Webhook delivery: per subscription and topic, the offset up to which every
-- event was delivered or dead-lettered; and the dead letters.
CREATE TABLE IF NOT EXISTS webhook_positions (
  subscription TEXT NOT NULL,
  topic TEXT NOT NULL,
  "offset" INTEGER NOT NULL,
  PRIMARY KEY (subscription, topic)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhook_dead_letters (
  subscription TEXT NOT NULL,
  id TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (subscription, id)
) WITHOUT ROWID;
-- A deleted subscription's webhook state goes with it, in the same transaction.
CREATE TRIGGER IF NOT EXISTS subscriptions_webhook_state AFTER DELETE ON subscriptions BEGIN
  DELETE FROM webhook_positions WHERE subscription = old.id;
  DELETE FROM webhook_dead_letters WHERE subscription = old.id;
END;
-- State a writer queued just before its subscription's delete landed after it.
DELETE FROM webhook_positions WHERE subscription NOT IN (SELECT id FROM subscriptions);
DELETE FROM webhook_dead_letters WHERE subscription NOT IN (SELECT id FROM subscriptions);
)sql";

constexpr const char* kEventColumns =
    R"sql(id, topic, "offset", epoch, type, "key", time_ms, data, idempotency_key)sql";

std::int64_t clamp_to_sql(std::uint64_t value) {
  return static_cast<std::int64_t>(value > kMaxSqlInt ? kMaxSqlInt : value);
}

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

class SqliteStore final : public EventStore {
 public:
  SqliteStore() = default;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override {
    // Close both connections (their final checkpoint included) before letting
    // go of the LOCK, so the next opener finds a quiet file.
    reader_ = {};
    writer_ = {};
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  // Opens everything; on failure returns false with `error` naming the path.
  bool open(const std::string& directory, Durability durability, std::string& error);

  std::error_code append(std::span<const StoredEvent> batch) override;
  std::vector<TopicPosition> load_positions() override;
  std::vector<StoredEvent> load_recent(std::size_t per_topic, std::int64_t min_time_ms) override;
  std::vector<StoredEvent> read(std::string_view topic, std::uint64_t after, std::size_t limit) override;
  std::optional<StoredEvent> find(std::string_view id) override;
  std::optional<StoredEvent> find_idempotent(std::string_view key, std::int64_t min_time_ms) override;
  std::optional<std::int64_t> newest_idempotent_time() override;
  std::error_code trim(std::string_view topic, std::uint64_t keep_from) override;
  std::error_code trim_batch(std::span<const TrimPoint> points) override;
  std::error_code put_subscription(const StoredSubscription& subscription) override;
  bool delete_subscription(std::string_view id) override;
  std::vector<StoredSubscription> load_subscriptions() override;
  std::error_code write_webhook_state(std::span<const WebhookStateChange> changes) override;
  std::vector<WebhookPosition> load_webhook_positions() override;
  std::vector<WebhookDeadLetter> load_webhook_dead_letters() override;
  std::string last_error() const override {
    std::lock_guard lock(error_mutex_);
    return last_error_;
  }

 private:
  struct Writer {
    Connection db;  // declared first: destroyed after its statements
    Statement begin, commit, rollback, insert_event, upsert_topic, trim, oldest, put_subscription,
        delete_subscription, put_webhook_position, put_dead_letter, delete_dead_letter;
  };
  struct Reader {
    Connection db;
    Statement begin, commit, positions, newest, read, find, find_idempotent, newest_idempotent, subscriptions,
        webhook_positions, dead_letters;
  };

  // Records "<what>: <sqlite message>" as the last error and returns the code.
  std::error_code fail(sqlite3* db, int rc, std::string_view what) {
    std::string message(what);
    message += ": ";
    message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    std::lock_guard lock(error_mutex_);
    last_error_ = std::move(message);
    return sqlite_error(rc);
  }
  // Ends a failed write transaction, if SQLite has not already rolled it back.
  void rollback_if_open() {
    if (sqlite3_get_autocommit(writer_.db.get()) == 0) {
      writer_.rollback.step();
      writer_.rollback.reset();
    }
  }
  std::error_code run_simple(Statement& s, std::string_view what) {
    ResetOnExit reset(s);
    const int rc = s.step();
    return rc == SQLITE_DONE ? std::error_code{} : fail(writer_.db.get(), rc, what);
  }
  std::vector<StoredEvent> collect(Statement& s, std::string_view what);

  std::string path_;
  int lock_fd_ = -1;
  std::mutex writer_mutex_;
  Writer writer_;
  std::mutex reader_mutex_;
  Reader reader_;
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

// Opens one connection to `path` with the settings both sides share.
int open_connection(const std::string& path, int flags, Connection& out) {
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used under our own mutex, one thread at a time.
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  out = Connection(raw);  // owns it even on failure (sqlite3_open_v2 may allocate)
  if (rc != SQLITE_OK) return rc;
  sqlite3_extended_result_codes(raw, 1);
  return sqlite3_busy_timeout(raw, kBusyTimeoutMs);
}

// fsync()s a directory so the entries created in it survive a power loss.
bool sync_directory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

bool SqliteStore::open(const std::string& directory, Durability durability, std::string& error) {
  namespace fs = std::filesystem;
  const fs::path dir(directory);
  std::error_code ec;
  const bool created = fs::create_directories(dir, ec);
  if (ec) {
    error = "cannot create data directory '" + directory + "': " + ec.message();
    return false;
  }
  if (!fs::is_directory(dir, ec)) {
    error = "data directory '" + directory + "' is not a directory";
    return false;
  }

  const fs::path lock_path = dir / "LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    error = "cannot open '" + lock_path.string() + "': " + std::strerror(errno);
    return false;
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    error = errno == EWOULDBLOCK
                ? "data directory '" + directory + "' is in use by another store (LOCK is held)"
                : "cannot lock '" + lock_path.string() + "': " + std::strerror(errno);
    return false;
  }

  path_ = (dir / "sluice.db").string();
  auto sql_error = [&](const char* what, sqlite3* db, int rc) {
    error = "sqlite store '" + path_ + "': " + what + ": " +
            (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return false;
  };

  // --- writer connection: creates the file, sets the journal mode and schema ---
  sqlite3* db = nullptr;
  int rc = open_connection(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, writer_.db);
  db = writer_.db.get();
  if (rc != SQLITE_OK) return sql_error("cannot open", db, rc);
  {
    // journal_mode returns the mode in effect; anything but "wal" is a failure.
    Statement wal;
    rc = wal.prepare(db, "PRAGMA journal_mode=WAL");
    if (rc == SQLITE_OK) rc = wal.step();
    if (rc != SQLITE_ROW) return sql_error("cannot enable WAL", db, rc);
    if (wal.column_string(0) != "wal") {
      error = "sqlite store '" + path_ + "': journal_mode is '" + wal.column_string(0) + "', WAL refused";
      return false;
    }
  }
  const char* synchronous = durability == Durability::fsync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if ((rc = writer_.db.exec(synchronous)) != SQLITE_OK) return sql_error("cannot set synchronous", db, rc);
  // Bounded WAL: checkpoints every ~4 MiB (SQLite's default), and the file is
  // truncated back to 64 MiB after one if a long reader let it grow.
  if ((rc = writer_.db.exec("PRAGMA journal_size_limit=67108864; PRAGMA cache_size=-16384")) != SQLITE_OK) {
    return sql_error("cannot set pragmas", db, rc);
  }
  {
    Statement version;
    rc = version.prepare(db, "PRAGMA user_version");
    if (rc == SQLITE_OK) rc = version.step();
    if (rc != SQLITE_ROW) return sql_error("cannot read the schema version", db, rc);
    const auto found = version.column_int64(0);
    if (found > kSchemaVersion) {
      error = "sqlite store '" + path_ + "' has schema version " + std::to_string(found) +
              ", newer than this build's " + std::to_string(kSchemaVersion);
      return false;
    }
  }
  if ((rc = writer_.db.exec("BEGIN IMMEDIATE")) != SQLITE_OK) return sql_error("cannot create the schema", db, rc);
  if ((rc = writer_.db.exec(kSchema)) != SQLITE_OK ||
      (rc = writer_.db.exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str())) != SQLITE_OK ||
      (rc = writer_.db.exec("COMMIT")) != SQLITE_OK) {
    sql_error("cannot create the schema", db, rc);
    writer_.db.exec("ROLLBACK");
    return false;
  }
  if (durability == Durability::fsync) {
    // SQLite syncs the directory for the WAL it creates, not for the database
    // file itself (nor for a data directory we just made).
    fs::path absolute = fs::absolute(dir, ec);
    if (!absolute.has_filename()) absolute = absolute.parent_path();  // "a/b/" → "a/b"
    if (!sync_directory(dir) || (created && !sync_directory(absolute.parent_path()))) {
      error = "cannot fsync data directory '" + directory + "': " + std::strerror(errno);
      return false;
    }
  }

  const std::string events = kEventColumns;
  struct Prepared {
    Statement& statement;
    std::string sql;
  };
  const Prepared writer_statements[] = {
      {writer_.begin, "BEGIN IMMEDIATE"},
      {writer_.commit, "COMMIT"},
      {writer_.rollback, "ROLLBACK"},
      {writer_.insert_event,
       R"sql(INSERT INTO events (topic, "offset", id, epoch, type, "key", time_ms, data, idempotency_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql"},
      {writer_.upsert_topic,
       "INSERT INTO topics (topic, epoch, last_offset) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (topic) DO UPDATE SET epoch = excluded.epoch, last_offset = excluded.last_offset"},
      {writer_.trim, R"sql(DELETE FROM events WHERE topic = ?1 AND "offset" < ?2)sql"},
      {writer_.oldest, R"sql(SELECT "offset" FROM events WHERE topic = ?1 ORDER BY "offset" LIMIT 1)sql"},
      {writer_.put_subscription,
       "INSERT INTO subscriptions (id, json) VALUES (?1, ?2) "
       "ON CONFLICT (id) DO UPDATE SET json = excluded.json"},
      {writer_.delete_subscription, "DELETE FROM subscriptions WHERE id = ?1"},
      {writer_.put_webhook_position,
       R"sql(INSERT INTO webhook_positions (subscription, topic, "offset") VALUES (?1, ?2, ?3)
             ON CONFLICT (subscription, topic) DO UPDATE SET "offset" = excluded."offset")sql"},
      {writer_.put_dead_letter,
       "INSERT INTO webhook_dead_letters (subscription, id, json) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (subscription, id) DO UPDATE SET json = excluded.json"},
      {writer_.delete_dead_letter, "DELETE FROM webhook_dead_letters WHERE subscription = ?1 AND id = ?2"},
  };
  for (const auto& p : writer_statements) {
    if ((rc = p.statement.prepare(db, p.sql)) != SQLITE_OK) return sql_error("cannot prepare a statement", db, rc);
  }

  // --- reader connection: WAL snapshot reads, never writes ---
  rc = open_connection(path_, SQLITE_OPEN_READWRITE, reader_.db);
  db = reader_.db.get();
  if (rc != SQLITE_OK) return sql_error("cannot open the read connection", db, rc);
  if ((rc = reader_.db.exec("PRAGMA query_only=1; PRAGMA cache_size=-16384")) != SQLITE_OK) {
    return sql_error("cannot set pragmas", db, rc);
  }
  const Prepared reader_statements[] = {
      {reader_.begin, "BEGIN"},
      {reader_.commit, "COMMIT"},
      {reader_.positions, "SELECT topic, epoch, last_offset FROM topics ORDER BY topic"},
      {reader_.newest, "SELECT " + events + R"sql( FROM events WHERE topic = ?1 ORDER BY "offset" DESC LIMIT ?2)sql"},
      {reader_.read,
       "SELECT " + events + R"sql( FROM events WHERE topic = ?1 AND "offset" > ?2 ORDER BY "offset" LIMIT ?3)sql"},
      {reader_.find, "SELECT " + events + " FROM events WHERE id = ?1"},
      // The `<> ''` term lets SQLite use the partial index.
      {reader_.find_idempotent, "SELECT " + events +
                                    " FROM events WHERE idempotency_key = ?1 AND idempotency_key <> '' "
                                    "AND time_ms >= ?2 ORDER BY time_ms DESC LIMIT 1"},
      {reader_.newest_idempotent, "SELECT MAX(time_ms) FROM events WHERE idempotency_key <> ''"},
      {reader_.subscriptions, "SELECT id, json FROM subscriptions ORDER BY id"},
      {reader_.webhook_positions, R"sql(SELECT subscription, topic, "offset" FROM webhook_positions)sql"},
      {reader_.dead_letters, "SELECT subscription, id, json FROM webhook_dead_letters ORDER BY subscription, id"},
  };
  for (const auto& p : reader_statements) {
    if ((rc = p.statement.prepare(db, p.sql)) != SQLITE_OK) return sql_error("cannot prepare a statement", db, rc);
  }
  return true;
}

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

// False both when there was nothing to delete and on failure (see last_error()).
bool SqliteStore::delete_subscription(std::string_view id) {
  std::lock_guard lock(writer_mutex_);
  writer_.delete_subscription.bind(1, id);
  if (run_simple(writer_.delete_subscription, "delete_subscription")) return false;
  return sqlite3_changes(writer_.db.get()) > 0;
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
    out.push_back({s.column_string(0), s.column_string(1), static_cast<std::uint64_t>(s.column_int64(2))});
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

}  // namespace

std::unique_ptr<EventStore> open_sqlite_store(const std::string& directory, Durability durability,
                                              std::string& error) {
  if (sqlite3_threadsafe() == 0) {
    error = "this SQLite library was built without thread support (SQLITE_THREADSAFE=0)";
    return nullptr;
  }
  auto store = std::make_unique<SqliteStore>();
  if (!store->open(directory, durability, error)) return nullptr;
  error.clear();
  return store;
}

}  // namespace sluice::store
