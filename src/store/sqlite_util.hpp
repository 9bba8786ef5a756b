// Thin RAII helpers over the SQLite C API for the store: an error category
// wrapping SQLite's result codes, an owned connection, and a prepared
// statement that is reset (and so releases its read snapshot) after each use.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace sluice::store::detail {

/// "sluice.sqlite": values are SQLite extended result codes, messages are
/// sqlite3_errstr(). The longer per-failure text (naming the constraint or
/// file) is kept by the store, see EventStore::last_error().
const std::error_category& sqlite_category() noexcept;

inline std::error_code sqlite_error(int code) noexcept { return {code, sqlite_category()}; }

/// Owns one sqlite3 connection. Not thread-safe: the owner serializes use.
class Connection {
 public:
  Connection() = default;
  explicit Connection(sqlite3* db) noexcept : db_(db) {}
  Connection(Connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Connection& operator=(Connection&& other) noexcept {
    if (this != &other) {
      close();
      db_ = std::exchange(other.db_, nullptr);
    }
    return *this;
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }

  sqlite3* get() const noexcept { return db_; }
  explicit operator bool() const noexcept { return db_ != nullptr; }

  /// Runs SQL without results (pragmas, schema). Returns SQLITE_OK or the
  /// error code; the message is then in sqlite3_errmsg(get()).
  int exec(const char* sql) noexcept { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

  void close() noexcept {
    // sqlite3_close_v2 defers the close until the last statement is finalized;
    // our statements are members declared after the connection, so they go first.
    if (db_ != nullptr) sqlite3_close_v2(std::exchange(db_, nullptr));
  }

 private:
  sqlite3* db_ = nullptr;
};

/// A prepared statement, kept for the life of its connection and reused.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  /// Prepares `sql` on `db` (SQLITE_PREPARE_PERSISTENT: it lives as long as the store).
  int prepare(sqlite3* db, std::string_view sql) noexcept {
    sqlite3_finalize(std::exchange(stmt_, nullptr));
    return sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                              &stmt_, nullptr);
  }

  sqlite3_stmt* get() const noexcept { return stmt_; }

  // Binding: 1-based parameter indexes as in SQLite. Text and blobs are bound
  // SQLITE_STATIC: the caller keeps them alive until the statement is reset.
  int bind(int index, std::string_view text) noexcept {
    // A null data() would bind SQL NULL; an empty string must stay ''.
    return sqlite3_bind_text(stmt_, index, text.data() != nullptr ? text.data() : "",
                             static_cast<int>(text.size()), SQLITE_STATIC);
  }
  int bind_blob(int index, std::string_view bytes) noexcept {
    return sqlite3_bind_blob(stmt_, index, bytes.data() != nullptr ? bytes.data() : "",
                             static_cast<int>(bytes.size()), SQLITE_STATIC);
  }
  int bind(int index, std::int64_t value) noexcept { return sqlite3_bind_int64(stmt_, index, value); }

  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() noexcept { return sqlite3_step(stmt_); }

  std::int64_t column_int64(int column) const noexcept { return sqlite3_column_int64(stmt_, column); }
  std::string column_string(int column) const {
    // _blob before _bytes, as SQLite asks; works for TEXT and BLOB columns alike.
    const void* bytes = sqlite3_column_blob(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    if (bytes == nullptr || size <= 0) return {};
    return std::string(static_cast<const char*>(bytes), static_cast<std::size_t>(size));
  }

  /// Resets and clears bindings. A SELECT left un-reset would hold its read
  /// snapshot open and keep WAL checkpoints from completing.
  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

/// Resets a statement when the scope ends, whatever path leaves it.
class ResetOnExit {
 public:
  explicit ResetOnExit(Statement& statement) noexcept : statement_(statement) {}
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ~ResetOnExit() { statement_.reset(); }

 private:
  Statement& statement_;
};

}  // namespace sluice::store::detail
