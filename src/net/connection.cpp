#include "sluice/net/connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/status.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

#include "sluice/net/tls.hpp"
#include "sluice/protocol/close_code.hpp"
#include "sluice/protocol/error.hpp"

namespace sluice::net {

namespace {
constexpr std::size_t kReadBufferSize = 64 * 1024;

std::error_code timed_out() { return std::make_error_code(std::errc::timed_out); }

// Plain-TCP reads land in one buffer per thread: an idle connection holds no
// receive buffer at all (uWebSockets' trick), and the codec consumes the bytes
// before the next read on this thread can reuse it.
std::span<std::uint8_t> thread_read_buffer() {
  thread_local std::vector<std::uint8_t> buffer(kReadBufferSize);
  return buffer;
}

// The iovecs of one gather write: filled and consumed within one call, so one
// array per thread serves every connection of its loop.
iovec* thread_iovecs() {
  thread_local std::array<iovec, SendQueue::kMaxGatherBuffers> iovecs;
  return iovecs.data();
}

// A refusal before any handler ran, with the standard reason phrase (RFC 9110 §15).
std::string plain_response(unsigned status, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  const auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  std::string extra;
  for (const auto& [name, value] : headers) extra += name + ": " + value + "\r\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size() + 1) +
         "\r\n" + extra + "Connection: close\r\n\r\n" + std::string(body) + "\n";
}
}  // namespace

// The answer to a plain HTTP request given before the handler returned.
// `current` is per thread: set on a loop thread around the handler call only.
struct InlineAnswer {
  const Connection* connection = nullptr;
  bool given = false;
  bool close = false;
  std::string response;
  static thread_local InlineAnswer* current;
};
thread_local InlineAnswer* InlineAnswer::current = nullptr;

// Connections with output queued during the current handler, written once it
// has returned: one posted handler per loop turn instead of one per connection
// (under fan-out, a delivery batch touches every subscriber). Per io_context;
// used on its thread only.
class WriteBatch : public asio::io_context::service {
 public:
  static asio::io_context::id id;
  explicit WriteBatch(asio::io_context& io) : asio::io_context::service(io), io_(io) {}

  void add(std::shared_ptr<Connection> connection) {
    pending_.push_back(std::move(connection));
    if (posted_) return;
    posted_ = true;
    asio::post(io_, [this] { run(); });
  }

 private:
  void shutdown() override { pending_.clear(); }

  void run() {
    posted_ = false;
    // Whoever is scheduled while these write goes into the next batch.
    std::vector<std::shared_ptr<Connection>> batch;
    batch.swap(pending_);
    for (auto& connection : batch) connection->run_scheduled_write();
    batch.clear();
    if (pending_.empty()) pending_.swap(batch);  // keep the capacity
  }

