#include "client/core.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <stdexcept>

#include "client/describe.hpp"
#include "sluice/client/error.hpp"
#include "sluice/net/tls.hpp"
#include "sluice/protocol/close_code.hpp"
#include "sluice/protocol/handshake.hpp"

namespace sluice::client::detail {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Rough wire size of one message, to keep within the connection's queue limit.
std::size_t frame_estimate(std::size_t payload) { return payload + 14; }

}  // namespace

Core::Core(std::string_view url, ClientOptions options)
    : loop_(0),
      listeners([this] { return loop_.in_loop_thread(); }),
      options_(std::move(options)),
      backoff_(options_.reconnect.backoff, options_.random_seed),
      retry_timer_(loop_.io()),
      hook_timer_(loop_.io()),
      ping_watch_(loop_.io()),
      drain_timer_(loop_.io()),
      refresh_timer_(loop_.io()) {
  auto parsed = net::parse_ws_url(url);
  if (!parsed) {
    throw std::invalid_argument("not a ws:// or wss:// URL: '" + std::string(url) + "'");
  }
  url_ = *parsed;
  url_text_ = std::string(url);
  if (auto why = options_.validate(); !why.empty()) throw std::invalid_argument(why);
  urls_.push_back(url_);
  url_texts_.push_back(url_text_);
  for (const auto& fallback : options_.failover_urls) {
    auto other = net::parse_ws_url(fallback);
    if (!other) throw std::invalid_argument("failover_urls: not a ws:// or wss:// URL: '" + fallback + "'");
    if (other->secure != url_.secure) {
      throw std::invalid_argument("failover_urls: '" + fallback + "' must use the scheme of '" + url_text_ + "'");
    }
    urls_.push_back(std::move(*other));
    url_texts_.push_back(fallback);
  }

  auto& n = net_options_;
  n.handshake.host = url_.host_header();
  n.handshake.target = url_.target;
  n.handshake.origin = options_.origin;
  n.handshake.subprotocols = options_.subprotocols;
  n.handshake.headers = options_.headers;
  n.handshake.deflate.enabled = options_.deflate;
  n.codec.max_message_size = options_.max_message_size;
  n.codec.max_frame_size = options_.max_message_size;
  n.timeouts.connect = options_.timeouts.connect;
  n.timeouts.handshake = options_.timeouts.handshake;
  n.timeouts.close = options_.timeouts.close;
  n.timeouts.ping_interval = options_.liveness.ping_interval;
  n.timeouts.pong_timeout = options_.liveness.pong_timeout;
  n.send_queue_limit = options_.send_queue_limit;
  if (url_.secure) {
    n.tls = options_.tls.context;
    if (!n.tls) {
      std::string error;
      n.tls = net::make_client_tls_context({options_.tls.verify_peer, options_.tls.ca_file}, error);
      if (!n.tls) throw std::invalid_argument(error);
    }
  }

  std::string proxy_error;
  proxy_ = select_proxy(url_, options_.proxy, proxy_error);
  if (!proxy_error.empty()) throw std::invalid_argument(proxy_error);
  if (proxy_ && urls_.size() > 1) throw std::invalid_argument("a proxy works with one server URL, not with failover_urls");
  if (proxy_) {
    const bool ipv6 = url_.host.find(':') != std::string::npos;
    relay_ = std::make_unique<ProxyRelay>(loop_.io(), *proxy_,
                                          (ipv6 ? "[" + url_.host + "]" : url_.host) + ":" + std::to_string(url_.port));
  }

  renewal_ = options_.auth.renewal == TokenRenewal::in_band ? TokenRenewal::in_band : TokenRenewal::on_expiry;
  info_.url = url_text_;
  target_ = url_.target;
  loop_.start();
}

Core::~Core() {
  close(protocol::close_code::going_away, "client destroyed");
  loop_.stop();
  // The loop thread is gone: what follows runs on this thread alone.
  if (relay_) relay_->end();
  connection_.reset();
}

// --- public side (any thread) ---

void Core::connect() {
  {
    std::lock_guard lock(mutex_);
    if (started_ || close_requested_ || close_done_) return;
    started_ = true;
  }
  loop_.post([this] { start_attempt(); });
}

