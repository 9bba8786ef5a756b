// Structured logging on spdlog: each line may carry context fields
// (connection id, remote address, token subject, subscription id, topic,
// and any extra key/value), written as `key=value` after the message in text
// format or as JSON fields in JSON format (one object per line), so one
// connection can be followed through the log. Repeated messages can be
// rate-limited. Nothing here ever sees a credential: callers pass none.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace sluice::log {

/// One extra field; `number` writes it unquoted in JSON.
struct Field {
  std::string_view key;
  std::string_view value;
  bool number = false;
};

/// What a line is about; empty fields are left out. Views: valid during the call.
struct Context {
  std::uint64_t connection = 0;   ///< 0: none
  std::string_view remote;        ///< the peer's IP address
  std::string_view sub;           ///< the token's subject (or API key name)
  std::string_view subscription;  ///< a server-side subscription id
  std::string_view topic;
  std::span<const Field> extra;
};

/// Formats lines as JSON (true) or text (false, the default). Set once at
/// start, before threads log. Not thread-safe.
void set_json(bool json);
/// A formatter writing one JSON object per line: time (UTC, ms), level,
/// message, then the line's context fields.
std::unique_ptr<spdlog::formatter> json_formatter();

/// Writes `message` with `context` to the default logger. Thread-safe.
void write(spdlog::level::level_enum level, const Context& context, std::string_view message);

/// Like write(), but at most a few lines per `key` every 10 s; the lines
/// beyond are counted and the next one written says how many were
/// suppressed. For messages a flood of bad clients can cause. Thread-safe.
void limited(spdlog::level::level_enum level, std::string_view key, const Context& context, std::string_view message);

/// Whether `level` would be written (skip building a message otherwise). Thread-safe.
inline bool enabled(spdlog::level::level_enum level) { return spdlog::default_logger_raw()->should_log(level); }

}  // namespace sluice::log
