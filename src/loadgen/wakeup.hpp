// A wake-up call from one load thread to another's epoll loop: an eventfd
// the sleeping loop watches (ClientPool::watch_wakeup). Used where one loop
// waits for progress made on other loops (the fan-out publisher for the
// slowest subscriber thread), so it need not poll on a timer.
#pragma once

namespace sluice::bench {

class Wakeup {
 public:
  Wakeup();  ///< throws std::runtime_error when the eventfd cannot be made
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  /// Wakes the loop watching it. Thread-safe; async-signal-safe.
  void signal() noexcept;
  /// Clears the pending wake-ups. Only the watching loop's thread.
  void drain() noexcept;
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace sluice::bench
