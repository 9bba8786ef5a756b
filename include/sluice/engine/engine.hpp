// The engine seam (issue #12): what the broker needs from storage and from
// other nodes, as one interface. The embedded engine (one node: the SQLite
// group-commit log, or nothing in memory mode) is one implementation; the
// Redis engine (several nodes sharing one Redis) is another.
//
// Who numbers events differs, and the interface says so: an embedded engine
// stores what the broker numbered under the topic's lock; a shared engine
// numbers events itself (offsets shared by every node) and delivers every
// committed event, this node's and others', through the CommittedSink.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "sluice/broker/event.hpp"
#include "sluice/store/event_store.hpp"

namespace sluice::engine {

/// An event a shared engine is to number and commit. Owned strings: the
/// engine keeps them until the commit is answered.
struct Unnumbered {
  std::string id;  ///< given by the broker (unique per process)
  std::string topic;
  std::string type;
  std::string key;
  std::string data;  ///< serialized JSON
  std::int64_t time_ms = 0;
  std::string idempotency_key;  ///< "" when none
  std::uint64_t idempotency_print = 0;  ///< the content's fingerprint, with idempotency_key
};

/// Where a topic stands in this node's view of history.
struct TopicView {
  std::uint64_t committed = 0;  ///< last offset that entered history here (0: none)
  std::string epoch;            ///< "" when the topic is unknown here
};

/// The broker's side of a shared engine: events committed anywhere come in
/// here, in any order and possibly twice, and enter history and local
/// fan-out in offset order per topic. Thread-safe.
class CommittedSink {
 public:
  enum class Accepted {
    committed,  ///< entered history (and maybe released events that waited behind it)
    duplicate,  ///< already in history (or older than it): dropped
    waiting,    ///< an earlier offset is missing: held until it comes (the engine should fetch it)
  };
  /// One committed event. An event of another epoch than the topic's restarts
  /// the topic's history in that epoch (the engine lost it).
  virtual Accepted committed(broker::EventPtr event) = 0;
  /// The topic's position here.
  virtual TopicView view(const std::string& topic) const = 0;
  /// History of `topic` (in `epoch`) no longer holds the events up to
  /// `up_to` that this node missed: moves past them, releasing what waited.
  virtual void skip(const std::string& topic, const std::string& epoch, std::uint64_t up_to) = 0;

 protected:
  ~CommittedSink() = default;
};

/// Thread safety: every function may be called from any thread.
class Engine {
 public:
  virtual ~Engine() = default;

  /// True if the engine numbers events itself (append_unnumbered); false if
  /// the broker numbers them and the engine stores them (append).
  virtual bool numbers_events() const noexcept = 0;

  /// Embedded engines: stores `record` (numbered by the broker, submitted in
  /// offset order per topic); `done` runs once it is durable or failed, in
  /// submission order. Returns false (and never calls `done`) when refused
  /// at once (busy or stopped).
  using Stored = std::function<void(std::error_code)>;
  virtual bool append(store::EventRecord record, Stored done) {
    (void)record;
    (void)done;
    return false;
  }

  /// Shared engines: numbers `event` (offset, epoch) and commits it; `done`
  /// gets the event as committed, or null and the error
  /// (broker::Error::engine_unavailable, std::errc::resource_unavailable_try_again
  /// when too much is waiting). With an idempotency key the engine already
  /// holds (within its window), nothing is committed: `done` gets
  /// broker::Error::idempotent_repeat with the first publish's event (id,
  /// topic, offset, epoch, time) when the prints match, else null and
  /// broker::Error::idempotency_conflict. Runs on the engine's thread, or on
  /// the caller's when refused at once. The committed event also reaches the sink.
  using Numbered = std::function<void(broker::EventPtr, std::error_code)>;
  virtual void append_unnumbered(Unnumbered event, Numbered done) {
    (void)event;
    done(nullptr, std::make_error_code(std::errc::operation_not_supported));
  }

  /// Whether a publish can be committed now (for /ready).
  virtual bool available() const noexcept { return true; }

  /// Write wake-up batching for a loop that submits many appends in a turn
  /// (see store::GroupCommitLog::hold_wakeups). No-ops by default, and
  /// batches_wakeups() says whether holding does anything.
  virtual bool batches_wakeups() const noexcept { return false; }
  virtual void hold_wakeups() {}
  virtual void release_wakeups() {}

  /// Commits what was submitted, then stops. Idempotent.
  virtual void stop() {}
};

}  // namespace sluice::engine
