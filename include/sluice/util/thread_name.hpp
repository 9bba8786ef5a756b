// Names threads so `top -H`, `ps -L`, perf and gdb tell a loop from the
// store's writer (docs/operations.md lists the names).
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace sluice::util {

/// Names the calling thread; Linux keeps 15 bytes and the rest is cut.
/// Call it first thing on the thread. Thread-safe.
inline void name_this_thread(std::string_view name) {
  char buffer[16] = {};
  name.copy(buffer, sizeof buffer - 1);
  pthread_setname_np(pthread_self(), buffer);
}

}  // namespace sluice::util
