// The topic layer's state behind TopicClient: subscriptions, the last
// position delivered per topic, publishes awaiting their acknowledgement.
// Private to src/client.
//
// Threads: every member is guarded by mutex_. The raw client's callbacks
// (on_session, on_message, on_closed) come from its one thread; the public
// calls from any thread. User handlers are called with no lock held, only
// from the client's thread (or, for publishes failed by close(), from the
// thread calling close()).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/topic_protocol.hpp"
#include "sluice/client/client.hpp"
#include "sluice/client/session.hpp"
#include "sluice/client/topic_types.hpp"

namespace sluice::client::detail {

class TopicState {
 public:
  TopicState(std::size_t max_pending_bytes, std::chrono::milliseconds resume_time_margin);

  /// The raw client to send on while a session is ready; set once, before connect().
  void bind(Client* client) { client_ = client; }

  // From the raw client's thread.
  HookResult on_session(Session& session);
  void on_message(const Message& message);
  void on_closed(const CloseEvent& event);

  // Public calls (any thread).
  SubscriptionId subscribe(std::string pattern, EventHandler handler, SubscribeOptions options);
  bool unsubscribe(SubscriptionId id);
  SendStatus publish(std::string_view topic, std::string data_json, PublishOptions options, PublishHandler done);
  std::optional<Position> position(std::string_view topic) const;
  std::size_t pending_publishes() const;
  /// Completes every unacknowledged publish with "closed" and stops all delivery.
  void close_all(const std::string& message);

 private:
  struct Subscription {
    SubscriptionId id = 0;
    std::string pattern;
    EventHandler handler;
    StatusHandler on_status;
    Fallback fallback = Fallback::oldest;
    std::optional<Since> since;       // as asked, until the first acknowledgement
    std::int64_t resume_time_ms = 0;  // topics without a position resume from here
    bool acked = false;
    std::atomic<bool> active{true};
  };
  using SubscriptionPtr = std::shared_ptr<Subscription>;
  struct PendingPublish {
    std::string request;
    PublishHandler done;
  };
  struct StatusCall {
    StatusHandler handler;
    SubscriptionStatus status;
  };

  std::optional<Since> resume_point(const std::string& pattern, const std::vector<SubscriptionPtr>& subs) const;
  void forget_positions_of(const std::string& pattern);
  void on_ack(const ServerMessage& m, std::vector<StatusCall>& calls, PublishHandler& done,
              PublishResult& result);
  std::string next_idempotency_key(std::uint64_t request_id) const;

  const std::size_t max_pending_bytes_;
  const std::chrono::milliseconds resume_time_margin_;
  const std::string key_prefix_;
  Client* client_ = nullptr;

  // The raw client's thread only (on_message): reused for every message.
  ServerMessage scratch_;
  std::vector<SubscriptionPtr> targets_;

  mutable std::mutex mutex_;
  std::map<SubscriptionId, SubscriptionPtr> subscriptions_;
  Positions positions_;
  std::map<std::uint64_t, PendingPublish> pending_;  // by request id: publish order
  std::size_t pending_bytes_ = 0;
  std::unordered_map<std::uint64_t, std::vector<SubscriptionId>> subscribe_requests_;  // this connection's
  std::uint64_t next_request_id_ = 1;
  SubscriptionId next_subscription_id_ = 1;
  std::uint64_t ready_connection_ = 0;  // the session is ready on this connection (0: none)
  bool closed_ = false;
};

}  // namespace sluice::client::detail
