// Connection: lifetime, the handler, the start of a server connection, the
// WebSocket open, closing and timers. The rest of the class: reading in
// connection_read.cpp, HTTP before the upgrade in connection_http.cpp, the
// write path in connection_write.cpp, client connect in connection_client.cpp.
#include "sluice/net/connection.hpp"

#include <boost/asio/post.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "sluice/protocol/close_code.hpp"
#include "sluice/protocol/error.hpp"

namespace sluice::net {

namespace {
std::error_code timed_out() { return std::make_error_code(std::errc::timed_out); }

// ConnectionCallbacks as a ConnectionHandler, for users of the std::function API.
class CallbackHandler final : public ConnectionHandler {
 public:
  explicit CallbackHandler(ConnectionCallbacks callbacks) : callbacks_(std::move(callbacks)) {}
  void on_open(Connection& c) override {
    if (callbacks_.on_open) callbacks_.on_open(c);
  }
  void on_message(Connection& c, protocol::MessageType type, std::span<const std::uint8_t> payload) override {
    if (callbacks_.on_message) callbacks_.on_message(c, type, payload);
  }
  void on_ping(Connection& c, std::span<const std::uint8_t> payload) override {
    if (callbacks_.on_ping) callbacks_.on_ping(c, payload);
  }
  void on_pong(Connection& c, std::span<const std::uint8_t> payload) override {
    if (callbacks_.on_pong) callbacks_.on_pong(c, payload);
  }
  void on_drained(Connection& c) override {
    if (callbacks_.on_drained) callbacks_.on_drained(c);
  }
  void on_closed(Connection& c, const CloseInfo& info) override {
    if (callbacks_.on_closed) callbacks_.on_closed(c, info);
  }

