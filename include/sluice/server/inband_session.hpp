// The in-band JSON protocol of /v1/ws (SPEC §3) for one connection:
// subscribe, unsubscribe, publish and ping requests; acks, errors and events.
//
// Lives on its connection's loop and is used there only. Holds its
// subscriptions in the loop's hub and removes every one of them on close.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/auth/connection_auth.hpp"
#include "sluice/broker/broker.hpp"
#include "sluice/limits/keyed_rate_limiter.hpp"
#include "sluice/limits/per_key_counter.hpp"
#include "sluice/metrics/session_metrics.hpp"
#include "sluice/broker/loop_hub.hpp"
#include "sluice/net/connection.hpp"
#include "sluice/server/idempotency_index.hpp"
#include "sluice/server/publish_service.hpp"
#include "sluice/server/subscription_registry.hpp"
#include "sluice/topic/pattern_list.hpp"

namespace sluice::server {

struct InbandLimits {
  std::size_t max_subscriptions = 256;
  /// Error replies allowed in a burst before the connection is closed with
  /// 1008; the budget refills at `error_refill_per_second`.
  double error_burst = 20;
  double error_refill_per_second = 2;
};

class InbandSession final : public broker::LoopHub::Subscriber, public net::ConnectionHandler {
 public:
  /// Who keeps the sessions of a loop: told when a connection opens (to route
  /// it) and when it closed (to let the session go).
  class Owner {
   public:
    virtual void session_opened(InbandSession& session, net::Connection& connection) = 0;
    /// The last call about `session`; the owner may destroy it here.
    virtual void session_closed(InbandSession& session) = 0;
    /// The open session `id` of the calling loop, or null once it is gone:
    /// how a completion that outlives its call finds its session again (ids
    /// are never reused; no weak pointer per session: idle memory).
    virtual InbandSession* find_session(std::uint64_t id) noexcept = 0;
    /// An upgrade request arrived (the connection keeps no copy of it: the
    /// owner notes what it needs, e.g. which stream). Returns the handler of
    /// another protocol that took the connection (`session` then holds it no
    /// more, and its owner lets it go after this call), or null to keep it here.
    virtual net::ConnectionHandler* upgrade_requested(InbandSession& /*session*/, net::Connection& /*connection*/,
                                                      const net::ParsedRequest& /*request*/) {
      return nullptr;
    }

   protected:
    ~Owner() = default;
  };

  /// What the sessions of one loop share (one pointer per session instead of
  /// a copy each: idle memory). Outlives them; `publisher` is the publish
  /// door shared with the HTTP API.
  struct Context {
    broker::LoopHub& hub;
    broker::Broker& broker;
    PublishService& publisher;
    InbandLimits limits;
    Owner& owner;
    /// Null: /v1/ws is open. Otherwise every /v1/ws connection authenticates
    /// (token or API key) and its grant decides each subscribe and publish.
    const auth::ConnectionAuthenticator* auth = nullptr;
    /// Per client IP: WebSocket connections open at once, and new ones a
    /// second (over either: close 4429). Null: not limited. Loopback is
    /// exempt unless `limit_loopback`.
    limits::PerKeyCounter* connections_per_ip = nullptr;
    limits::KeyedRateLimiter* new_connections_per_ip = nullptr;
    bool limit_loopback = false;
    /// What the sessions count for /metrics; null: nothing.
    const ::sluice::metrics::SessionMetrics* metrics = nullptr;
  };

  /// Becomes `connection`'s handler (set_handler); on the connection's loop.
  /// Its owner keeps it (by value, in the loop's map) until session_closed.
  InbandSession(std::uint64_t id, const Context& context, std::shared_ptr<net::Connection> connection);
  InbandSession(const InbandSession&) = delete;
  InbandSession& operator=(const InbandSession&) = delete;
  ~InbandSession();

  std::uint64_t id() const noexcept { return id_; }
  /// Another session took the connection before its handshake (see
  /// Owner::upgrade_requested): forgets it without touching it. Idempotent.
  void release_connection() noexcept { connection_.reset(); }
  void on_message(protocol::MessageType type, std::span<const std::uint8_t> payload);
  /// The connection ended: leaves every subscription. Idempotent.
  void on_closed();
  /// Asks the connection to close (abort if it is not open yet). Idempotent.
  void close(std::uint16_t code, std::string_view reason);
  /// Ends the connection at once, without a close handshake. Idempotent.
  void abort() {
    if (connection_) connection_->abort();
  }
  /// The topic was dropped by an operator: leave `pattern` if subscribed and
  /// tell the client with {"type":"unsubscribed",...}.
  /// `pattern` must not view this session's own list (it changes here).
  void drop_subscription(std::string_view pattern, std::string_view reason);
  std::size_t subscription_count() const noexcept { return subscriptions_.size(); }

  /// Turns this session into a stream of `subscription` (null: it does not
  /// exist, and the connection is closed with 4404): a "connected" message,
  /// then every matching event, from `since` (an offset for a one-topic
  /// subscription, else milliseconds since the Unix epoch) when given.
  void open_stream(SubscriptionPtr subscription, std::optional<std::uint64_t> since);
  /// The subscription id this session streams, or "" for /v1/ws.
  const std::string& stream_id() const noexcept;