SendStatus Core::send(MessageType type, std::span<const std::uint8_t> payload) {
  SendStatus status;
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) return SendStatus::closed;
    const bool open = state() == State::open;
    if (!open && !options_.offline_queue) return SendStatus::not_connected;
    if (payload.size() > options_.max_queued_bytes) return SendStatus::too_large;
    if (queued_bytes_ + payload.size() > options_.max_queued_bytes) return SendStatus::queue_full;
    queued_bytes_ += payload.size();
    status = open ? SendStatus::sent : SendStatus::queued;
  }
  OutMessage message{type, std::string(reinterpret_cast<const char*>(payload.data()), payload.size())};
  if (loop_.in_loop_thread()) {
    enqueue(std::move(message));
  } else {
    loop_.post([this, message = std::move(message)]() mutable { enqueue(std::move(message)); });
  }
  return status;
}

void Core::close(std::uint16_t code, std::string_view reason) {
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    if (!close_requested_) {
      close_requested_ = true;
      accepting_ = false;
      first = true;
    }
  }
  if (first) loop_.post([this, code, reason = std::string(reason)] { do_close(code, reason); });
  if (loop_.in_loop_thread()) {
    listeners.disable();  // nothing after the running callback
    return;
  }
  {
    std::unique_lock lock(mutex_);
    // The close handshake is bounded by timeouts.close inside the transport;
    // the margin covers the loop finishing a callback in progress.
    const auto bound = options_.timeouts.close + std::chrono::seconds(2);
    if (!changed_.wait_for(lock, bound, [&] { return close_done_; })) {
      lock.unlock();
      loop_.post([this] {
        if (connection_) connection_->abort();
        else finish_close(close_code_, close_reason_);
      });
      lock.lock();
      changed_.wait_for(lock, std::chrono::seconds(2), [&] { return close_done_; });
    }
  }
  listeners.disable();
}

bool Core::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (loop_.in_loop_thread()) return queued_bytes_ == 0 && dropped_bytes_ == 0;
  changed_.wait_for(lock, timeout, [&] { return queued_bytes_ == 0 || close_done_; });
  return queued_bytes_ == 0 && dropped_bytes_ == 0;
}

ConnectionInfo Core::info() const {
  std::lock_guard lock(info_mutex_);
  return info_;
}

std::size_t Core::queued_bytes() const {
  std::lock_guard lock(mutex_);
  return queued_bytes_;
}

bool Core::close_requested() const {
  std::lock_guard lock(mutex_);
  return close_requested_;
}

void Core::release(std::size_t bytes) {
  if (bytes == 0) return;
  std::lock_guard lock(mutex_);
  queued_bytes_ -= bytes;
  if (queued_bytes_ == 0) changed_.notify_all();
}

void Core::mark_close_done() {
  std::lock_guard lock(mutex_);
  accepting_ = false;
  close_done_ = true;
  changed_.notify_all();
}

// --- session handles (any thread) ---

SendStatus Core::session_send(const std::shared_ptr<SessionToken>& token, MessageType type, std::string payload) {
  if (loop_.in_loop_thread()) {
    if (token != token_ || !connection_ || !transport_open_) return SendStatus::closed;
    return connection_->send(type, bytes_of(payload)) ? SendStatus::closed : SendStatus::sent;
  }
  loop_.post([this, token, type, payload = std::move(payload)] {
    if (token == token_ && connection_ && transport_open_) (void)connection_->send(type, bytes_of(payload));
  });
  return SendStatus::sent;
}

void Core::session_decided(const std::shared_ptr<SessionToken>& token, bool ok, std::string reason) {
  loop_.post([this, token, ok, reason = std::move(reason)]() mutable {
    hook_outcome(token, ok, ok ? std::error_code{} : make_error_code(Error::session_hook_failed), std::move(reason));
  });
}

// --- connecting (loop thread) ---

bool Core::set_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return false;
  if (protocol::has_space_or_control(target) || target.find('#') != std::string_view::npos) return false;
  std::lock_guard lock(mutex_);
  target_ = std::string(target);
  return true;
}

