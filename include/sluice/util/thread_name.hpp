// Names threads so `top -H`, `ps -L`, perf and gdb tell a loop from the
// store's writer (docs/operations.md lists the names).
#pragma once

#include <pthread.h>

#include <string_view>
#include <thread>

namespace sluice::util {

/// Names `thread` (Linux keeps 15 bytes; the rest is cut). Call it from the
/// thread that started it, right after: the name is there before anything
/// that thread started can be seen. Thread-safe.
inline void name_thread(std::thread& thread, std::string_view name) {
  char buffer[16] = {};
  name.copy(buffer, sizeof buffer - 1);
  pthread_setname_np(thread.native_handle(), buffer);
}

}  // namespace sluice::util
