// A SubscriptionStore over a SubscriptionTable: documents in the event store
// (SQLite), or in Redis when nodes share them, written by one thread of its
// own so no event loop waits for a transaction or a round trip. What is queued is bounded; past the bound a call is refused at
// once ("busy"), never dropped silently.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "sluice/engine/subscription_store.hpp"

namespace sluice::engine {

class StoreSubscriptions final : public SubscriptionStore {
 public:
  /// `store` must outlive this object. Starts the writer thread.
  explicit StoreSubscriptions(store::SubscriptionTable& store, std::size_t max_queued = 1024);
  ~StoreSubscriptions() override;  ///< stop()
  StoreSubscriptions(const StoreSubscriptions&) = delete;
  StoreSubscriptions& operator=(const StoreSubscriptions&) = delete;

  void put(std::string id, std::string document, Done done) override;
  void remove(std::string id, Done done) override;
  std::vector<store::StoredSubscription> load() override;
  void reload(Loaded done) override;

  /// Writes what was queued (each `done` runs), then joins the thread; later
  /// calls are refused with "stopped". Idempotent; not from a `done`.
  void stop() override;

 private:
  struct Change {
    enum class Kind { put, remove, reload } kind = Kind::put;
    std::string id;
    std::string document;
    Done done;
    Loaded loaded;  // reload
  };
  void enqueue(Change change);
  void run();
  bool apply(Change& change);  // false: the store failed

  store::SubscriptionTable& store_;
  const std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Change> queue_;  // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  bool gave_up_ = false;      // the writer's: a write failed while stopping
  std::thread writer_;
};

}  // namespace sluice::engine
