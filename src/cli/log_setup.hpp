// The process's logging (spdlog): text or JSON lines, the level, and
// changing the level while running (SIGHUP).
#pragma once

#include <string>

namespace sluice::cli {

/// Sets the default logger's format ("text" or "json") and level. Call once,
/// before threads log. Not thread-safe.
void setup_logging(const std::string& format, const std::string& level);
/// Changes the level (thread-safe: spdlog's level is atomic).
void apply_log_level(const std::string& level);

}  // namespace sluice::cli
