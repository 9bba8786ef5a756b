// Connection, reading: server reads (plain or TLS, the loop's Readiness),
// client reads (an Asio wait, or Asio's TLS), and what the bytes become
// (handshake input or frames for the codec, whose callbacks are here too).
#include "sluice/net/connection.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace sluice::net {

namespace {
constexpr std::size_t kReadBufferSize = 64 * 1024;

// Plain-TCP reads land in one buffer per thread: an idle connection holds no
// receive buffer at all (uWebSockets' trick), and the codec consumes the bytes
// before the next read on this thread can reuse it.
std::span<std::uint8_t> thread_read_buffer() {
  thread_local std::vector<std::uint8_t> buffer(kReadBufferSize);
  return buffer;
}
}  // namespace

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
  TlsSession* tls = stream_.server_tls();
  if (tls) {
    if (!tls->established() && !advance_tls_handshake(*tls)) return;
    // A TLS write may wait for the socket to be readable and a read for it to
    // be writable (records the other way): on any report, resume a waiting
    // write, then read.
    events |= EPOLLOUT;
  }
  if (awaiting_writable_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    awaiting_writable_ = false;
    start_write();
    if (finished_) return;
  }
  if (tls) return read_tls_until_blocked(*tls);
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    read_until_blocked((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }
}

bool Connection::advance_tls_handshake(TlsSession& tls) {
  const auto step = tls.handshake();
  if (step.error) {
    finish(step.error);
    return false;
  }
  return tls.established();  // else it waits for the socket: the next report resumes it
}

void Connection::read_tls_until_blocked(TlsSession& tls) {
  // Until OpenSSL wants the socket: then the kernel had no more (or the
  // session waits to write), and edge-triggered readiness reports the change.
  const auto buffer = thread_read_buffer();
  while (!finished_) {
    const auto got = tls.read(buffer);
    if (got.bytes > 0) {
      handle_input(buffer.first(got.bytes));
      continue;
    }
    if (got.error) return on_read_error(got.error);
    return;
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
  if (state_ == State::handshaking && http_reader() && !codec_) {
    http_reader()->append(chars);
    return process_requests();
  }
  if (ClientSide* side = client(); state_ == State::handshaking && side && side->handshake && !codec_) {
    const auto status = side->handshake->feed(chars);
    if (status == protocol::HandshakeStatus::need_more) return;
    if (status == protocol::HandshakeStatus::rejected) {
      side->http_status = static_cast<std::uint16_t>(side->handshake->response().result_int());
      return finish(side->handshake->error());
    }
    uncommon_->subprotocol = side->handshake->subprotocol();
    return open_with(protocol::Role::client, side->codec, {}, side->handshake->deflate(), side->handshake->leftover());
  }
  if (!codec_ || state_ == State::closed) return;
  if (const auto* m = metrics()) m->bytes_received->add(bytes.size());
  receive_frames(bytes);
  after_codec_activity();
}

struct Connection::CodecEvents final : protocol::CodecHandler {
  explicit CodecEvents(Connection& c) : connection(c) {}
  void on_message(protocol::MessageType type, std::span<const std::uint8_t> payload) override {
    connection.on_message(type, payload);
  }
  void on_ping(std::span<const std::uint8_t> payload) override { connection.on_ping(payload); }
  void on_pong(std::span<const std::uint8_t> payload) override { connection.on_pong(payload); }
  Connection& connection;
};

void Connection::receive_frames(std::span<std::uint8_t> bytes) {
  CodecEvents events(*this);
  (void)codec_->receive(bytes, events);  // a failure is visible in codec_->failure()
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

}  // namespace sluice::net
