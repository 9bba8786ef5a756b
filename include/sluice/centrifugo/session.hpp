// One connection speaking Centrifugo's JSON client protocol on
// /connection/websocket (docs/centrifugo.md): connect, subscribe with
// recovery, publish through the server's publish door, history, pings, and
// Centrifugo's error and close codes. The sibling of server::InbandSession,
// with the same delivery guarantee: a recovered subscription gets the
// missed publications inside its reply, then every later one live, with no
// gap and no duplicate.
//
// Lives on its connection's loop and is used there only. Holds its
// subscriptions in the loop's hub and removes every one of them on close.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sluice/auth/connection_auth.hpp"
#include "sluice/broker/broker.hpp"
#include "sluice/broker/loop_hub.hpp"
#include "sluice/centrifugo/codec.hpp"
#include "sluice/limits/keyed_rate_limiter.hpp"
#include "sluice/limits/per_key_counter.hpp"
#include "sluice/metrics/session_metrics.hpp"
#include "sluice/net/connection.hpp"
#include "sluice/net/deadlines.hpp"
#include "sluice/server/publish_service.hpp"
#include "sluice/util/linear_map.hpp"

namespace sluice::centrifugo {

/// The WebSocket path of the protocol, as Centrifugo serves it.
inline constexpr std::string_view kPath = "/connection/websocket";
/// The subprotocol Centrifugo's JSON clients may offer.
inline constexpr std::string_view kSubprotocol = "centrifuge-json";

struct SessionSettings {
  /// Application pings ({}) after connect; the client answers each with {}.
  /// 0: no pings (and the connect reply announces none).
  std::chrono::milliseconds ping_interval{25'000};
  /// A ping unanswered this long closes the connection with 3012 "no pong"
  /// (at most half the ping interval).
  std::chrono::milliseconds pong_timeout{8'000};
  /// A connection that sent no connect command this long after opening is
  /// closed with 3502 "stale".
  std::chrono::milliseconds connect_timeout{10'000};
  std::size_t max_subscriptions = 256;
  /// How long a connection or subscription whose token expired goes on
  /// before it ends (3005 "connection expired", or an unsubscribe push 2501
  /// "subscription expired"): Centrifugo's SDKs refresh when the announced
  /// ttl runs out, so the refresh needs time to arrive (Centrifugo's
  /// expired_close_delay, 25 s by default).
  std::chrono::seconds expired_close_delay{25};
  /// The most publications one history reply carries.
  std::size_t max_history = 10'000;
};

class Session final : public broker::LoopHub::Subscriber,
                      public net::ConnectionHandler,
                      public std::enable_shared_from_this<Session>,
                      private net::Deadlines::Entry {
 public:
  /// The client id of the connect reply: a version 4 UUID's 16 bytes.
  using ClientId = std::array<unsigned char, 16>;
  /// Who keeps the sessions of a loop.
  class Owner {
   public:
    /// The last call about `session`; the owner may destroy it here.
    virtual void session_closed(Session& session) = 0;

   protected:
    ~Owner() = default;
  };

  /// The frame of the last run of events sent joined (see deliver_run):
  /// every subscriber of one loop gets the same one.
  struct RunCache {
    broker::EventPtr first;  // held, so its address is not reused while cached
    std::size_t count = 0;
    std::shared_ptr<const std::string> frame;
  };

  /// What the sessions of one loop share. Outlives them.
  struct Context {
    broker::LoopHub& hub;
    broker::Broker& broker;
    server::PublishService& publisher;
    SessionSettings settings;
    Owner& owner;
    /// Null, or not required(): open. Otherwise the connect command's token
    /// (or an API key) is checked and its grant decides each channel.
    const auth::ConnectionAuthenticator* auth = nullptr;
    limits::PerKeyCounter* connections_per_ip = nullptr;
    limits::KeyedRateLimiter* new_connections_per_ip = nullptr;
    bool limit_loopback = false;
    std::string version;  ///< the server's, in connect replies
    RunCache run_cache{};
    /// What the sessions count for /metrics; null: nothing.
    const ::sluice::metrics::SessionMetrics* metrics = nullptr;
  };

  /// Becomes `connection`'s handler (set_handler); on the connection's loop.
  Session(std::uint64_t id, Context& context, std::shared_ptr<net::Connection> connection);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() override;

  std::uint64_t id() const noexcept { return id_; }
  /// Asks the connection to close: a Sluice close code (1001 shutdown, 4008,
  /// 4401, ...) is sent as the Centrifugo code a client reads the same way
  /// (centrifugo_close). Idempotent.
  void close(std::uint16_t sluice_code, std::string_view reason);
  /// Ends the connection at once, without a close handshake. Idempotent.
  void abort() {
    if (connection_) connection_->abort();
  }
  /// Leaves every subscription. Idempotent.
  void on_closed();
  /// An operator dropped the topics of `pattern`: leaves those subscribed
  /// and tells the client (an unsubscribe push, code 2000).
  void drop_subscription(std::string_view pattern, std::string_view reason);
  std::size_t subscription_count() const noexcept { return subscriptions_.size(); }

  // net::ConnectionHandler
  std::optional<net::RouteRefusal> on_upgrade_request(net::Connection& connection,
                                                      const net::ParsedRequest& request) override;
  void on_open(net::Connection& connection) override;
  void on_message(net::Connection&, protocol::MessageType type, std::span<const std::uint8_t> payload) override;
  void on_closed(net::Connection&, const net::CloseInfo&) override {
    on_closed();
    context_.owner.session_closed(*this);
  }
  CloseCode slow_consumer_close() const override { return {disconnect::slow.code, disconnect::slow.reason}; }

  // broker::LoopHub::Subscriber
  void deliver(const broker::EventPtr& event) override;
  /// Sends the run as one frame of newline-separated pushes when nothing of
  /// it needs skipping; else one by one.
  void deliver_run(broker::EventRun& run) override;
  /// Events of a subscribed topic never reached this loop: closed with 3008
  /// (the client reconnects and recovers them from history).
  void missed(std::uint64_t count) override;

 private:
  struct Subscription {
    std::string channel;
    /// Live events at or below this offset were in the subscribe reply's
    /// snapshot (0: none held back any more).
    std::uint64_t covered = 0;
    /// Subscribed with a subscription token: Unix seconds at which it ends
    /// (plus expired_close_delay) unless sub_refresh moves it; 0: never.
    std::int64_t expires_at = 0;
  };

  /// Checks the command's subscription token: its expiry (Unix seconds), or
  /// nullopt after an error reply (109) or a close (3500).
  std::optional<std::int64_t> check_subscription_token(const Command& command, std::string& replies);
  void handle(const Command& command, std::string& replies);
  void connect(const Command& command, std::string& replies);
  void subscribe(const Command& command, std::string& replies);
  void unsubscribe(const Command& command, std::string& replies);
  void publish(const Command& command, std::string& replies);
  void history(const Command& command, std::string& replies);
  void refresh(const Command& command, std::string& replies);
  void sub_refresh(const Command& command, std::string& replies);
  void on_published(std::uint32_t id, const server::PublishService::Outcome& outcome);
  /// True if the grant (if any) lets this connection subscribe to, and read
  /// the history of, `channel` (the topic `topic`).
  bool may_read(const std::string& channel, const std::string& topic) const;
  /// The topic of the command's channel, or nullopt after an error reply.
  std::optional<std::string> topic_of(const Command& command, std::string& replies);
  std::string connect_result() const;
  void send_reply(std::string_view payload);
  void close_with(const Disconnect& disconnect);
  void count_delivery(net::SendStatus status, std::size_t events);
  /// Its one deadline (net::Deadlines: in the session, no timer or pending
  /// wait of its own, idle memory): before connect the stale deadline, then
  /// the next ping, then that ping's pong deadline, in turn.
  void on_deadline() override;
  void arm_deadline(std::chrono::milliseconds after);
  void arm_expiry();
  /// Arms sub_expiry_ for the earliest subscription that expires.
  void arm_subscription_expiry();
  /// Ends, with an unsubscribe push 2501, every subscription past its expiry.
  void expire_subscriptions();
  /// Leaves `topic`: its channel, or nullopt if it was not subscribed.
  std::optional<std::string> leave(const std::string& topic);
  /// Leaves `topic` and tells the client with an unsubscribe push (`code`, `reason`).
  void end_subscription(const std::string& topic, int code, std::string_view reason);

  std::uint64_t id_;
  Context& context_;
  std::shared_ptr<net::Connection> connection_;
  util::LinearMap<std::string, Subscription> subscriptions_;  // topic -> subscription (a few: searched linearly)
  std::size_t covering_ = 0;  // subscriptions whose `covered` is not 0 yet
  ClientId client_id_{};  // set by connect; 16 bytes, formatted when a reply carries it (idle memory)
  bool connected_ = false;
  bool closed_ = false;
  bool pong_pending_ = false;
  bool ping_sent_ = false;  // the deadline armed is the last ping's pong deadline
  // Behind a pointer (idle memory: 240 bytes inline): only with auth on.
  std::unique_ptr<auth::ConnectionGrant> grant_;
  std::unique_ptr<boost::asio::steady_timer> expiry_;      // with a grant that expires
  std::unique_ptr<boost::asio::steady_timer> sub_expiry_;  // with subscription tokens
  limits::PerKeyCounter::Lease ip_lease_;
  std::optional<Disconnect> refusal_;  // set when the per-IP limits refused it
};

}  // namespace sluice::centrifugo