void Core::start_attempt() {
  if (stopping_) return;
  set_state(State::connecting);
  {
    std::lock_guard lock(mutex_);
    net_options_.handshake.target = target_;
  }
  if (options_.auth.enabled() && !prepare_credential()) return;  // stopped for good, or closing
  if (attempts_++ > 0 && urls_.size() > 1) {
    url_index_ = (url_index_ + 1) % urls_.size();  // each reconnect: the next server of the cluster
    std::lock_guard lock(info_mutex_);
    info_.url = url_texts_[url_index_];
  }
  const std::uint64_t generation = ++generation_;
  net::ConnectionCallbacks callbacks;
  callbacks.on_open = [this, generation](net::Connection& c) { on_transport_open(generation, c); };
  callbacks.on_message = [this, generation](net::Connection&, MessageType type, std::span<const std::uint8_t> data) {
    if (generation != generation_) return;
    got_message_ = true;
    if (session_ready_) delivered_ = true;
    if (!refresh_id_.empty() && type == MessageType::text &&
        take_refresh_reply({reinterpret_cast<const char*>(data.data()), data.size()})) {
      return;  // the answer to our own refresh request
    }
    listeners.emit(listeners.message, Message{type, data});
  };
  callbacks.on_ping = [this, generation](net::Connection&, std::span<const std::uint8_t>) {
    if (generation == generation_) last_server_ping_ = Clock::now();
  };
  callbacks.on_drained = [this, generation](net::Connection&) {
    if (generation != generation_) return;
    drain_armed_ = false;
    pump();
  };
  callbacks.on_closed = [this, generation](net::Connection& c, const net::CloseInfo& info) {
    on_transport_closed(generation, c, info);
  };
  net::WsUrl url = urls_[url_index_];
  url.target = net_options_.handshake.target;
  net::ClientOptions attempt_options = net_options_;
  attempt_options.handshake.host = url.host_header();
  if (!credential_.empty()) attempt_options.handshake.headers.emplace_back("Authorization", "Bearer " + credential_);
  if (relay_) {
    std::error_code error;
    const std::uint16_t port = relay_->begin(
        [this, generation](std::string message) {
          if (generation != generation_) return;
          recycle_error_ = make_error_code(Error::proxy_failed);
          recycle_message_ = std::move(message);
        },
        error);
    // TCP goes to the relay; TLS (SNI, certificate check) and the handshake still name the real host.
    attempt_options.dial_host = "127.0.0.1";
    attempt_options.dial_port = port;
    if (error) {
      recycle_error_ = make_error_code(Error::proxy_failed);
      recycle_message_ = "cannot open the local proxy relay: " + error.message();
      attempt_options.dial_port = 0;  // fails at once, through the normal path
    }
  }
  connection_ = net::connect(loop_.io(), url, std::move(attempt_options), std::move(callbacks));
}

void Core::on_transport_open(std::uint64_t generation, net::Connection& connection) {
  if (generation != generation_) return;
  transport_open_ = true;
  ++connections_;
  last_server_ping_ = Clock::now();
  {
    std::lock_guard lock(info_mutex_);
    record_response(info_, connection.client_handshake());
    info_.subprotocol = connection.subprotocol();
    info_.deflate = connection.deflate_enabled();
    info_.last_connected_at = std::chrono::system_clock::now();
    info_.connections = connections_;
  }
  if (stopping_) {
    connection.close(close_code_, close_reason_);
    return;
  }
  arm_ping_watch();
  delivered_ = false;
  got_message_ = false;
  opened_at_ = Clock::now();
  opened_wall_ = std::chrono::system_clock::now();
  arm_refresh();
  hook_attempt_ = 0;
  run_hook();
}

void Core::run_hook() {
  if (stopping_ || !transport_open_) return;
  if (!options_.session.hook) return session_ready();
  ++hook_attempt_;
  if (token_) end_session();
  token_ = std::make_shared<SessionToken>();
  token_->core = this;
  token_->generation = generation_;
  token_->connection = connections_;
  token_->hook_attempt = hook_attempt_;
  const auto token = token_;
  Session session(token);
  HookResult result = HookResult::failed;
  if (!listeners.run([&] { result = options_.session.hook(session); })) return;  // closing from a callback
  if (token != token_) return;  // the connection ended meanwhile
  switch (result) {
    case HookResult::done:
      return hook_outcome(token, true, {}, {});
    case HookResult::failed:
      return hook_outcome(token, false, make_error_code(Error::session_hook_failed), "the hook returned failed");
    case HookResult::pending:
      hook_timer_.expires_after(options_.session.timeout);
      hook_timer_.async_wait([this, token](const boost::system::error_code& ec) {
        if (ec) return;
        hook_outcome(token, false, make_error_code(Error::session_hook_timeout),
                     "no completion within " + seconds_text(options_.session.timeout));
      });
      return;
  }
}

