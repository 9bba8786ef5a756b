// SqliteStore, the SQLite EventStore (sqlite_store.cpp describes its
// durability and locking): opened by sqlite_store_open.cpp, read and written
// by sqlite_store.cpp. Private to the store: users call open_sqlite_store().
#pragma once

#include <unistd.h>

#include <mutex>
#include <string>
#include <string_view>

#include "sluice/store/event_store.hpp"
#include "store/sqlite_util.hpp"

namespace sluice::store::detail {

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
  std::error_code delete_subscription(std::string_view id) override;
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

  // open()'s steps, in order; each returns false with `error` set.
  // Creates the data directory if needed and takes its LOCK; `created`: it was made.
  bool lock_directory(const std::string& directory, bool& created, std::string& error);
  // The writer connection: creates the file, sets WAL and the pragmas, checks and creates the schema.
  bool open_writer(Durability durability, std::string& error);
  bool set_writer_pragmas(Durability durability, std::string& error);
  // Refuses a file written by a newer build (a higher user_version).
  bool check_schema_version(std::string& error);
  // Creates what is missing (a version 1 file is migrated in place) and sets the version.
  bool create_schema(std::string& error);
  bool prepare_writer_statements(std::string& error);
  // The reader connection (WAL snapshot reads, never writes) and its statements.
  bool open_reader(std::string& error);
  // Sets `error` to "sqlite store '<path>': <what>: <sqlite message>"; returns false.
  bool open_failed(std::string& error, const char* what, sqlite3* db, int rc) const;

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

}  // namespace sluice::store::detail
