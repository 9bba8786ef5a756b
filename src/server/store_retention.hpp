// Retention of the durable store (SPEC §3, "Per-topic history bounded by
// count, bytes and age"): the store keeps what each topic's history keeps.
//
// The broker applies the history bounds in memory (on each publish, and by
// age on each sweep); this thread then deletes from the store every event
// older than the first one its topic's history still holds, in batches of
// bounded size, off the event loops and off the group-commit writer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace sluice::broker {
class Broker;
}
namespace sluice::store {
class EventStore;
}

namespace sluice::server {

class StoreRetention {
 public:
  using Clock = std::function<std::int64_t()>;  ///< milliseconds since the Unix epoch

  /// Starts the retention thread: a sweep every `interval`. `broker` and
  /// `store` must outlive it.
  StoreRetention(broker::Broker& broker, store::EventStore& store, std::chrono::milliseconds interval,
                 Clock clock = {});
  ~StoreRetention();  ///< stop()
  StoreRetention(const StoreRetention&) = delete;
  StoreRetention& operator=(const StoreRetention&) = delete;

  /// Runs one sweep now, on the calling thread (for tests; the thread's
  /// sweeps and this one are serialized). Returns the topics trimmed.
  std::size_t sweep_now();

  /// Stops the thread after the sweep in progress. Idempotent.
  void stop();

  /// Sweeps done and failed so far (thread-safe; for tests and metrics).
  std::uint64_t sweeps() const;
  std::uint64_t failures() const;

 private:
  void run();

  broker::Broker& broker_;
  store::EventStore& store_;
  const std::chrono::milliseconds interval_;
  Clock clock_;

  std::mutex sweep_mutex_;  // one sweep at a time
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t sweeps_ = 0;
  std::uint64_t failures_ = 0;
  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace sluice::server
