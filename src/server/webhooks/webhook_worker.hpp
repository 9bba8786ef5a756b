// One subscription's webhook delivery (see webhook_service.hpp).
// The machinery (current delivery, timer, request) is touched only on the
// worker's loop; what the API shows (the View) is guarded by a mutex the loop
// takes for in-memory updates only, never across I/O or a callback.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>

#include "sluice/broker/broker.hpp"
#include "sluice/topic/topic_trie.hpp"
#include "sluice/server/subscription_registry.hpp"
#include "server/webhooks/webhook_config.hpp"
#include "server/webhooks/webhook_service.hpp"
#include "sluice/webhook/http_client.hpp"
#include "sluice/webhook/signature.hpp"

namespace sluice::server::detail {

class WebhookStateWriter;

/// What each loop keeps for the workers living on it. Loop thread only.
struct WebhookLoop {
  net::EventLoop* loop = nullptr;
  std::unique_ptr<webhook::HttpClient> client;
  topic::TopicTrie<std::shared_ptr<WebhookWorker>> by_pattern;  // which workers an event concerns
  std::mt19937_64 rng{std::random_device{}()};
};

/// A delivery that was given up: an event (or, for `expired`, a range of
/// offsets whose events left history before they were delivered).
struct DeadLetter {
  std::string id;  ///< "dl_" + 16 hex digits, in creation order
  std::string event_id;  ///< "" for expired
  std::string topic;
  std::uint64_t offset = 0;
  std::uint64_t to_offset = 0;  ///< expired: the last offset of the range
  std::string reason;  ///< rejected, forbidden_address, max_attempts, max_age, expired
  std::uint32_t attempts = 0;
  unsigned last_status = 0;
  std::string last_error;
  std::int64_t first_attempt_ms = 0;
  std::int64_t dead_ms = 0;
  bool redelivering = false;  ///< queued or in flight again (not stored)

  boost::json::object to_json() const;
  std::string to_stored_json() const;
  static std::optional<DeadLetter> from_stored_json(std::string_view text);
};

/// One finished attempt, kept in a short ring for GET .../deliveries.
struct AttemptRecord {
  std::string id;  ///< "att_" + 16 hex digits
  std::string event_id;
  std::string topic;
  std::uint64_t offset = 0;
  std::uint32_t attempt = 0;
  std::int64_t at_ms = 0;
  std::int64_t duration_ms = 0;
  std::string outcome;  ///< delivered, retry, dead_letter
  unsigned status = 0;
  std::string error;
  bool redelivery = false;

  boost::json::object to_json() const;
};

class WebhookWorker : public std::enable_shared_from_this<WebhookWorker> {
 public:
  struct Deps {
    WebhookLoop& loop;
    broker::Broker& broker;
    WebhookStateWriter* writer;  // null: memory mode
    const WebhookAttemptObserver& observer;
    std::size_t max_dead_letters;
  };
  WebhookWorker(Deps deps, SubscriptionPtr subscription, WebhookConfig config, webhook::WebhookSigner signer);

  const std::string& id() const noexcept { return subscription_->id; }
  const SubscriptionPtr& subscription() const noexcept { return subscription_; }

  /// Before the worker runs (any thread, nobody else has it yet): stored state.
  /// `epochs`: the epoch each position counts in, where the store keeps it
  /// (Redis): a topic that has left it since starts over (restart_topic).
  void restore(std::map<std::string, std::uint64_t> positions, std::vector<DeadLetter> dead_letters,
               std::map<std::string, std::string> epochs = {});
  /// A new subscription (or one stored before webhook delivery existed):
  /// positions at the current end of every matching topic (it delivers what
  /// is published from now on), or at `start` when given (shared engines:
  /// where they ended at its creation), queued to the store with a "" marker.
  void seed_positions(const std::map<std::string, TopicMark>* start = nullptr);

