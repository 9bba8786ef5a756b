// Subscriptions as server-side resources (SPEC §3): topic patterns plus an
// optional filter and webhook, created and deleted over the HTTP API, attached
// to by WebSocket streams, and kept by the engine's SubscriptionStore so they
// survive a restart.
#pragma once

#include <atomic>
#include <deque>
#include <set>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "sluice/store/event_store.hpp"
#include "sluice/topic/filter.hpp"
#include "sluice/topic/topic_trie.hpp"

namespace sluice::engine {
class SubscriptionStore;
}

namespace sluice::server {

/// Where a topic stood: its last offset, in its epoch.
struct TopicMark {
  std::uint64_t offset = 0;
  std::string epoch;
  bool operator==(const TopicMark&) const = default;
};

/// Live counters of one subscription. Updated without the registry's lock
/// (atomics), read for GET /v1/subscriptions/{id}.
struct SubscriptionCounters {
  std::atomic<std::uint64_t> events_matched{0};
  std::atomic<std::int64_t> last_event_ms{0};  ///< 0: no event matched yet
  std::atomic<std::int64_t> attached_streams{0};
};

/// One subscription. Everything but `counters` is immutable once created, so
/// a shared_ptr<const Subscription> may be read from any thread; it stays
/// valid after the subscription is removed from the registry.
struct Subscription {
  std::string id;                       ///< "sub_" + 24 hex digits (time-ordered)
  std::vector<std::string> patterns;    ///< valid, deduplicated, in the order given
  std::optional<topic::Filter> filter; ///< nullopt: every event on the patterns
  boost::json::value webhook;           ///< the webhook object as given, or null
  /// Shared engines: where each matching topic ended when the subscription
  /// was created; its webhook delivers what comes after (whichever node delivers it).
  std::map<std::string, TopicMark> webhook_start;
  std::int64_t created_ms = 0;          ///< milliseconds since the Unix epoch
  mutable SubscriptionCounters counters;

  /// True if the event is on one of the patterns and passes the filter.
  /// `data` is the event's parsed data. Thread-safe, no allocation beyond the
  /// pattern check.
  bool matches(std::string_view topic, std::string_view type, std::string_view key,
               const boost::json::value& data) const;

  /// Counts one matched event at `time_ms`. Thread-safe (atomics).
  void record_match(std::int64_t time_ms) const noexcept;

  /// The API representation, with the counters as they are now:
  /// {"id","topics","filter","webhook","createdAt","counters":{...},"links":{...}}.
  /// A webhook's "secret" is never included (it is write-only).
  std::string to_json() const;
  /// The stored form (EventStore::put_subscription): id, topics, filter,
  /// webhook (secret included), webhookStart (when set) and createdMs; no counters.
  std::string to_stored_json() const;
};

using SubscriptionPtr = std::shared_ptr<const Subscription>;

/// What POST /v1/subscriptions asks for (already validated by the caller).
struct SubscriptionSpec {
  std::vector<std::string> patterns;     ///< each valid (topic::pattern_error empty), non-empty list
  std::optional<topic::Filter> filter;
  boost::json::value webhook;            ///< an object, or null
  std::map<std::string, TopicMark> webhook_start;  ///< see Subscription
};

struct RegistryLimits {
  std::size_t max_subscriptions = 100'000;  ///< create() refuses beyond this
};

/// The set of subscriptions, indexed by id (ordered, for paging) and by
/// pattern (a TopicTrie, so matching an event does not scan every pattern).
///
/// Thread safety: every member function may be called from any thread
/// concurrently. The internal lock is held only for in-memory work: the
/// subscription store (put, remove, load) and the on_removed listener run
/// without it, and filters are evaluated outside it.
class SubscriptionRegistry {
 public:
  /// `store` may be null (memory mode: subscriptions end with the process);
  /// otherwise it must answer every put and remove before the registry goes
  /// (stop it first: its answers call into the registry).
  explicit SubscriptionRegistry(engine::SubscriptionStore* store, RegistryLimits limits = {});
  SubscriptionRegistry(const SubscriptionRegistry&) = delete;
  SubscriptionRegistry& operator=(const SubscriptionRegistry&) = delete;

  enum class CreateStatus { ok, too_many, store_failed };
  struct CreateResult {
    CreateStatus status = CreateStatus::ok;
    SubscriptionPtr subscription;  ///< set when ok
    std::string error;             ///< a message when not ok
  };
  /// Creates a subscription with a fresh id at `now_ms`. It is written to the
  /// store first and becomes visible (get, list, matching) only once stored;
  /// `done` then gets the outcome: at once without a store or when refused
  /// (too_many), else on the store's thread. No registry lock is held then.
  using Created = std::function<void(CreateResult)>;
  void create(SubscriptionSpec spec, std::int64_t now_ms, Created done);

  /// The subscription, or null if there is none with this id.
  SubscriptionPtr get(std::string_view id) const;

  struct Page {
    std::vector<SubscriptionPtr> items;
    std::optional<std::string> next_cursor;  ///< nullopt: this was the last page
  };
  /// Up to `limit` subscriptions with ids greater than `after` (empty: from
  /// the first), in id order. The cursor is the last id returned.
  Page list(std::size_t limit, std::string_view after) const;

