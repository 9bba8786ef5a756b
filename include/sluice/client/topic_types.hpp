// The values the topic layer (TopicClient) hands to the application: events,
// resume points, subscription outcomes and publish results. Plain values,
// safe to copy between threads.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace sluice::client {

/// A place in one topic's history: the last event seen there.
struct Position {
  std::uint64_t offset = 0;
  std::string epoch;
  friend bool operator==(const Position&, const Position&) = default;
};

/// Per topic, the last event delivered: what "exactly once" is checked against.
using Positions = std::unordered_map<std::string, Position>;

/// Records the event at `offset` in `epoch` on `topic` as delivered and
/// returns true; returns false, changing nothing, for a repeat (the same
/// epoch and an offset not past the last one). Another epoch means the
/// topic's history was reset: its events count as new. Not thread-safe.
bool record_delivery(Positions& positions, const std::string& topic, std::uint64_t offset, const std::string& epoch);

/// What history cannot give back (trimmed, or the topic's history was reset).
enum class Fallback : std::uint8_t {
  oldest,  ///< start from the oldest event still in history
  latest,  ///< skip what is gone: only events from now on
};

/// Where a new subscription starts; without one it starts with live events.
struct Since {
  /// Per topic: resume after this event (for an exact topic, its one entry).
  std::map<std::string, Position> topics;
  /// Topics matching the pattern without a position: events at or after this
  /// time (milliseconds since the Unix epoch, server clock). Unset: none.
  std::optional<std::int64_t> time_ms;
};

/// One event, as delivered to a subscription's handler.
struct TopicEvent {
  std::string id;
  std::string topic;
  std::uint64_t offset = 0;
  std::string epoch;
  std::string type;  ///< "" when the publisher gave none
  std::string key;   ///< "" when the publisher gave none
  std::string time;  ///< RFC 3339, the server's clock
  boost::json::value data;
  std::string json;  ///< the whole event object as JSON text (as printed by `sluice sub`)
};

/// What happened to a subscription (its status handler; all optional reading).
struct SubscriptionStatus {
  enum class Kind : std::uint8_t {
    subscribed,    ///< the server acknowledged the first subscribe
    resubscribed,  ///< acknowledged again after a reconnect (resuming from the last event delivered)
    failed,        ///< the server refused it (see code/message); it is not retried
    ended,         ///< the server ended it (e.g. the topic was dropped); it is not retried
    gap,           ///< the server skipped `dropped` events of this connection (its drop policy)
  };
  Kind kind = Kind::subscribed;
  /// subscribed/resubscribed with a resume point: false when history no longer
  /// covered it, so delivery went on from the fallback (events were missed).
  bool recovered = true;
  std::uint64_t replayed = 0;  ///< events the server replayed from history for this subscribe
  std::uint64_t dropped = 0;   ///< gap: how many
  std::string code;            ///< failed: the server's error code ("invalid_topic", ...)
  std::string message;         ///< in plain words
};

using SubscriptionId = std::uint64_t;
using EventHandler = std::function<void(const TopicEvent&)>;
using StatusHandler = std::function<void(const SubscriptionStatus&)>;

struct SubscribeOptions {
  /// Start from history instead of live (see Since).
  std::optional<Since> since;
  /// When history no longer covers a resume point (this one, or after a reconnect).
  Fallback fallback = Fallback::oldest;
  /// Called for every change in the subscription's status; may be empty.
  StatusHandler on_status;
};

struct PublishOptions {
  std::string type;             ///< the event's type; "" for none
  std::string key;              ///< the event's key; "" for none
  /// The server publishes an event once per key (within its window), so a
  /// publish resent after a reconnect is not published twice. "": one is
  /// made up (unique per client and publish).
  std::string idempotency_key;
};

/// The outcome of a publish.
struct PublishResult {
  bool ok = false;
  /// "" when ok; otherwise "closed" (the client closed before an
  /// acknowledgement), "queue_full" / "too_large" / "invalid_topic" (refused
  /// at once), or the server's error code ("server_busy", "store_failed", ...).
  std::string code;
  std::string message;
  std::string event_id;
  std::string topic;
  std::uint64_t offset = 0;
  std::string epoch;
  bool duplicate = false;  ///< the server had this idempotency key already: the first result
};

using PublishHandler = std::function<void(const PublishResult&)>;

}  // namespace sluice::client
