// The wall clock as events carry it: milliseconds since the Unix epoch.
#pragma once

#include <chrono>
#include <cstdint>

namespace sluice {

/// Now, in milliseconds since the Unix epoch (system clock). Thread-safe.
inline std::int64_t unix_time_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Now, in whole seconds since the Unix epoch (JWT's exp and nbf). Thread-safe.
inline std::int64_t unix_time_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace sluice
