// Where server-side subscriptions are kept (part of the engine seam, issue #12):
// their documents (JSON, webhook secret included) by id. The embedded engine
// keeps them in the SQLite store (StoreSubscriptions); in memory mode there is
// none and subscriptions end with the process.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "sluice/store/event_store.hpp"

namespace sluice::engine {

/// What SubscriptionStore::remove answers when there was nothing to delete.
inline constexpr const char* kSubscriptionNotStored = "the subscription was not in the store";

/// Thread safety: every function may be called from any thread. The calls
/// never block on storage I/O: put and remove answer through `done`, once, on
/// the store's own thread (or on the caller's when refused at once: busy or
/// stopped), never under a lock of the store's.
class SubscriptionStore {
 public:
  virtual ~SubscriptionStore() = default;

  /// The outcome: "" when stored, else why not (for the log and the client).
  using Done = std::function<void(std::string error)>;

  /// Stores a new subscription's document. Once `done` got "", the
  /// subscription survives a restart.
  virtual void put(std::string id, std::string document, Done done) = 0;
  /// Deletes a subscription's document and its webhook state. `done` gets
  /// kSubscriptionNotStored when the store had no such subscription (another
  /// node deleted it first).
  virtual void remove(std::string id, Done done) = 0;
  /// Every stored subscription. Blocking: at start-up, before the loops run.
  virtual std::vector<store::StoredSubscription> load() = 0;
  /// Every stored subscription, read on the store's thread (a node that
  /// shares them reads them again after a reconnect); `done` gets them, or
  /// an error, on that thread (or at once when refused).
  using Loaded = std::function<void(std::vector<store::StoredSubscription>, std::string error)>;
  virtual void reload(Loaded done) { done({}, "this store cannot reload"); }
  /// Answers every put and remove it was given, then refuses the next ones.
  /// Blocks until done; idempotent; not from a `done`.
  virtual void stop() {}
};

}  // namespace sluice::engine
