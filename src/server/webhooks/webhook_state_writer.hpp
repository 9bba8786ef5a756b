// Writes webhook delivery state (positions, dead letters) to the store off
// the event loops: one thread, changes applied in the order queued, whatever
// has queued up in one transaction (issue #14). A transaction the store
// refuses is tried again, with backoff, until it is written: a dead letter
// is never dropped because the disk was briefly full or locked.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sluice/store/event_store.hpp"

namespace sluice::server::detail {

/// Thread-safe: queue() from any thread. `store` must outlive the writer.
class WebhookStateWriter {
 public:
  struct Retry {
    std::chrono::milliseconds first{50};  ///< wait after the first failure, doubled per failure
    std::chrono::milliseconds max{5000};  ///< the longest wait between two tries
    int on_stop = 3;                      ///< tries left once stop() is called, then given up (logged)
  };

  explicit WebhookStateWriter(store::WebhookStateTable& store) : WebhookStateWriter(store, Retry{}) {}
  WebhookStateWriter(store::WebhookStateTable& store, Retry retry);
  ~WebhookStateWriter();  ///< stop()
  WebhookStateWriter(const WebhookStateWriter&) = delete;
  WebhookStateWriter& operator=(const WebhookStateWriter&) = delete;

  /// Queues one change. Positions of one subscription and topic queued while
  /// an earlier one still waits replace it (only the newest is written); a
  /// dead letter's deletion replaces its queued (unwritten) puts.
  void queue(store::WebhookStateChange change);
  /// Drops what is queued or waiting for a retry for `subscription` (it was deleted).
  void forget(const std::string& subscription);
  /// Writes what is queued (a failing store gets Retry::on_stop more tries),
  /// then stops the thread. Idempotent.
  void stop();

  std::uint64_t failures() const;  ///< transactions that failed (each logged, rate-limited)
  std::size_t pending() const;     ///< changes not written yet (queued or waiting for a retry)

 private:
  void run();

  store::WebhookStateTable& store_;
  const Retry retry_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<store::WebhookStateChange> queue_;
  std::vector<store::WebhookStateChange> failed_;  // the last batch the store refused, tried again first
  bool stopping_ = false;
  std::uint64_t failures_ = 0;
  std::size_t writing_ = 0;              // changes in the transaction under way
  std::vector<std::string> forgotten_;  // subscriptions deleted while it was under way
  std::thread thread_;
};

}  // namespace sluice::server::detail
