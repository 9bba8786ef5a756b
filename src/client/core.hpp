// The client's machinery behind sluice::Client: one event loop, the current
// connection, the reconnect state machine, the offline queue and the session
// hook. Private to src/client.
//
// Threads: members marked "loop" are touched only on loop_'s thread; the
// few shared fields are guarded by mutex_ (the accept decision and the queued
// byte count: no I/O and no callback under it) or info_mutex_ (the snapshot
// behind info()), or are atomics. User callbacks run on the loop thread
// through listeners, never with either mutex held.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "client/proxy_relay.hpp"
#include "sluice/client/backoff.hpp"
#include "sluice/client/close_policy.hpp"
#include "sluice/client/events.hpp"
#include "sluice/util/bytes.hpp"
#include "sluice/client/listeners.hpp"
#include "sluice/client/options.hpp"
#include "sluice/client/proxy.hpp"
#include "sluice/client/session.hpp"
#include "sluice/net/connection.hpp"
#include "sluice/net/event_loop.hpp"
#include "sluice/net/url.hpp"

namespace sluice::client::detail {

class Core;

/// Shared by a Session handle and the core; `core` is cleared (under `mutex`)
/// when the connection it belongs to ends, so late calls are no-ops.
struct SessionToken {
  std::mutex mutex;
  Core* core = nullptr;
  std::uint64_t generation = 0;
  std::uint64_t connection = 0;
  std::uint32_t hook_attempt = 0;
  bool decided = false;  // the hook attempt's outcome is known
};

class Core {
 public:
  /// Throws std::invalid_argument (see Client::Client).
  Core(std::string_view url, ClientOptions options);
  ~Core();

  void connect();
  SendStatus send(MessageType type, std::span<const std::uint8_t> payload);
  void close(std::uint16_t code, std::string_view reason);
  bool flush(std::chrono::milliseconds timeout);
  State state() const noexcept { return state_.load(std::memory_order_acquire); }
  ConnectionInfo info() const;
  std::size_t queued_bytes() const;
  const net::WsUrl& url() const noexcept { return url_; }
  bool set_target(std::string_view target);

  // From Session (any thread).
  SendStatus session_send(const std::shared_ptr<SessionToken>& token, MessageType type, std::string payload);
  void session_decided(const std::shared_ptr<SessionToken>& token, bool ok, std::string reason);

  net::EventLoop loop_;  // first: destroyed last, after everything that posts to it
  Listeners listeners;

 private:
  struct OutMessage {
    MessageType type;
    std::string data;
  };

  // loop thread
  void start_attempt();
  void on_transport_open(std::uint64_t generation, net::Connection& connection);
  void on_transport_closed(std::uint64_t generation, net::Connection& connection, const net::CloseInfo& info);
  // on_transport_closed's steps (core_endings.cpp). Whether and how to try
  // again (counts the failure); `stop_error` set: stop for good.
  RetryRule decide_after_ending(const net::CloseInfo& info, bool server_closed, bool was_ready,
                                std::error_code& stop_error);
  // The description of a final ending: `message` and why there is no reconnect.
  std::string why_not_reconnecting(std::error_code stop_error, const net::CloseInfo& info,
                                   const std::string& message) const;
  // Starts the next attempt after `delay`, unless something ended or began meanwhile.
  void reconnect_after(std::chrono::milliseconds delay);
  void run_hook();
  void hook_outcome(const std::shared_ptr<SessionToken>& token, bool ok, std::error_code error, std::string reason);
  void session_ready();
  void enqueue(OutMessage message);
  void pump();
  void arm_ping_watch();
  void do_close(std::uint16_t code, std::string reason);
  void stop_for_good(std::uint16_t code, std::string reason, std::string description, std::error_code error,
                     bool terminal);
  void finish_close(std::uint16_t code, std::string reason);
  void end_session();
  void drop_outbox();
  void cancel_timers();
  void set_state(State s) noexcept { state_.store(s, std::memory_order_release); }
  void report_error(std::error_code error, std::string message);
  void release(std::size_t bytes);
  bool close_requested() const;
  void mark_close_done();