 private:
  ConnectionCallbacks callbacks_;
};

bool any_set(const ConnectionCallbacks& c) {
  return c.on_open || c.on_message || c.on_ping || c.on_pong || c.on_drained || c.on_closed;
}
}  // namespace

Connection::Connection(AnyStream stream, protocol::Role role, ConnectionCallbacks callbacks,
                       ConnectionTimeouts timeouts)
    : stream_(std::move(stream)),
      role_(role),
      queue_(1024 * 1024) {
  if (any_set(callbacks)) set_callbacks(std::move(callbacks));
  // A server connection uses its listener's (start_server): one copy for all.
  if (role == protocol::Role::client) {
    uncommon().client = std::make_unique<ClientSide>(ClientSide{timeouts, {}, nullptr});
  }
}

Connection::~Connection() {
  // Still open only when the loop went away first (its Readiness let go).
  if (raw_fd_ >= 0) ::close(raw_fd_);
  set_handler(nullptr);
}

void Connection::set_callbacks(ConnectionCallbacks callbacks) {
  auto adapter = std::make_unique<CallbackHandler>(std::move(callbacks));
  set_handler(adapter.release());
  owns_handler_ = true;
}

const std::string& Connection::subprotocol() const noexcept {
  static const std::string none;
  return uncommon_ ? uncommon_->subprotocol : none;
}

const protocol::ClientHandshake* Connection::client_handshake() const noexcept {
  const ClientSide* side = client();
  return side ? side->handshake.get() : nullptr;
}

Connection::Uncommon& Connection::uncommon() {
  if (!uncommon_) uncommon_ = std::make_unique<Uncommon>();
  return *uncommon_;
}

void Connection::trim_uncommon() noexcept {
  if (uncommon_ && !uncommon_->http_reader && !uncommon_->client && uncommon_->subprotocol.empty() &&
      !uncommon_->close_error) {
    uncommon_.reset();
  }
}

void Connection::drop_http_reader() noexcept {
  if (!uncommon_) return;
  uncommon_->http_reader.reset();
  trim_uncommon();
}

void Connection::note_close_error(std::error_code error) {
  if (error && !close_error()) uncommon().close_error = error;
}

const ConnectionTimeouts& Connection::timeouts() const noexcept {
  static const ConnectionTimeouts defaults;
  if (server_config_) return server_config_->timeouts;
  const ClientSide* side = client();
  return side ? side->timeouts : defaults;
}

CloseInfo Connection::close_info() const {
  // Assembled when it is reported, from what the connection keeps anyway.
  CloseInfo info;
  if (codec_) {
    info.code = codec_->peer_close_code();
    info.reason = codec_->peer_close_reason();
  }
  info.error = close_error();
  info.was_open = was_open_;
  if (const ClientSide* side = client()) info.http_status = side->http_status;
  return info;
}

void Connection::set_handler(ConnectionHandler* handler) noexcept {
  if (owns_handler_) delete handler_;
  handler_ = handler;
  owns_handler_ = false;
}

namespace {
std::optional<tcp::endpoint> peer_of(int fd) {
  tcp::endpoint endpoint;
  socklen_t length = static_cast<socklen_t>(endpoint.capacity());
  if (::getpeername(fd, endpoint.data(), &length) != 0) return std::nullopt;
  endpoint.resize(length);
  return endpoint;
}
}  // namespace

std::optional<tcp::endpoint> Connection::remote_endpoint() const {
  if (raw_fd_ >= 0) return peer_of(raw_fd_);
  boost::system::error_code ec;
  auto endpoint = const_cast<AnyStream&>(stream_).socket().remote_endpoint(ec);
  if (ec) return std::nullopt;
  return endpoint;
}

std::string Connection::remote_address() const {
  const auto endpoint = remote_endpoint();
  if (!endpoint) return "unknown";
  return endpoint->address().to_string() + ":" + std::to_string(endpoint->port());
}

std::string Connection::remote_ip() const {
  const auto endpoint = remote_endpoint();
  return endpoint ? endpoint->address().to_string() : "unknown";
}

// --- start-up ---

void Connection::start_server(std::shared_ptr<const ServerConnectionConfig> config, bool over_capacity,
                              int fd) {
  raw_fd_ = fd;  // owned from here on, whatever happens next
  server_config_ = std::move(config);
  queue_.set_limit(server_config_->send_queue_limit);
  if (server_config_->metrics) queue_.set_bytes_gauge(server_config_->metrics->send_queue_bytes);
  overflow_ = server_config_->overflow;
  uncommon().http_reader = std::make_unique<HttpRequestReader>(server_config_->handshake.max_header_bytes,
                                                              server_config_->max_body_bytes);
  over_capacity_ = over_capacity;
  state_ = State::handshaking;
  arm_timer(timeouts().handshake, DeadlineAction::finish_timed_out);
  if (raw_fd_ < 0) return finish(std::make_error_code(std::errc::bad_file_descriptor));
  // The socket lives in the loop's Readiness set (no per-connection Asio
  // state or pending operation; no epoll_ctl per read). Bytes that arrived
  // before this are reported by the registration itself; over TLS, on_ready
  // drives the TLS handshake first.
  if (auto error = Readiness::of(loop()).add(raw_fd_, shared_from_this())) return finish(error);
}

void Connection::open_with(protocol::Role role, const protocol::CodecSettings& settings, std::string_view target,
                           std::optional<protocol::DeflateParams> deflate, std::string_view leftover) {
  protocol::CodecSettings codec_settings = settings;
  codec_settings.auto_pong = false;  // pongs go through the control lane (see on_ping)
  codec_.emplace(role, codec_settings, deflate);
  state_ = State::open;
  was_open_ = true;
  if (const auto* m = metrics(); m && m->opened) metrics_route_ = m->opened(target);
  last_message_at_ = std::chrono::steady_clock::now();
  arm_keepalive();
  // Copy: the leftover lives in the handshake's buffer, and the codec unmasks in place.
  std::vector<std::uint8_t> early(leftover.begin(), leftover.end());
  if (handler_) handler_->on_open(*this);
  if (finished_) return;
  if (!early.empty()) {
    early_input_ = true;
    receive_frames(early);
    early_input_ = false;
  }
  after_codec_activity();
}

// --- closing ---

void Connection::close(std::uint16_t code, std::string_view reason) {
  if (finished_) return;
  if (!codec_) return abort();  // no WebSocket yet: nothing to hand-shake
  if (codec_->close_sent()) return;
  close_code_sent_ = code;
  if (codec_->close(code, reason)) {
    close_code_sent_ = protocol::close_code::normal;
    (void)codec_->close(protocol::close_code::normal, {});
  }
  state_ = State::closing;
  arm_timer(timeouts().close, DeadlineAction::finish_timed_out);
  after_codec_activity();
}

void Connection::close_slow_consumer() {
  if (finished_ || !codec_ || codec_->close_sent()) return;
  if (const auto* m = metrics()) m->slow_consumer_closes->add();
  queue_.drop_pending_data();
  uncommon().close_error = std::make_error_code(std::errc::no_buffer_space);
  const auto code = handler_ ? handler_->slow_consumer_close() : ConnectionHandler::kSlowConsumer;
  close(code.code, code.reason);
}

void Connection::abort() { finish(std::make_error_code(std::errc::operation_canceled)); }

void Connection::arm_timer(std::chrono::milliseconds timeout, DeadlineAction action) {
  if (finished_) return;
  deadline_action_ = action;
  Deadlines::of(loop()).arm(*this, timeout);
}

void Connection::on_deadline() {
  auto self = shared_from_this();  // finish() may release the last other owner
  if (finished_) return;
  switch (deadline_action_) {
    case DeadlineAction::finish_timed_out: return finish(timed_out());
    case DeadlineAction::finish_clean: return finish({});
    case DeadlineAction::keepalive:
      if (state_ == State::open) on_keepalive_tick();
      return;
  }
}

void Connection::arm_keepalive() {
  if (timeouts().ping_interval.count() == 0 && timeouts().idle.count() == 0) {
    Deadlines::cancel(*this);
    return;
  }
  auto period = awaiting_pong_ ? timeouts().pong_timeout : timeouts().ping_interval;
  if (period.count() == 0 || (timeouts().idle.count() && timeouts().idle < period)) period = timeouts().idle;
  arm_timer(period, DeadlineAction::keepalive);
}

void Connection::on_keepalive_tick() {
  const auto now = std::chrono::steady_clock::now();
  if (timeouts().idle.count() && now - last_message_at_ >= timeouts().idle) return close(1001, "idle timeout");
  if (timeouts().ping_interval.count()) {
    if (awaiting_pong_) return finish(timed_out());  // pinged, and no sign of life since
    if (!received_since_tick_) {
      awaiting_pong_ = true;
      (void)ping();
    }
    received_since_tick_ = false;
  }
  if (!finished_) arm_keepalive();
}

std::uint16_t Connection::sent_close_code() const noexcept {
  if (!codec_ || !codec_->close_sent()) return protocol::close_code::abnormal;
  if (close_code_sent_ != 0) return close_code_sent_;
  if (codec_->failure()) return protocol::close_code_for(codec_->failure());
  // Otherwise the codec echoed the peer's close (no code: none was sent either).
  return codec_->close_received() ? codec_->peer_close_code() : protocol::close_code::abnormal;
}

void Connection::finish(std::error_code error) {
  if (finished_) return;
  finished_ = true;
  if (was_open_) {
    if (const auto* m = metrics(); m && m->closed) m->closed(metrics_route_, sent_close_code());
  }
  state_ = State::closed;
  note_close_error(error);
  Deadlines::cancel(*this);
  if (raw_fd_ >= 0) {
    if (auto* tls = stream_.server_tls()) tls->close_notify();
    Readiness::of(loop()).remove_closing(raw_fd_);  // before the number can be reused
    ::close(raw_fd_);
    raw_fd_ = -1;
  }
  stream_.close();
  // on_closed runs from the loop, never inside a callback that may still be on
  // the stack (Redis's freeClientAsync lesson); the callbacks are released after.
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    // Detached first: whatever on_closed does, nothing calls the handler again.
    ConnectionHandler* handler = std::exchange(self->handler_, nullptr);
    std::unique_ptr<ConnectionHandler> owned(std::exchange(self->owns_handler_, false) ? handler : nullptr);
    if (handler) handler->on_closed(*self, self->close_info());
  });
}

}  // namespace sluice::net