  /// How a remove ended, once the store answered.
  enum class RemoveOutcome {
    removed,       ///< removed here and deleted from the store (or there is no store)
    absent,        ///< not here, or the store no longer had it (another node deleted it first)
    not_recorded,  ///< removed here, but the store's delete failed (see below)
  };
  using Removed = std::function<void(RemoveOutcome)>;
  /// Removes the subscription: from memory (so it matches nothing more), then
  /// calls the on_removed listener, then asks the store to delete it. Returns false (and
  /// does nothing) if there was no such subscription, so of two concurrent
  /// removes of one id exactly one returns true. If the store's delete fails,
  /// the subscription is still gone from memory (it may come back after a
  /// restart; a shared store is told again when the node reconnects);
  /// store_errors() counts those once the store answered. `done`, if given,
  /// gets the outcome exactly once: at once when absent or without a store,
  /// else on the store's thread, with no registry lock held.
  bool remove(const std::string& id, Removed done = {});

  /// Counts one event matched by the subscription; false if it is gone.
  bool record_match(std::string_view id, std::int64_t time_ms) const;

  /// A stream attaches: returns the subscription (attached_streams + 1) or
  /// null if it does not exist. Pair each non-null result with detach_stream.
  SubscriptionPtr attach_stream(std::string_view id) const;
  /// A stream detaches (attached_streams - 1). Safe after the subscription was removed.
  static void detach_stream(const Subscription& subscription) noexcept;

  /// The subscriptions that an event matches (pattern and filter), each once,
  /// in no particular order. `data` is the event's parsed data (parse it once per event).
  std::vector<SubscriptionPtr> matching(std::string_view topic, std::string_view type, std::string_view key,
                                        const boost::json::value& data) const;

  /// Called with the id of each removed subscription, after it is gone and
  /// with no registry lock held (the server closes attached streams with
  /// 4404). It may call any registry function. Replaces any previous listener.
  void set_on_removed(std::function<void(const std::string& id)> listener);

  struct LoadResult {
    std::size_t loaded = 0;
    std::vector<std::string> errors;  ///< one message per stored subscription skipped
  };

  // --- a store several nodes share (the Redis engine) ---

  /// A subscription another node created (its stored document): added here
  /// (no store write), then the on_added listener runs. Ignored if present,
  /// being created here, or removed before (ids are never reused). False with
  /// `error` for a document that cannot be read.
  bool apply_put(const store::StoredSubscription& stored, std::string& error);
  /// A subscription another node deleted: removed here (no store write), then
  /// the on_removed listener runs. No-op if absent.
  void apply_removed(const std::string& id);
  /// The store's whole set, read after a reconnect: what is missing here is
  /// added (apply_put).
  struct Reconciled {
    /// Ids of `known` (ids() when the read was asked for) that the store no
    /// longer holds and this node still has: deleted elsewhere, or lost by
    /// the store (the caller tells them apart).
    std::vector<std::string> absent;
    /// Ids the store still holds that were removed here (the store's delete
    /// failed): to delete again.
    std::vector<std::string> removed_here;
    std::vector<std::string> problems;  ///< one message per unreadable document
  };
  Reconciled reconcile(const std::vector<store::StoredSubscription>& all, const std::vector<std::string>& known);
  /// The ids present now.
  std::vector<std::string> ids() const;
  /// Called with each subscription apply_put added, with no registry lock held.
  void set_on_added(std::function<void(const SubscriptionPtr&)> listener);

  /// Loads the subscriptions kept in the store (at start-up, before serving).
  /// Unreadable entries are skipped and reported; ids already present are kept.
  /// Without a store, loads nothing.
  LoadResult load();

  std::size_t size() const;
  /// Store writes that failed on remove (the subscription may reappear on restart).
  std::uint64_t store_errors() const noexcept { return store_errors_->load(); }

 private:
  bool insert_locked(const SubscriptionPtr& subscription);

  engine::SubscriptionStore* store_;
  RegistryLimits limits_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, SubscriptionPtr, std::less<>> by_id_;
  topic::TopicTrie<SubscriptionPtr> by_pattern_;
  std::size_t reserved_ = 0;  // creates in flight (counted against max_subscriptions)
  std::function<void(const std::string&)> on_removed_;
  std::function<void(const SubscriptionPtr&)> on_added_;
  // Shared stores: ids being created here (another node's announcement of
  // them is ours), and ids removed (an announcement arriving late must not
  // bring one back), the newest kRemembered of them.
  std::set<std::string, std::less<>> creating_;
  std::set<std::string, std::less<>> removed_;
  std::deque<std::string> removed_order_;
  void remember_removed_locked(const std::string& id);
  // Shared with the store's answers to removes, which may come after the registry is gone.
  std::shared_ptr<std::atomic<std::uint64_t>> store_errors_ = std::make_shared<std::atomic<std::uint64_t>>(0);
};

/// Builds a Subscription from its stored JSON; nullptr and a message in
/// `error` if it cannot be read. Exposed for tests.
SubscriptionPtr subscription_from_stored_json(std::string_view json, std::string& error);

}  // namespace sluice::server