  /// Who the connection authenticated as ("" when /v1/ws is open or for a stream).
  const std::string& subject() const noexcept;

  // net::ConnectionHandler
  /// /v1/ws with auth on: checks the credential the upgrade brings (the
  /// answer is given after the handshake: 4401 with the reason).
  std::optional<net::RouteRefusal> on_upgrade_request(net::Connection& connection,
                                                      const net::ParsedRequest& request) override;
  void on_open(net::Connection& connection) override;
  void on_message(net::Connection&, protocol::MessageType type, std::span<const std::uint8_t> payload) override {
    on_message(type, payload);
  }
  void on_drained(net::Connection&) override { pump_replay(); }
  /// Leaves every subscription, then hands the session back to its owner
  /// (which may destroy it: nothing here touches it after that).
  void on_closed(net::Connection&, const net::CloseInfo&) override {
    on_closed();
    context_.owner.session_closed(*this);
  }

  void deliver(const broker::EventPtr& event) override;
  /// Events this session matches never reached its loop: closed with 4008
  /// (the client recovers from history), or a gap marker under the drop policy.
  void missed(std::uint64_t count) override;
  /// Sends the run's joined frames as one chunk when every event goes out
  /// unchanged (no filter, no replay, no gap to report); else one by one.
  void deliver_run(broker::EventRun& run) override;
  /// Sends more of a replay in progress, as far as the send queue allows.
  /// Called again by the connection's on_drained.
  void pump_replay();

 private:
  void deliver_now(const broker::EventPtr& event);
  void count_delivery(net::SendStatus status, std::size_t events);
  void publish(const std::string& id_json, const boost::json::value& request, std::string_view text);
  void on_published(const std::string& id_json, const PublishService::Outcome& outcome);
  void send_publish_ack(const std::string& id_json, const PublishedEvent& event, bool duplicate);
  void start_replay(broker::ReplayResult result);
  void handle_request(std::string_view text);
  void subscribe(const std::string& id_json, const boost::json::object& request);
  void unsubscribe(const std::string& id_json, const boost::json::object& request);
  // The request's "topic" string into `out`; false after replying with an error.
  bool read_topic(const std::string& id_json, const boost::json::object& request, std::string& out);
  void send_json(const std::string& json);
  void reply_error(const std::string& id_json, std::string_view code, std::string_view message);
  // Connection tokens (inband_access.cpp).
  bool may_subscribe(const std::string& id_json, const std::string& pattern);
  bool may_publish(const std::string& id_json, const std::string& topic);
  void refresh(const std::string& id_json, const boost::json::object& request);
  void arm_expiry();

  std::uint64_t id_;
  const Context& context_;
  std::shared_ptr<net::Connection> connection_;  // null once closed
  // The patterns subscribed (at most max_subscriptions), in one allocation.
  topic::PatternList subscriptions_;
  // A replay in progress (history first, live events held back until it
  // ends) and what it covered.
  struct ReplayState {
    std::vector<broker::EventPtr> events;
    std::size_t next = 0;
    std::vector<broker::EventPtr> held;
    std::size_t held_bytes = 0;
    // Per topic: live events at or below this offset were covered by a replay.
    std::unordered_map<std::string, std::uint64_t> covered;
  };
  void release_replay_state_if_done();
  // With auth or per-IP limits on: the grant, or why the connection is
  // refused (closed with `refusal_code` on open), the timer that closes at
  // the grant's expiry, and the connection's place in its IP's count.
  struct Access {
    std::optional<auth::ConnectionGrant> grant;
    std::uint16_t refusal_code = 0;  // 0: admitted
    std::string refusal;
    std::unique_ptr<boost::asio::steady_timer> expiry;
    limits::PerKeyCounter::Lease ip_lease;
  };
  void admit(net::Connection& connection);
  // What few sessions need, behind one pointer (an idle connection should
  // cost little, docs/benchmarks.md): the subscription a stream follows, the
  // error budget once a request was refused, the events dropped since the
  // last one delivered (drop policy), a replay, the access state.
  struct Uncommon {
    SubscriptionPtr stream;  // set in stream mode
    double error_budget = 0;
    std::chrono::steady_clock::time_point budget_at{};
    std::uint64_t gap = 0;
    std::unique_ptr<ReplayState> replay;
    std::unique_ptr<Access> access;
  };
  std::unique_ptr<Uncommon> uncommon_;
  Uncommon& uncommon() {
    if (!uncommon_) uncommon_ = std::make_unique<Uncommon>();
    return *uncommon_;
  }
  const Subscription* stream() const noexcept { return uncommon_ ? uncommon_->stream.get() : nullptr; }
  std::uint64_t gap() const noexcept { return uncommon_ ? uncommon_->gap : 0; }
  ReplayState* replay() const noexcept { return uncommon_ ? uncommon_->replay.get() : nullptr; }
  Access* access() const noexcept { return uncommon_ ? uncommon_->access.get() : nullptr; }
  Access& ensure_access() {
    auto& access = uncommon().access;
    if (!access) access = std::make_unique<Access>();
    return *access;
  }
  const auth::ConnectionGrant* grant() const noexcept {
    const Access* a = access();
    return a && a->grant ? &*a->grant : nullptr;
  }
  std::uint16_t refusal_code() const noexcept { return access() ? access()->refusal_code : 0; }
};

}  // namespace sluice::server
