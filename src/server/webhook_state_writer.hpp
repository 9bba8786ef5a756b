// Writes webhook delivery state (positions, dead letters) to the store off
// the event loops: one thread, changes applied in the order queued, whatever
// has queued up in one transaction (issue #14).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "sluice/store/event_store.hpp"

namespace sluice::server::detail {

/// Thread-safe: queue() from any thread. `store` must outlive the writer.
class WebhookStateWriter {
 public:
  explicit WebhookStateWriter(store::EventStore& store);
  ~WebhookStateWriter();  ///< stop()
  WebhookStateWriter(const WebhookStateWriter&) = delete;
  WebhookStateWriter& operator=(const WebhookStateWriter&) = delete;

  /// Queues one change. Positions of one subscription and topic queued while
  /// an earlier one still waits replace it (only the newest is written).
  void queue(store::WebhookStateChange change);
  /// Drops what is queued for `subscription` (it was deleted).
  void forget(const std::string& subscription);
  /// Writes what is queued, then stops the thread. Idempotent.
  void stop();

  std::uint64_t failures() const;  ///< transactions that failed (logged through the store's last_error)

 private:
  void run();

  store::EventStore& store_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<store::WebhookStateChange> queue_;
  bool stopping_ = false;
  std::uint64_t failures_ = 0;
  std::thread thread_;
};

}  // namespace sluice::server::detail
