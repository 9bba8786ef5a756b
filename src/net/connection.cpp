#include "sluice/net/connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <openssl/ssl.h>

#include "sluice/net/tls.hpp"
#include "sluice/protocol/close_code.hpp"
#include "sluice/protocol/error.hpp"

namespace sluice::net {

namespace {
constexpr std::size_t kReadBufferSize = 64 * 1024;

std::error_code timed_out() { return std::make_error_code(std::errc::timed_out); }
}  // namespace

Connection::Connection(AnyStream stream, protocol::Role role, ConnectionCallbacks callbacks,
                       ConnectionTimeouts timeouts, std::shared_ptr<asio::ssl::context> tls_context)
    : tls_context_(std::move(tls_context)),
      stream_(std::move(stream)),
      role_(role),
      callbacks_(std::move(callbacks)),
      timeouts_(timeouts),
      timer_(stream_.socket().get_executor()) {}

Connection::~Connection() = default;

std::string Connection::remote_address() const {
  boost::system::error_code ec;
  auto endpoint = const_cast<AnyStream&>(stream_).socket().remote_endpoint(ec);
  if (ec) return "unknown";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

// --- start-up ---

void Connection::start_server(std::shared_ptr<const ServerConnectionConfig> config) {
  server_config_ = std::move(config);
  timeouts_ = server_config_->timeouts;
  server_handshake_ = std::make_unique<protocol::ServerHandshake>(server_config_->handshake);
  boost::system::error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  state_ = State::handshaking;
  arm_timer(timeouts_.handshake, timed_out());
  if (stream_.is_tls()) {
    stream_.tls().async_handshake(asio::ssl::stream_base::server,
                                  [self = shared_from_this()](const boost::system::error_code& ec) {
                                    if (ec) return self->finish(ec);
                                    self->read_more();
                                  });
  } else {
    read_more();
  }
}

void Connection::start_client(const WsUrl& url, ClientOptions options) {
  if (options.handshake.host.empty()) options.handshake.host = url.host_header();
  if (options.handshake.target == "/") options.handshake.target = url.target;
  client_codec_settings_ = options.codec;
  client_handshake_ = std::make_unique<protocol::ClientHandshake>(std::move(options.handshake));
  timeouts_ = options.timeouts;
  arm_timer(timeouts_.connect, timed_out());

  auto resolver = std::make_shared<tcp::resolver>(timer_.get_executor());
  resolver->async_resolve(
      url.host, std::to_string(url.port),
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
                self->arm_timer(self->timeouts_.handshake, timed_out());
                const std::string& request = self->client_handshake_->request();
                self->write_buffer_.assign(request.begin(), request.end());
                self->write_offset_ = 0;
                self->writing_ = true;
                self->flush_after_raw_ = false;
                self->write_some();
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
  if (reading_ || finished_) return;
  if (read_buffer_.empty()) read_buffer_.resize(kReadBufferSize);
  reading_ = true;
  stream_.async_read_some(asio::buffer(read_buffer_),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                            self->reading_ = false;
                            if (self->finished_) return;
                            if (ec) {
                              // EOF after a completed close handshake is the normal end.
                              const bool clean = self->codec_ && self->codec_->close_received();
                              return self->finish(clean ? std::error_code{} : std::error_code(ec));
                            }
                            self->handle_bytes({self->read_buffer_.data(), n});
                            self->read_more();
                          });
}

void Connection::handle_bytes(std::span<std::uint8_t> bytes) {
  const std::span<const char> chars(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (state_ == State::handshaking && server_handshake_ && !codec_) {
    const auto status = server_handshake_->feed(chars);
    if (status == protocol::HandshakeStatus::need_more) return;
    const auto& decision = server_handshake_->decision();
    if (status == protocol::HandshakeStatus::rejected) {
      close_info_.error = decision.error;
      state_ = State::closing;
      write_raw(decision.response, /*finish_after=*/true);
      return;
    }
    subprotocol_ = decision.subprotocol;
    write_raw(decision.response, /*finish_after=*/false);
    return open_with(protocol::Role::server, server_config_->codec, decision.deflate,
                     server_handshake_->leftover());
  }
  if (state_ == State::handshaking && client_handshake_ && !codec_) {
    const auto status = client_handshake_->feed(chars);
    if (status == protocol::HandshakeStatus::need_more) return;
    if (status == protocol::HandshakeStatus::rejected) {
      close_info_.http_status = client_handshake_->response().result_int();
      return finish(client_handshake_->error());
    }
    subprotocol_ = client_handshake_->subprotocol();
    return open_with(protocol::Role::client, *client_codec_settings_, client_handshake_->deflate(),
                     client_handshake_->leftover());
  }
  if (!codec_) return;
  (void)codec_->receive(bytes, *this);  // a failure is visible in codec_->failure()
  after_codec_activity();
}

void Connection::open_with(protocol::Role role, const protocol::CodecSettings& settings,
                           std::optional<protocol::DeflateParams> deflate, std::string_view leftover) {
  timer_.cancel();
  codec_.emplace(role, settings, deflate);
  state_ = State::open;
  close_info_.was_open = true;
  // Copy: the leftover lives in the handshake's buffer, and the codec unmasks in place.
  std::vector<std::uint8_t> early(leftover.begin(), leftover.end());
  if (callbacks_.on_open) callbacks_.on_open(*this);
  if (finished_) return;
  if (!early.empty()) (void)codec_->receive(early, *this);
  after_codec_activity();
}

void Connection::on_message(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  if (!finished_ && callbacks_.on_message) callbacks_.on_message(*this, type, payload);
}
void Connection::on_ping(std::span<const std::uint8_t> payload) {
  if (!finished_ && callbacks_.on_ping) callbacks_.on_ping(*this, payload);
}
void Connection::on_pong(std::span<const std::uint8_t> payload) {
  if (!finished_ && callbacks_.on_pong) callbacks_.on_pong(*this, payload);
}
void Connection::on_close(std::uint16_t code, std::string_view reason) {
  close_info_.code = code;
  close_info_.reason.assign(reason);
}

// --- writing ---

std::error_code Connection::send(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  if (!codec_ || finished_) return protocol::Error::connection_closed;
  auto ec = codec_->send(type, payload);
  if (!ec) flush();
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

std::error_code Connection::ping(std::span<const std::uint8_t> payload) {
  if (!codec_ || finished_) return protocol::Error::connection_closed;
  auto ec = codec_->ping(payload);
  if (!ec) flush();
  return ec;
}

void Connection::after_codec_activity() {
  if (finished_ || !codec_) return;
  if (codec_->close_sent() && state_ == State::open) state_ = State::closing;
  if (codec_->should_close_transport()) {
    state_ = State::closing;
    if (codec_->failure() && !close_info_.error) close_info_.error = codec_->failure();
  }
  flush();
}

void Connection::flush() {
  if (writing_ || finished_) return;
  if (codec_ && codec_->has_output()) {
    // Everything queued since the last write goes out in one write (corking).
    codec_->take_output(write_buffer_);
    write_offset_ = 0;
    writing_ = true;
    flush_after_raw_ = false;
    write_some();
    return;
  }
  if (!codec_ || !codec_->should_close_transport()) return;
  // Close handshake done (or failed) and flushed: the server closes TCP first
  // (RFC 6455 §7.1.1); a client half-closes and waits for the server's EOF.
  if (role_ == protocol::Role::server || codec_->failure()) return finish(close_info_.error);
  if (!shut_down_send_) {
    shut_down_send_ = true;
    boost::system::error_code ignored;
    if (!stream_.is_tls()) stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    arm_timer(timeouts_.close, {});  // no EOF in time: end anyway, the handshake itself was clean
  }
}

void Connection::write_raw(const std::string& bytes, bool finish_after) {
  write_buffer_.assign(bytes.begin(), bytes.end());
  write_offset_ = 0;
  writing_ = true;
  flush_after_raw_ = finish_after;
  write_some();
}

void Connection::write_some() {
  stream_.async_write_some(
      asio::buffer(write_buffer_.data() + write_offset_, write_buffer_.size() - write_offset_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (ec) {
          self->writing_ = false;
          return self->finish(ec);
        }
        self->write_offset_ += n;
        if (self->write_offset_ < self->write_buffer_.size()) return self->write_some();
        self->writing_ = false;
        if (self->flush_after_raw_) return self->finish(self->close_info_.error);
        self->flush();  // pick up whatever was queued while this write ran
      });
}

// --- closing ---

void Connection::close(std::uint16_t code, std::string_view reason) {
  if (finished_) return;
  if (!codec_) return abort();  // no WebSocket yet: nothing to hand-shake
  if (codec_->close_sent()) return;
  if (codec_->close(code, reason)) (void)codec_->close(protocol::close_code::normal, {});
  state_ = State::closing;
  arm_timer(timeouts_.close, timed_out());
  after_codec_activity();
}

void Connection::abort() { finish(std::make_error_code(std::errc::operation_canceled)); }

void Connection::arm_timer(std::chrono::milliseconds timeout, std::error_code error) {
  timer_.expires_after(timeout);
  timer_.async_wait([self = shared_from_this(), error](const boost::system::error_code& ec) {
    if (!ec) self->finish(error);
  });
}

void Connection::finish(std::error_code error) {
  if (finished_) return;
  finished_ = true;
  state_ = State::closed;
  if (error && !close_info_.error) close_info_.error = error;
  timer_.cancel();
  stream_.close();
  // on_closed runs from the loop, never inside a callback that may still be on
  // the stack (Redis's freeClientAsync lesson); the callbacks are released after.
  asio::post(timer_.get_executor(), [self = shared_from_this()] {
    ConnectionCallbacks callbacks = std::move(self->callbacks_);
    self->callbacks_ = {};
    if (callbacks.on_closed) callbacks.on_closed(*self, self->close_info_);
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
    connection = std::make_shared<Connection>(AnyStream(AnyStream::TlsStream(io, *options.tls)),
                                              protocol::Role::client, std::move(callbacks), options.timeouts,
                                              options.tls);
  } else {
    connection = std::make_shared<Connection>(AnyStream(tcp::socket(io)), protocol::Role::client,
                                              std::move(callbacks), options.timeouts);
  }
  asio::post(io, [connection, url, options = std::move(options)]() mutable {
    connection->start_client(url, std::move(options));
  });
  return connection;
}

}  // namespace sluice::net