  // --- loop thread only ---
  /// Joins the loop's trie, learns where each matching topic ends, starts delivering.
  void start_on_loop();
  /// An event published on a topic one of the patterns matches.
  void notify(const broker::Event& event);
  /// Leaves the trie, cancels the timer and the in-flight request. Final.
  void stop_on_loop();
  /// Queues dead letters for redelivery (ids known to be in the view).
  void redeliver(std::vector<std::string> ids);

  // --- any thread ---
  boost::json::object state_json() const;
  void deliveries(std::string_view kind, std::size_t limit, std::string_view cursor, WebhookService::Page& page) const;
  /// Marks `id` (or every dead letter when empty) as redelivering; the ids to
  /// pass to redeliver() on the loop.
  WebhookService::RetryResult claim_for_retry(std::string_view id, std::vector<std::string>& claimed);

 private:
  struct Current {
    broker::EventPtr event;
    std::string dead_letter_id;  // set for a redelivery
    std::uint32_t attempts = 0;
    std::int64_t first_attempt_ms = 0;
    std::chrono::steady_clock::time_point first_attempt;
    std::chrono::steady_clock::time_point attempt_started;
  };

  void schedule_pump();
  void pump();
  broker::EventPtr next_event();
  void advance(const std::string& topic, std::uint64_t offset);
  /// The engine restarted `topic` with `epoch` (its history was lost).
  void restart_topic(const std::string& topic, std::string_view epoch);
  /// False for an event of an epoch its topic has left (positions count in the new one).
  bool in_current_epoch(const broker::Event& event) const;
  void add_dead_letter(DeadLetter letter);  // view lock not held
  /// Offsets `from`..`to` of `topic` are gone before delivery: one `expired` dead letter.
  void add_expired(const std::string& topic, std::uint64_t from, std::uint64_t to, std::string why);
  void start_delivery(broker::EventPtr event, std::string dead_letter_id);
  void send();
  void on_result(webhook::HttpResult result);
  // on_result's steps. The attempt into the view: ring, counters, what is in flight.
  void record_attempt(AttemptRecord record, const webhook::RetryDecision& decision, std::int64_t now_ms);
  // The current event (or redelivered dead letter) was delivered.
  void finish_delivered(const Current& c);
  // The current delivery was given up for `reason`: it becomes (again) a dead letter.
  void finish_dead_letter(const Current& c, std::string reason, unsigned status, const std::string& error,
                          std::int64_t now_ms);
  std::string next_record_id(const char* prefix);
  void store_position(const std::string& topic, std::uint64_t offset);

  WebhookLoop& loop_;
  broker::Broker& broker_;
  WebhookStateWriter* writer_;
  const WebhookAttemptObserver& observer_;
  std::size_t max_dead_letters_;
  SubscriptionPtr subscription_;
  WebhookConfig config_;
  webhook::WebhookSigner signer_;

  // Loop thread only.
  std::unordered_map<std::string, std::uint64_t> heads_;  // last offset known per topic
  std::unordered_map<std::string, std::string> epochs_;    // per topic: the epoch positions count in
  std::set<std::string> ready_;                            // topics with heads_ > position
  std::optional<Current> current_;
  std::deque<std::string> redeliver_;
  boost::asio::steady_timer timer_;
  webhook::RequestHandle request_;
  bool pump_scheduled_ = false;
  bool stopped_ = false;
  std::uint64_t record_counter_ = 0;

  // What the API shows: written on the loop (and in restore/seed before it
  // runs), read anywhere, under view_mutex_.
  mutable std::mutex view_mutex_;
  std::unordered_map<std::string, std::uint64_t> positions_;  // the loop reads it without the lock
  std::map<std::string, DeadLetter, std::less<>> dead_letters_;  // by id: creation order
  std::deque<AttemptRecord> attempts_;                        // newest last
  std::string in_flight_;
  std::uint32_t in_flight_attempts_ = 0;
  std::uint64_t consecutive_failures_ = 0;
  unsigned last_status_ = 0;
  std::string last_error_;
  std::int64_t last_attempt_ms_ = 0;
  std::int64_t next_attempt_ms_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t dead_letters_total_ = 0;
  std::uint64_t dead_letters_dropped_ = 0;
};

}  // namespace sluice::server::detail
