// The one publish door: every front door (HTTP POST /v1/events, /v1/ws
// "publish") validates an event, claims its idempotency key, hands it to the
// broker and settles the key here, under one set of limits and one rule.
// Front doors only parse their envelope and word the outcome.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "sluice/broker/broker.hpp"
#include "sluice/server/idempotency_index.hpp"

namespace sluice::server {

/// Why a publish was refused or not stored. Each front door maps it to its
/// own wording (an HTTP status and code, an in-band error code).
enum class PublishError {
  none,
  invalid,        ///< a field is missing, of the wrong type or too long (HTTP 400 bad_request)
  invalid_topic,  ///< the topic breaks the topic rules (HTTP 400 invalid_topic)
  key_conflict,   ///< the idempotencyKey was used for other content (HTTP 409)
  key_in_flight,  ///< the key was claimed by a publish that did not complete; retry (HTTP 409)
  store_busy,     ///< the store is behind or stopping; retry shortly (HTTP 503 + Retry-After)
  store_failed,   ///< the store failed to write (HTTP 503)
  /// The shared engine (Redis) cannot be reached: nothing was published (HTTP 503 engine_unavailable)
  engine_unavailable,
  /// The topic is new and the server has max-topics already (HTTP 507
  /// too_many_topics; /v1/ws error code too_many_topics)
  too_many_topics,
};

/// Limits every front door applies to an event.
struct PublishLimits {
  std::size_t max_type_bytes = 256;
  std::size_t max_key_bytes = 256;
  std::size_t max_idempotency_key_bytes = 256;
};

class PublishService {
 public:
  /// One event, validated, ready to publish.
  struct Input {
    /// Data as the client wrote it (whitespace removed); with an
    /// idempotencyKey, idempotency_print is the content's fingerprint.
    broker::PublishRequest request;
  };
  /// What became of a publish. `error == none`: `event` was published, or is
  /// the first publish's result when `replayed` (an idempotent repeat).
  struct Outcome {
    PublishError error = PublishError::none;
    std::string message;  ///< for an error: what went wrong, for the client
    PublishedEvent event;
    bool replayed = false;
  };
  /// Called exactly once per publish, on any thread (the store's writer, or
  /// the caller's), with no lock of ours held. It must only post or answer.
  using Done = std::function<void(Outcome)>;
  /// The broker's completions of a batch, in request order.
  struct BatchResult {
    /// Null if it was not published; with error broker::Error::idempotent_repeat
    /// the first publish under its key (a shared engine had it: not published again).
    broker::EventPtr event;
    std::error_code error;  ///< broker::Error::idempotency_conflict: the engine had its key for other content
  };
  using BatchDone = std::function<void(std::vector<BatchResult>)>;

  /// `broker` and `idempotency` must outlive the service.
  PublishService(broker::Broker& broker, IdempotencyIndex& idempotency, PublishLimits limits = {});
  PublishService(const PublishService&) = delete;
  PublishService& operator=(const PublishService&) = delete;

  /// Validates one event object: topic, data (any JSON), and optional type,
  /// key, idempotencyKey, with the limits above; `data` is kept as written in
  /// `raw` (the object's text), so 1e400 stays 1e400. Members in
  /// `envelope_fields` (e.g. "op", "id" in /v1/ws) are skipped; any other
  /// member is refused. `where` prefixes field names in messages ("events[3].").
  /// On error returns it (`invalid` or `invalid_topic`) with the message.
  /// Thread-safe (reads only the limits).
  Outcome parse(const boost::json::value& value, std::string_view raw, std::string_view where,
                std::initializer_list<std::string_view> envelope_fields, Input& out) const;

  /// Publishes one event: claims its idempotencyKey (a repeat is answered with
  /// the first publish's result, once that one settles), hands it to the
  /// broker, and once it is durable calls `done`, then settles the key (so a
  /// connection's ack is posted before the acks of its repeats). With a
  /// shared engine the key is checked again there, atomically with the
  /// append: a key first published on another node is a repeat (or a
  /// conflict) here too. Thread-safe.
  void publish(Input input, Done done);

  /// Hands `requests` to the broker in order, with no other publish of this
  /// service in between (a batch's events of one topic get consecutive
  /// offsets), and calls `done` once every one completed. After a failure the
  /// rest are not submitted (operation_canceled). Keys are the caller's
  /// business (claimed with idempotency()). Thread-safe.
  void publish_batch(std::vector<broker::PublishRequest> requests, BatchDone done);

  /// Settles a claimed idempotency key with the broker's completion of its
  /// publish (`event`, `error`): the event published, or the first publish's
  /// (a shared engine's idempotent_repeat), is remembered; otherwise the key
  /// is released and its waiters get `failure` (for a conflict the engine
  /// found: operation_canceled, so they retry). Thread-safe.
  void settle(const std::string& key, const broker::EventPtr& event, std::error_code error, std::error_code failure);

  /// The outcome for an error of the broker (too many topics) or of the store
  /// (busy: the log is full or stopping).
  static Outcome store_outcome(std::error_code error);
  /// The outcome for a request that repeated a key, from the index's answer.
  static Outcome repeat_outcome(const IdempotencyIndex::Answer& answer);

  IdempotencyIndex& idempotency() noexcept { return idempotency_; }
  const PublishLimits& limits() const noexcept { return limits_; }

 private:
  struct Single;
  void finish(Single* single);
  void hold_commits_for_this_turn();

  broker::Broker& broker_;
  IdempotencyIndex& idempotency_;
  PublishLimits limits_;
  // Held while handing events to the broker (publish_async only queues: no
  // I/O, no callback of ours runs under it). Single publishes share it, a
  // batch takes it alone.
  std::shared_mutex hand_off_;
};

}  // namespace sluice::server