  asio::io_context& io_;
  std::vector<std::shared_ptr<Connection>> pending_;
  bool posted_ = false;
};

asio::io_context::id WriteBatch::id;

namespace {
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
  if (role == protocol::Role::client) client_ = std::make_unique<ClientSide>(ClientSide{timeouts, {}, nullptr});
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

const ConnectionTimeouts& Connection::timeouts() const noexcept {
  static const ConnectionTimeouts defaults;
  if (server_config_) return server_config_->timeouts;
  return client_ ? client_->timeouts : defaults;
}

CloseInfo Connection::close_info() const {
  // Assembled when it is reported, from what the connection keeps anyway.
  CloseInfo info;
  if (codec_) {
    info.code = codec_->peer_close_code();
    info.reason = codec_->peer_close_reason();
  }
  info.error = close_error_;
  info.was_open = was_open_;
  if (client_) info.http_status = client_->http_status;
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

void Connection::start_server(std::shared_ptr<const ServerConnectionConfig> config, bool over_capacity) {
  server_config_ = std::move(config);
  queue_.set_limit(server_config_->send_queue_limit);
  if (server_config_->metrics) queue_.set_bytes_gauge(server_config_->metrics->send_queue_bytes);
  overflow_ = server_config_->overflow;
  http_reader_ = std::make_unique<HttpRequestReader>(server_config_->handshake.max_header_bytes,
                                                     server_config_->max_body_bytes);
  over_capacity_ = over_capacity;
  boost::system::error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  state_ = State::handshaking;
  arm_timer(timeouts().handshake, DeadlineAction::finish_timed_out);
  if (!stream_.is_tls()) {
    // Plain TCP: the socket leaves Asio's reactor for the loop's Readiness set
    // (no per-connection Asio state or pending operation; no epoll_ctl per read).
    boost::system::error_code ec;
    const int fd = stream_.socket().release(ec);
    if (ec || fd < 0) return finish(ec ? std::error_code(ec) : std::make_error_code(std::errc::bad_file_descriptor));
    raw_fd_ = fd;
    const int flags = ::fcntl(fd, F_GETFL, 0);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      return finish(std::error_code(errno, std::system_category()));
    }
    // Bytes that arrived before this are reported by the registration itself.
    if (auto error = Readiness::of(loop()).add(fd, shared_from_this())) return finish(error);
    return;
  }
  stream_.tls().async_handshake(asio::ssl::stream_base::server,
                                [self = shared_from_this()](const boost::system::error_code& ec) {
                                  if (ec) return self->finish(ec);
                                  self->read_more();
                                });
}

void Connection::start_client(const WsUrl& url, ClientOptions options) {
  if (options.handshake.host.empty()) options.handshake.host = url.host_header();
  if (options.handshake.target == "/") options.handshake.target = url.target;
  if (!client_) client_ = std::make_unique<ClientSide>();
  client_->timeouts = options.timeouts;
  client_->codec = options.codec;
  client_->handshake = std::make_unique<protocol::ClientHandshake>(std::move(options.handshake));
  if (const auto bad = client_->handshake->error()) {
    // Nothing is sent; reported like any failure before the open, from the loop.
    asio::post(stream_.get_executor(), [self = shared_from_this(), bad] { self->finish(bad); });
    return;
  }
  queue_.set_limit(options.send_queue_limit);
  arm_timer(timeouts().connect, DeadlineAction::finish_timed_out);

  auto resolver = std::make_shared<tcp::resolver>(stream_.get_executor());
  const bool redirected = !options.dial_host.empty();
  resolver->async_resolve(
      redirected ? options.dial_host : url.host, std::to_string(redirected ? options.dial_port : url.port),
      [self = shared_from_this(), resolver, host = url.host](const boost::system::error_code& ec,
                                                              const tcp::resolver::results_type& results) {
        if (ec) return self->finish(ec);
        if (self->finished_) return;
        asio::async_connect(
            self->stream_.socket(), results,
            [self, host](const boost::system::error_code& connect_ec, const tcp::endpoint&) {
              if (connect_ec) return self->finish(connect_ec);
              if (self->finished_) return;
              boost::system::error_code ignored;
              self->stream_.socket().set_option(tcp::no_delay(true), ignored);
              auto send_request = [self] {
                self->state_ = State::handshaking;
                self->arm_timer(self->timeouts().handshake, DeadlineAction::finish_timed_out);
                self->write_raw(self->client_->handshake->request(), /*finish_after=*/false);
                self->read_more();
              };
              if (!self->stream_.is_tls()) return send_request();
              auto& tls = self->stream_.tls();
              // SNI, and verification of the certificate against the host name.
              SSL_set_tlsext_host_name(tls.native_handle(), host.c_str());
              tls.set_verify_callback(asio::ssl::host_name_verification(host));
              tls.async_handshake(asio::ssl::stream_base::client,
                                  [self, send_request](const boost::system::error_code& tls_ec) {
                                    if (tls_ec) return self->finish(tls_ec);
                                    if (self->finished_) return;
                                    send_request();
                                  });
            });
      });
}

// --- reading ---

void Connection::read_more() {
  if (reading_ || finished_ || raw_fd_ >= 0) return;  // a Readiness socket is always read (on_ready)
  reading_ = true;
  if (stream_.is_tls()) {
    auto& tls = stream_.tls_state();
    if (tls.read_buffer.empty()) tls.read_buffer.resize(16 * 1024);
    stream_.async_read_some(asio::buffer(tls.read_buffer),
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                              self->reading_ = false;
                              if (self->finished_) return;
                              if (ec) return self->on_read_error(ec);
                              self->handle_input({self->stream_.tls_state().read_buffer.data(), n});
                              self->read_more();
                            });
    return;
  }
  // Plain TCP: wait for readability, then read into the per-thread buffer.
  stream_.socket().async_wait(Socket::wait_read,
                              [self = shared_from_this()](const boost::system::error_code& ec) {
                                self->reading_ = false;
                                if (self->finished_) return;
                                if (ec) return self->on_read_error(ec);
                                self->on_readable();
                              });
}

void Connection::on_ready(std::uint32_t events) {
  if (finished_) return;
  if (awaiting_writable_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    awaiting_writable_ = false;
    start_write();
    if (finished_) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    read_until_blocked((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }
}

void Connection::read_until_blocked(bool peer_closed) {
  // Edge-triggered: no further report comes for bytes already there, so read
  // until the kernel has no more (a short read says so too). When the peer's
  // FIN came in the same wake-up as its last bytes, a short read is not the
  // end: read on to the EOF, or no report would ever come for it (the socket
  // would sit in CLOSE_WAIT until a timeout, or for ever without one).
  const auto buffer = thread_read_buffer();
  while (!finished_) {
    const ssize_t n = ::recv(raw_fd_, buffer.data(), buffer.size(), 0);
    if (n > 0) {
      handle_input(buffer.first(static_cast<std::size_t>(n)));
      if (static_cast<std::size_t>(n) < buffer.size() && !peer_closed) return;
      continue;
    }
    if (n == 0) return on_read_error(asio::error::eof);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return on_read_error(boost::system::error_code(errno, boost::system::system_category()));
  }
}

void Connection::on_readable() {
  auto buffer = thread_read_buffer();
  boost::system::error_code ec;
  auto& socket = stream_.socket();
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  const std::size_t n = socket.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return read_more();
  if (ec) return on_read_error(ec);
  handle_input(buffer.first(n));
  read_more();
}

void Connection::handle_input(std::span<std::uint8_t> bytes) {
  // Cork: whatever the bytes make us send (replies, pongs, a close frame) goes
  // out in one gather write after they are all handled.
  handling_input_ = true;
  handle_bytes(bytes);
  handling_input_ = false;
  if (write_wanted_) start_write();
}

void Connection::on_read_error(const boost::system::error_code& ec) {
  // EOF after a completed close handshake is the normal end.
  const bool clean = codec_ && codec_->close_received();
  finish(clean ? std::error_code{} : std::error_code(ec));
}

void Connection::handle_bytes(std::span<std::uint8_t> bytes) {
  if (awaiting_pong_) {
    // The answer to our ping (or any sign of life): the next ping is due one
    // interval from now, not when the pong deadline would have passed.
    awaiting_pong_ = false;
    received_since_tick_ = false;
    if (state_ == State::open) arm_keepalive();
  } else {
    received_since_tick_ = true;
  }
  const std::span<const char> chars(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (state_ == State::handshaking && http_reader_ && !codec_) {
    http_reader_->append(chars);
    return process_requests();
  }
  if (state_ == State::handshaking && client_ && client_->handshake && !codec_) {
    const auto status = client_->handshake->feed(chars);
    if (status == protocol::HandshakeStatus::need_more) return;
    if (status == protocol::HandshakeStatus::rejected) {
      client_->http_status = static_cast<std::uint16_t>(client_->handshake->response().result_int());
      return finish(client_->handshake->error());
    }
    subprotocol_ = client_->handshake->subprotocol();
    return open_with(protocol::Role::client, client_->codec, client_->handshake->deflate(),
                     client_->handshake->leftover());
  }
  if (!codec_ || state_ == State::closed) return;
  if (const auto* m = metrics()) m->bytes_received->add(bytes.size());
  (void)codec_->receive(bytes, *this);  // a failure is visible in codec_->failure()
  after_codec_activity();
}

void Connection::reject_request(const std::string& response, std::error_code error) {
  close_error_ = error;
  state_ = State::closing;
  http_reader_.reset();
  write_raw(response, /*finish_after=*/true);
}

void Connection::process_requests() {
  while (!finished_ && !codec_ && http_reader_ && !http_busy_ && state_ == State::handshaking) {
    const auto status = http_reader_->next();
    if (status == HttpRequestReader::Status::need_more) return;
    if (status == HttpRequestReader::Status::error) {
      return reject_request(plain_response(http_reader_->error_status(), http_reader_->error_message()),
                            protocol::Error::bad_http_request);
    }
    auto& request = http_reader_->request();
    // Only a request with an Upgrade field can be a WebSocket upgrade: the
    // Beast header the handshake checks is built for those alone.
    std::optional<boost::beast::http::request_header<>> head;
    if (!server_config_->http_handler || !request.field("Upgrade").empty()) head.emplace(request.beast_header());
    if (server_config_->http_handler && !(head && protocol::is_websocket_upgrade(*head))) {
      // Plain HTTP: one request at a time, answered (maybe later) through the responder.
      http_busy_ = true;
      Deadlines::cancel(*this);  // the answer re-arms it (a slow handler is not a slow client)
      // Over the connection limit, plain HTTP (probes above all) is still answered,
      // one request per connection, so such a connection cannot hold its place.
      const bool keep_alive = request.keep_alive() && !over_capacity_;
      auto responder = [self = shared_from_this(), keep_alive](std::string response, bool close) {
        close = close || !keep_alive;
        // Answered before the handler returned (on this loop, so the slot is
        // this thread's): the loop below takes it at once, no post.
        if (InlineAnswer* answer = InlineAnswer::current; answer && answer->connection == self.get() && !answer->given) {
          answer->given = true;
          answer->response = std::move(response);
          answer->close = close;
          return;
        }
        asio::post(self->stream_.get_executor(), [self, response = std::move(response), close]() mutable {
          if (self->take_http_response(std::move(response), close)) self->process_requests();
        });
      };
      InlineAnswer answer;
      answer.connection = this;
      InlineAnswer* outer = std::exchange(InlineAnswer::current, &answer);
      server_config_->http_handler(*this, request, std::move(responder));
      InlineAnswer::current = outer;
      if (!answer.given || !take_http_response(std::move(answer.response), answer.close)) return;
      continue;  // the next pipelined request, if one is buffered: answers are corked into one write
    }
    if (over_capacity_) {
      return reject_request(plain_response(503, "too many connections"),
                            std::make_error_code(std::errc::too_many_files_open));
    }
    std::optional<RouteRefusal> refusal;
    if (server_config_->websocket_route) refusal = server_config_->websocket_route(request);
    if (!refusal && handler_) refusal = handler_->on_upgrade_request(*this, request);
    if (refusal) {
      return reject_request(plain_response(refusal->status, refusal->message, refusal->headers),
                            refusal->status == 404 ? std::make_error_code(std::errc::no_such_file_or_directory)
                                                   : make_error_code(protocol::Error::bad_http_request));
    }
    auto decision = protocol::accept_upgrade(*head, server_config_->handshake);
    if (decision.error) {
      if (const auto* m = metrics()) m->invalid_upgrades->add();
      return reject_request(decision.response, decision.error);
    }
    subprotocol_ = decision.subprotocol;
    request_target_ = std::string(request.target());
    write_raw(decision.response, /*finish_after=*/false);
    const std::string leftover(http_reader_->leftover());
    http_reader_.reset();  // its buffers are large; the head is no longer needed
    return open_with(protocol::Role::server, server_config_->codec, decision.deflate, leftover);
  }
}

bool Connection::take_http_response(std::string response, bool close) {
  if (finished_) return false;
  http_busy_ = false;
  if (close) {
    state_ = State::closing;
    http_reader_.reset();
    write_raw(std::move(response), /*finish_after=*/true);
    return false;
  }
  queue_.push_unbounded(OutChunk::owned(std::move(response)));
  schedule_write();
  arm_timer(timeouts().handshake, DeadlineAction::finish_timed_out);  // bounds the wait for the next request on keep-alive
  return true;  // pipelined requests may be buffered: the caller goes on with them
}

void Connection::open_with(protocol::Role role, const protocol::CodecSettings& settings,
                           std::optional<protocol::DeflateParams> deflate, std::string_view leftover) {
  protocol::CodecSettings codec_settings = settings;
  codec_settings.auto_pong = false;  // pongs go through the control lane (see on_ping)
  codec_.emplace(role, codec_settings, deflate);
  state_ = State::open;
  was_open_ = true;
  if (const auto* m = metrics(); m && m->opened) m->opened(request_target_);
  last_message_at_ = std::chrono::steady_clock::now();
  arm_keepalive();
  // Copy: the leftover lives in the handshake's buffer, and the codec unmasks in place.
  std::vector<std::uint8_t> early(leftover.begin(), leftover.end());
  if (handler_) handler_->on_open(*this);
  if (finished_) return;
  if (!early.empty()) {
    early_input_ = true;
    (void)codec_->receive(early, *this);
    early_input_ = false;
  }
  after_codec_activity();
}

void Connection::on_message(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  last_message_at_ = std::chrono::steady_clock::now();
  if (const auto* m = metrics()) m->messages_received->add();
  if (!finished_ && handler_) handler_->on_message(*this, type, payload);
}
void Connection::on_ping(std::span<const std::uint8_t> payload) {
  if (!finished_ && !codec_->close_sent()) {
    std::vector<std::uint8_t> pong;
    protocol::append_frame(pong, role_, protocol::Opcode::pong, payload);
    // A ping that came with the upgrade request: its pong must follow the 101,
    // which waits in the data lane (a control frame would overtake it). The
    // bytes that came with the request bound these pongs.
    if (early_input_) {
      queue_.push_unbounded(OutChunk::owned(std::move(pong)));
    } else if (queue_.push_control(OutChunk::owned(std::move(pong))) == SendQueue::Result::over_limit) {
      // A peer that pings but never reads: it is a slow consumer too.
      return close_slow_consumer();
    }
  }
  if (!finished_ && handler_) handler_->on_ping(*this, payload);
}
void Connection::on_pong(std::span<const std::uint8_t> payload) {
  if (!finished_ && handler_) handler_->on_pong(*this, payload);
}

// --- writing ---

std::error_code Connection::send(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  if (!codec_ || finished_) return protocol::Error::connection_closed;
  auto ec = codec_->send(type, payload);
  if (!ec) {
    if (const auto* m = metrics()) m->messages_sent->add();
    flush();
  }
  if (!ec && finished_) return protocol::Error::connection_closed;
  return ec;
}

std::error_code Connection::send_text(std::string_view text) {
  return send(protocol::MessageType::text, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

std::error_code Connection::send_fragment(protocol::MessageType type, std::span<const std::uint8_t> payload,
                                          bool first, bool fin) {
  if (!codec_ || finished_) return protocol::Error::connection_closed;
  auto ec = codec_->send_fragment(type, payload, first, fin);
  if (!ec) flush();
  return ec;
}

SendStatus Connection::send_shared(const std::shared_ptr<const std::string>& frame, std::size_t messages) {
  const SendStatus status = send_shared_all({&frame, 1});
  if (status == SendStatus::queued && messages > 1) {
    if (const auto* m = metrics()) m->messages_sent->add(messages - 1);
  }
  return status;
}

SendStatus Connection::send_shared_all(std::span<const std::shared_ptr<const std::string>> frames) {
  if (!codec_ || finished_ || codec_->close_sent()) return SendStatus::closed;
  take_codec_output();  // keep order with anything the codec queued before
  if (finished_ || codec_->close_sent()) return SendStatus::closed;
  std::size_t bytes = 0;
  for (const auto& frame : frames) bytes += frame->size();
  if (!queue_.accepts(bytes) && !stream_.is_tls() && !awaiting_writable_) {
    // Full before this turn's write: hand what is queued to the kernel first
    // (a big delivery batch is not a slow consumer while the socket takes it).
    start_write();
    if (finished_ || codec_->close_sent()) return SendStatus::closed;
  }
  if (!queue_.accepts(bytes)) {
    if (overflow_ == OverflowPolicy::drop) return SendStatus::dropped;
    close_slow_consumer();
    return SendStatus::closed;
  }
  for (const auto& frame : frames) queue_.push_unbounded(OutChunk::shared(frame));  // accepted as a whole
  if (const auto* m = metrics()) m->messages_sent->add(frames.size());
  schedule_write();
  return SendStatus::queued;
}

std::error_code Connection::ping(std::span<const std::uint8_t> payload) {
  if (!codec_ || finished_ || codec_->close_sent()) return protocol::Error::connection_closed;
  std::vector<std::uint8_t> frame;
  protocol::append_frame(frame, role_, protocol::Opcode::ping, payload.first(std::min<std::size_t>(payload.size(), 125)));
  if (queue_.push_control(OutChunk::owned(std::move(frame))) == SendQueue::Result::over_limit) {
    close_slow_consumer();
    return protocol::Error::connection_closed;
  }
  schedule_write();
  return {};
}

void Connection::notify_when_drained() {
  if (finished_) return;
  if (queue_.bytes() > queue_.limit() / 2) {
    drain_wanted_ = true;
    return;
  }
  post_on_drained();
}

void Connection::post_on_drained() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->finished_ && self->handler_) self->handler_->on_drained(*self);
  });
}

void Connection::after_codec_activity() {
  if (finished_ || !codec_) return;
  if (codec_->close_sent() && state_ == State::open) state_ = State::closing;
  if (codec_->should_close_transport()) {
    state_ = State::closing;
    if (codec_->failure() && !close_error_) close_error_ = codec_->failure();
  }
  flush();
}

void Connection::take_codec_output() {
  if (finished_ || !codec_ || !codec_->has_output()) return;
  std::vector<std::uint8_t> bytes;
  codec_->take_output(bytes);
  // Once closing, what the codec emits ends with the close frame: it must go out.
  if (codec_->close_sent()) {
    queue_.push_unbounded(OutChunk::owned(std::move(bytes)));
  } else if (queue_.push(OutChunk::owned(std::move(bytes))) == SendQueue::Result::over_limit) {
    close_slow_consumer();  // a peer that sends requests but never reads the replies
  }
}

void Connection::flush() {
  take_codec_output();
  schedule_write();
}

void Connection::schedule_write() {
  if (finished_) return;
  write_wanted_ = true;
  // Inside handle_input() the write follows the handled bytes; otherwise after
  // the current handler, so everything queued meanwhile (a whole delivery
  // batch) goes out in one gather write.
  if (handling_input_ || write_posted_) return;
  write_posted_ = true;
  asio::use_service<WriteBatch>(loop()).add(shared_from_this());
}

void Connection::run_scheduled_write() {
  write_posted_ = false;
  if (write_wanted_) start_write();
}

void Connection::start_write() {
  write_wanted_ = false;
  if (finished_) return;
  if (stream_.is_tls()) return start_tls_write();
  if (awaiting_writable_) return;  // the wait's handler (or on_ready) writes
  const int fd = raw_fd_ >= 0 ? raw_fd_ : stream_.socket().native_handle();
  while (queue_.has_pending()) {
    iovec* iov = thread_iovecs();
    std::size_t offered = 0;
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = queue_.gather(iov, SendQueue::kMaxGatherBuffers, offered);
    const ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return finish(std::error_code(errno, std::system_category()));
    }
    queue_.consume(static_cast<std::size_t>(n));
    if (was_open_) {
      if (const auto* m = metrics()) m->bytes_sent->add(static_cast<std::size_t>(n));
    }
    if (static_cast<std::size_t>(n) < offered) break;  // the socket buffer is full
  }
  if (queue_.has_pending()) {
    // Backpressure: retry when the kernel takes more.
    awaiting_writable_ = true;
    if (raw_fd_ >= 0) return after_write();  // on_ready(EPOLLOUT) resumes
    stream_.socket().async_wait(Socket::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
      self->awaiting_writable_ = false;
      if (self->finished_) return;
      if (ec) return self->finish(ec);
      self->start_write();
    });
  }
  after_write();
}

