// Opening the SQLite store: the data directory and its LOCK, the writer
// connection (WAL, pragmas, schema), the fsync of new directory entries, and the
// prepared statements of both connections.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "store/sqlite_schema.hpp"
#include "store/sqlite_store.hpp"

namespace sluice::store::detail {
namespace {

constexpr int kBusyTimeoutMs = 5000;

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

// A statement of one connection and its SQL, prepared by a table-driven loop.
struct Prepared {
  Statement& statement;
  std::string sql;
};

// Syncs the directory entries an fsync store needs to survive a power loss.
bool sync_data_directory(const std::string& directory, bool created, std::string& error) {
  namespace fs = std::filesystem;
  const fs::path dir(directory);
  std::error_code ec;
  // SQLite syncs the directory for the WAL it creates, not for the database
  // file itself (nor for a data directory we just made).
  fs::path absolute = fs::absolute(dir, ec);
  if (!absolute.has_filename()) absolute = absolute.parent_path();  // "a/b/" → "a/b"
  if (!sync_directory(dir) || (created && !sync_directory(absolute.parent_path()))) {
    error = "cannot fsync data directory '" + directory + "': " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

bool SqliteStore::open(const std::string& directory, Durability durability, std::string& error) {
  bool created = false;
  if (!lock_directory(directory, created, error)) return false;
  path_ = (std::filesystem::path(directory) / "sluice.db").string();
  if (!open_writer(durability, error)) return false;
  if (durability == Durability::fsync && !sync_data_directory(directory, created, error)) return false;
  return prepare_writer_statements(error) && open_reader(error);
}

bool SqliteStore::open_failed(std::string& error, const char* what, sqlite3* db, int rc) const {
  error = "sqlite store '" + path_ + "': " + what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  return false;
}

bool SqliteStore::lock_directory(const std::string& directory, bool& created, std::string& error) {
  namespace fs = std::filesystem;
  const fs::path dir(directory);
  std::error_code ec;
  created = fs::create_directories(dir, ec);
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
  return true;
}

bool SqliteStore::open_writer(Durability durability, std::string& error) {
  const int rc = open_connection(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, writer_.db);
  if (rc != SQLITE_OK) return open_failed(error, "cannot open", writer_.db.get(), rc);
  return set_writer_pragmas(durability, error) && check_schema_version(error) && create_schema(error);
}

bool SqliteStore::set_writer_pragmas(Durability durability, std::string& error) {
  sqlite3* db = writer_.db.get();
  int rc = SQLITE_OK;
  {
    // journal_mode returns the mode in effect; anything but "wal" is a failure.
    Statement wal;
    rc = wal.prepare(db, "PRAGMA journal_mode=WAL");
    if (rc == SQLITE_OK) rc = wal.step();
    if (rc != SQLITE_ROW) return open_failed(error, "cannot enable WAL", db, rc);
    if (wal.column_string(0) != "wal") {
      error = "sqlite store '" + path_ + "': journal_mode is '" + wal.column_string(0) + "', WAL refused";
      return false;
    }
  }
  const char* synchronous = durability == Durability::fsync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if ((rc = writer_.db.exec(synchronous)) != SQLITE_OK) return open_failed(error, "cannot set synchronous", db, rc);
  // Bounded WAL: checkpoints every ~4 MiB (SQLite's default), and the file is
  // truncated back to 64 MiB after one if a long reader let it grow.
  if ((rc = writer_.db.exec("PRAGMA journal_size_limit=67108864; PRAGMA cache_size=-16384")) != SQLITE_OK) {
    return open_failed(error, "cannot set pragmas", db, rc);
  }
  return true;
}

bool SqliteStore::check_schema_version(std::string& error) {
  sqlite3* db = writer_.db.get();
  Statement version;
  int rc = version.prepare(db, "PRAGMA user_version");
  if (rc == SQLITE_OK) rc = version.step();
  if (rc != SQLITE_ROW) return open_failed(error, "cannot read the schema version", db, rc);
  const auto found = version.column_int64(0);
  if (found > kSchemaVersion) {
    error = "sqlite store '" + path_ + "' has schema version " + std::to_string(found) +
            ", newer than this build's " + std::to_string(kSchemaVersion);
    return false;
  }
  return true;
}

bool SqliteStore::create_schema(std::string& error) {
  sqlite3* db = writer_.db.get();
  int rc = SQLITE_OK;
  if ((rc = writer_.db.exec("BEGIN IMMEDIATE")) != SQLITE_OK) {
    return open_failed(error, "cannot create the schema", db, rc);
  }
  if ((rc = writer_.db.exec(kSchema)) != SQLITE_OK ||
      (rc = writer_.db.exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str())) != SQLITE_OK ||
      (rc = writer_.db.exec("COMMIT")) != SQLITE_OK) {
    open_failed(error, "cannot create the schema", db, rc);
    writer_.db.exec("ROLLBACK");
    return false;
  }
  return true;
}

bool SqliteStore::prepare_writer_statements(std::string& error) {
  sqlite3* db = writer_.db.get();
  int rc = SQLITE_OK;
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
    if ((rc = p.statement.prepare(db, p.sql)) != SQLITE_OK) {
      return open_failed(error, "cannot prepare a statement", db, rc);
    }
  }
  return true;
}

bool SqliteStore::open_reader(std::string& error) {
  int rc = open_connection(path_, SQLITE_OPEN_READWRITE, reader_.db);
  sqlite3* db = reader_.db.get();
  if (rc != SQLITE_OK) return open_failed(error, "cannot open the read connection", db, rc);
  if ((rc = reader_.db.exec("PRAGMA query_only=1; PRAGMA cache_size=-16384")) != SQLITE_OK) {
    return open_failed(error, "cannot set pragmas", db, rc);
  }
  const std::string events = kEventColumns;
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
    if ((rc = p.statement.prepare(db, p.sql)) != SQLITE_OK) {
      return open_failed(error, "cannot prepare a statement", db, rc);
    }
  }
  return true;
}

}  // namespace sluice::store::detail
