// Idempotent publish (SPEC §3, "Publish is idempotent with an optional
// idempotencyKey"): one index of keys shared by every way in (HTTP and the
// in-band /v1/ws publish), so a key used on one is honoured on the other.
//
// Memory first, then the store: each key published within the window is
// remembered in memory (bounded by count); a key not in memory is looked up
// in the durable store, which keeps every event's key (so a repeat after a
// restart still finds the original event while the store retains it). The
// store is asked only while it may know keys memory does not: keys stored
// before this start, or forgotten early (count bound), still in the window.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "sluice/broker/event.hpp"

namespace sluice::store {
class EventStore;
}

namespace sluice::server {

/// Bounds of the index, with their defaults.
struct IdempotencyLimits {
  /// A repeated key within this window returns the first result.
  std::chrono::milliseconds window = std::chrono::hours(24);
  /// Keys remembered in memory; beyond it the oldest are forgotten early
  /// (the store, when there is one, still finds them).
  std::size_t max_keys = 100'000;
};

/// What the first publish under a key produced: the event's identity.
struct PublishedEvent {
  std::string id;
  std::string topic;
  std::uint64_t offset = 0;
  std::string epoch;

  /// The result of publishing `e` (copies: an index entry outlives the event).
  static PublishedEvent of(const broker::Event& e) {
    return {std::string(e.id), e.topic, e.offset, std::string(e.epoch)};
  }
};

/// Maps idempotency keys to the event first published under them.
///
/// Protocol for a publisher: claim(); on `owned` it publishes (with the key
/// in the PublishRequest, so the store keeps it) and then calls exactly one
/// of complete() or abandon(). Everyone else gets the first publish's answer.
///
/// Thread safety: every function may be called from any thread. The mutex is
/// held only for in-memory work: never across store I/O, never while calling
/// a Waiter (waiters run on the thread that completes or abandons the key).
class IdempotencyIndex {
 public:
  using Clock = std::function<std::int64_t()>;  ///< milliseconds since the Unix epoch

  /// The answer for a request that repeated a key.
  struct Answer {
    enum class Kind {
      duplicate,  ///< same content: `event` is the first publish's result
      conflict,   ///< the key was used for other content (topic, type, key or data)
      failed,     ///< the first publish failed with `error`: not published; retry
    };
    Kind kind = Kind::duplicate;
    PublishedEvent event;
    std::error_code error;
  };
  /// Called once with the answer for a request that waited on a key in flight.
  using Waiter = std::function<void(const Answer&)>;

  enum class Claim {
    owned,      ///< the caller publishes, then complete()s or abandon()s the key
    answered,   ///< `answer` holds the answer now
    waiting,    ///< in flight elsewhere: `waiter` will get the answer
    in_flight,  ///< in flight elsewhere and no waiter was given
  };

  /// `store` (may be null: memory mode) must outlive the index. Reads the
  /// store once (EventStore::newest_idempotent_time).
  explicit IdempotencyIndex(store::EventStore* store, IdempotencyLimits limits = {}, Clock clock = {});
  IdempotencyIndex(const IdempotencyIndex&) = delete;
  IdempotencyIndex& operator=(const IdempotencyIndex&) = delete;

  /// Identifies what a publish asked for; `canonical_data` is the data as
  /// boost::json serializes it, so spelling differences do not count. The
  /// same in every process and build (the first 64 bits of a SHA-256): nodes
  /// sharing keys through Redis compare each other's.
  static std::uint64_t fingerprint(std::string_view topic, std::string_view type, std::string_view key,
                                   std::string_view canonical_data);

  /// Claims `key` for a publish with `print`, or answers it. With no waiter
  /// (null or empty), a key in flight elsewhere is `in_flight`. May read the
  /// store (not under any lock of ours). If the store read throws, the claim
  /// is released (waiters get io_error) and the exception propagates.
  Claim claim(const std::string& key, std::uint64_t print, Answer& answer, Waiter waiter = {});

  /// The key's publish succeeded: remembered, and its waiters answered.
  void complete(const std::string& key, const PublishedEvent& event);
  /// The key's publish found the key already published elsewhere (another
  /// node, through the engine), with the same content, as `event` at
  /// `published_ms`: remembered as that, for the rest of its window.
  void complete(const std::string& key, const PublishedEvent& event, std::int64_t published_ms);
  /// The key's publish did not happen: forgotten, and its waiters get `error`.
  void abandon(const std::string& key, std::error_code error);

  /// Keys remembered in memory (done or in flight). For tests and metrics.
  std::size_t size() const;
  /// Store lookups done so far (keys not in memory). For tests and metrics.
  std::uint64_t store_lookups() const;

 private:
  struct Entry {
    std::uint64_t print = 0;
    bool done = false;
    PublishedEvent event;
    std::int64_t time_ms = 0;  // when it was published (done)
    std::vector<std::pair<std::uint64_t, Waiter>> waiters;
  };
  std::int64_t now_ms() const { return clock_(); }
  void prune_locked(std::int64_t now_ms);
  Answer answer_for(const Entry& entry, std::uint64_t print) const;
  void finish(const std::string& key, std::uint64_t print, const PublishedEvent& event, std::int64_t time_ms);

  store::EventStore* store_;
  IdempotencyLimits limits_;
  Clock clock_;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::pair<std::int64_t, std::string>> order_;  // completion order, for pruning
  // The store may know keys memory does not while `now - window` is at or
  // before this: the newest key stored before this start, or forgotten early.
  std::int64_t store_horizon_ms_ = INT64_MIN;
  std::uint64_t store_lookups_ = 0;
};

}  // namespace sluice::server