void Connection::start_tls_write() {
  auto& buffers = stream_.tls_state().write_buffers;
  if (!queue_.start_write(buffers)) {
    if (!queue_.writing()) after_write();
    return;
  }
  asio::async_write(stream_, buffers, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
    self->queue_.finish_write();
    if (self->was_open_) {
      if (const auto* m = self->metrics()) m->bytes_sent->add(n);
    }
    auto& done = self->stream_.tls_state().write_buffers;
    done.clear();
    done.shrink_to_fit();  // up to 4 KiB: not kept by an idle connection
    if (self->finished_) return;
    if (ec) return self->finish(ec);
    self->start_write();  // pick up whatever was queued while this write ran
  });
}

void Connection::after_write() {
  if (drain_wanted_ && queue_.bytes() <= queue_.limit() / 2) {
    drain_wanted_ = false;
    post_on_drained();  // posted: on_drained may queue more, and this runs inside a write
  }
  if (!queue_.empty()) return;
  // Nothing left to write.
  if (finish_after_write_) return finish(close_error_);
  if (!codec_ || !codec_->should_close_transport()) return;
  // Close handshake done (or failed) and flushed: the server closes TCP first
  // (RFC 6455 §7.1.1); a client half-closes and waits for the server's EOF.
  if (role_ == protocol::Role::server || codec_->failure()) return finish(close_error_);
  if (!shut_down_send_) {
    shut_down_send_ = true;
    boost::system::error_code ignored;
    if (raw_fd_ >= 0) {
      ::shutdown(raw_fd_, SHUT_WR);
    } else if (!stream_.is_tls()) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    arm_timer(timeouts().close, DeadlineAction::finish_clean);  // no EOF in time: end anyway, the handshake itself was clean
  }
}