  // credentials (loop thread; core_auth.cpp)
  enum class Asked : std::uint8_t { token, none, closing };
  Asked ask_provider(std::string& token, std::string& why);
  bool prepare_credential();
  void arm_refresh();
  void refresh_now(std::uint64_t generation);
  bool take_refresh_reply(std::string_view text);
  void set_credential(std::string token, std::optional<std::int64_t> exp);
  /// For an ending refused as unauthorized (4401 / HTTP 401): whether a
  /// provider may be asked again (true), or the refusal is final.
  bool may_ask_again(bool got_through);
  /// The connection that just ended got through with its credential: it
  /// received a message, stayed open reconnect.stable_after, or was opened
  /// with a token that was valid then and has expired since.
  bool credential_got_through(const net::CloseInfo& info) const;

  // fixed after construction
  net::WsUrl url_;
  std::string url_text_;
  std::vector<net::WsUrl> urls_;        // url_, then ClientOptions::failover_urls
  std::vector<std::string> url_texts_;  // as given, for ConnectionInfo::url
  ClientOptions options_;
  net::ClientOptions net_options_;
  std::optional<ProxyEndpoint> proxy_;

  std::atomic<State> state_{State::idle};

  // guarded by mutex_
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // queued bytes reached 0, or the close completed
  bool started_ = false;
  bool close_requested_ = false;
  bool accepting_ = true;
  bool close_done_ = false;
  std::size_t queued_bytes_ = 0;
  std::size_t dropped_bytes_ = 0;  // accepted, then dropped because the client stopped: flush() fails
  std::string target_;  // request target of the next attempt (set_target)

  // guarded by info_mutex_
  mutable std::mutex info_mutex_;
  ConnectionInfo info_;

  // loop thread
  BackoffPolicy backoff_;
  std::shared_ptr<net::Connection> connection_;
  std::unique_ptr<ProxyRelay> relay_;
  std::uint64_t generation_ = 0;
  std::size_t url_index_ = 0;  // loop thread: the server of this attempt (urls_)
  std::uint64_t attempts_ = 0;  // loop thread: attempts started
  std::uint64_t connections_ = 0;
  std::uint32_t failures_ = 0;           // consecutive failed attempts
  bool transport_open_ = false;
  bool session_ready_ = false;
  bool delivered_ = false;               // a message arrived after the session hook: the connection made progress
  bool stopping_ = false;                // do_close ran, or stopped for good
  bool finished_ = false;                // the final on_close was handled
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
  std::error_code recycle_error_;        // why we ended the connection ourselves
  std::string recycle_message_;
  std::chrono::steady_clock::time_point ready_at_;
  std::chrono::steady_clock::time_point last_server_ping_;
  std::uint32_t hook_attempt_ = 0;
  std::shared_ptr<SessionToken> token_;
  std::deque<OutMessage> outbox_;
  bool drain_armed_ = false;             // waiting for the connection's on_drained
  std::uint64_t retry_generation_ = 0;   // identifies the pending retry timer
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer hook_timer_;
  boost::asio::steady_timer ping_watch_;
  boost::asio::steady_timer drain_timer_;

  // credentials (loop thread). The token is never logged or reported.
  TokenRenewal renewal_ = TokenRenewal::on_expiry;  // resolved from options_.auth.renewal
  std::string credential_;                        // the bearer of the current (or last) attempt
  std::optional<std::int64_t> credential_exp_;    // its `exp`, when it is a JWT that has one
  bool auth_retry_ = false;     // a refusal was answered by asking the provider again; the next one is final
  bool got_message_ = false;    // this connection received a message: its credential got through
  std::chrono::steady_clock::time_point opened_at_;
  std::chrono::system_clock::time_point opened_wall_;  // compared with the token's exp
  std::uint64_t refresh_count_ = 0;
  std::string refresh_id_;      // the in-band refresh awaiting its answer ("" none)
  std::string refresh_token_;   // its token, adopted when acknowledged
  boost::asio::steady_timer refresh_timer_;
};

}  // namespace sluice::client::detail