void Core::hook_outcome(const std::shared_ptr<SessionToken>& token, bool ok, std::error_code error,
                        std::string reason) {
  if (token != token_ || stopping_ || !transport_open_) return;
  {
    std::lock_guard lock(token->mutex);
    if (token->decided) return;
    token->decided = true;
  }
  hook_timer_.cancel();
  if (ok) return session_ready();

  const std::uint32_t limit = options_.session.max_attempts;
  report_error(error, "session hook failed (attempt " + std::to_string(hook_attempt_) + " of " +
                          std::to_string(limit) + "): " + reason);
  if (token != token_ || stopping_ || !transport_open_) return;  // a listener closed or the connection ended
  if (hook_attempt_ >= limit) {
    // Recycle the connection: reconnecting counts as one more failed attempt.
    recycle_error_ = error;
    recycle_message_ = "session hook failed " + std::to_string(hook_attempt_) + " times; reconnecting";
    connection_->close(protocol::close_code::normal, "session hook failed");
    return;
  }
  const auto generation = generation_;
  hook_timer_.expires_after(backoff_.delay(hook_attempt_));
  hook_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
    if (!ec && generation == generation_) run_hook();
  });
}

void Core::session_ready() {
  session_ready_ = true;
  ready_at_ = Clock::now();
  pump();  // the offline queue, in order, after whatever the hook sent
  if (stopping_ || !transport_open_) return;
  // A close() already on its way keeps the state from flipping back to open;
  // on_open is still reported, as everything is until close() returns.
  if (!close_requested()) set_state(State::open);
  {
    std::lock_guard lock(info_mutex_);
    info_.last_error = {};
    info_.last_error_message.clear();
  }
  OpenEvent event{connections_, connections_ > 1, connection_->subprotocol()};
  listeners.emit(listeners.open, event);
}

// --- sending (loop thread) ---

void Core::enqueue(OutMessage message) {
  if (finished_) {  // accepted just before the client stopped: dropped like the rest of the queue
    outbox_.push_back(std::move(message));
    return drop_outbox();
  }
  outbox_.push_back(std::move(message));
  pump();
}

void Core::pump() {
  if (!session_ready_ || !connection_ || !transport_open_ || drain_armed_) return;
  std::size_t handed = 0;
  while (!outbox_.empty()) {
    const OutMessage& m = outbox_.front();
    const std::size_t queued = connection_->queued_bytes();
    if (queued > 0 && queued + frame_estimate(m.data.size()) > options_.send_queue_limit) {
      // The connection's queue is full: wait for it to drain rather than make
      // it close as a slow consumer. The rest stays counted in queued_bytes.
      drain_armed_ = true;
      if (queued > options_.send_queue_limit / 2) {
        connection_->notify_when_drained();
      } else {
        // A message bigger than half the queue: on_drained would fire at once,
        // so look again shortly, until the queue has room (rare: see options).
        drain_timer_.expires_after(std::chrono::milliseconds(1));
        drain_timer_.async_wait([this, generation = generation_](const boost::system::error_code& ec) {
          if (ec || generation != generation_) return;
          drain_armed_ = false;
          pump();
        });
      }
      break;
    }
    if (connection_->send(m.type, bytes_of(m.data))) break;  // closing: keep it for the next connection
    handed += m.data.size();
    outbox_.pop_front();
  }
  release(handed);
}

// --- liveness (loop thread) ---

void Core::arm_ping_watch() {
  const auto timeout = options_.liveness.server_ping_timeout;
  if (timeout.count() == 0) return;
  const auto generation = generation_;
  ping_watch_.expires_at(last_server_ping_ + timeout);
  ping_watch_.async_wait([this, generation, timeout](const boost::system::error_code& ec) {
    if (ec || generation != generation_ || !transport_open_ || stopping_) return;
    if (Clock::now() - last_server_ping_ < timeout) return arm_ping_watch();
    recycle_error_ = make_error_code(Error::server_ping_timeout);
    recycle_message_ = "the server sent no ping for " + seconds_text(timeout);
    connection_->abort();
  });
}

}  // namespace sluice::client::detail