void Connection::write_raw(std::string bytes, bool finish_after) {
  queue_.push_unbounded(OutChunk::owned(std::move(bytes)));
  finish_after_write_ = finish_after;
  schedule_write();
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
  close_error_ = std::make_error_code(std::errc::no_buffer_space);
  close(slow_close_code_, slow_close_reason_);
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
    if (const auto* m = metrics(); m && m->closed) m->closed(request_target_, sent_close_code());
  }
  state_ = State::closed;
  if (error && !close_error_) close_error_ = error;
  Deadlines::cancel(*this);
  if (raw_fd_ >= 0) {
    Readiness::of(loop()).remove(raw_fd_);  // before the number can be reused
    ::shutdown(raw_fd_, SHUT_RDWR);
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

std::shared_ptr<Connection> connect(asio::io_context& io, const WsUrl& url, ClientOptions options,
                                    ConnectionCallbacks callbacks) {
  std::shared_ptr<Connection> connection;
  if (url.secure) {
    if (!options.tls) {
      std::string error;
      options.tls = make_client_tls_context({}, error);
      if (!options.tls) options.tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    }
    connection = std::make_shared<Connection>(AnyStream(AnyStream::TlsStream(io, *options.tls), options.tls),
                                              protocol::Role::client, std::move(callbacks), options.timeouts);
  } else {
    connection = std::make_shared<Connection>(AnyStream(Socket(io)), protocol::Role::client,
                                              std::move(callbacks), options.timeouts);
  }
  asio::post(io, [connection, url, options = std::move(options)]() mutable {
    connection->start_client(url, std::move(options));
  });
  return connection;
}

}  // namespace sluice::net
