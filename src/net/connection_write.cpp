// Connection, writing: the send calls, the send queue's overflow policy, and
// the corked write of each loop turn (a gather sendmsg, or an Asio write for TLS).
#include "sluice/net/connection.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <span>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "sluice/net/deflated_frames.hpp"
#include "sluice/protocol/error.hpp"

namespace sluice::net {

namespace {
// The iovecs of one gather write: filled and consumed within one call, so one
// array per thread serves every connection of its loop.
iovec* thread_iovecs() {
  thread_local std::array<iovec, SendQueue::kMaxGatherBuffers> iovecs;
  return iovecs.data();
}
}  // namespace

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
  if (codec_->takes_shared_deflate() && server_config_) {
    // permessage-deflate: the frames compressed once per loop, not per connection.
    // Held on the stack in the usual case (a frame, or a gap marker and its
    // event): this runs once per recipient of every event.
    std::array<std::shared_ptr<const std::string>, 2> few;
    std::vector<std::shared_ptr<const std::string>> many;
    std::span<std::shared_ptr<const std::string>> deflated(few.data(), frames.size());
    if (frames.size() > few.size()) {
      many.resize(frames.size());
      deflated = many;
    }
    for (std::size_t i = 0; i < frames.size(); ++i) {
      deflated[i] = deflated_frame(frames[i], server_config_->handshake.deflate);
    }
    return queue_shared(deflated);
  }
  return queue_shared(frames);
}

SendStatus Connection::queue_shared(std::span<const std::shared_ptr<const std::string>> frames) {
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
    note_close_error(codec_->failure());
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
  if (auto* tls = stream_.server_tls()) return start_server_tls_write(*tls);
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

void Connection::start_server_tls_write(TlsSession& tls) {
  // A record is encrypted straight into OpenSSL's record buffer, which goes
  // to the socket: from the queue's first chunk when it fills the record
  // alone (a fan-out run of events is one chunk), else gathered first into
  // one per-thread buffer.
  thread_local std::array<std::uint8_t, TlsSession::kMaxRecord> record;
  while (!finished_) {
    TlsSession::Result sent;
    if (tls.pending()) {
      sent = tls.flush();
    } else if (queue_.has_pending()) {
      iovec* iov = thread_iovecs();
      std::size_t offered = 0;
      const std::size_t count = queue_.gather(iov, SendQueue::kMaxGatherBuffers, offered);
      std::span<const std::uint8_t> bytes;
      if (iov[0].iov_len >= std::min(offered, record.size())) {
        bytes = {static_cast<const std::uint8_t*>(iov[0].iov_base), std::min(iov[0].iov_len, record.size())};
      } else {
        std::size_t size = 0;
        for (std::size_t i = 0; i < count && size < record.size(); ++i) {
          const std::size_t n = std::min(iov[i].iov_len, record.size() - size);
          std::memcpy(record.data() + size, iov[i].iov_base, n);
          size += n;
        }
        bytes = std::span(record.data(), size);
      }
      sent = tls.write(bytes);
      queue_.consume(sent.bytes);  // taken: sent, or kept by the session until flush()
      if (was_open_ && sent.bytes > 0) {
        if (const auto* m = metrics()) m->bytes_sent->add(sent.bytes);
      }
    } else {
      break;
    }
    if (sent.error) return finish(sent.error);
    if (sent.want != TlsSession::Want::nothing) {
      awaiting_writable_ = true;  // on_ready resumes (any report: the session may want to read first)
      break;
    }
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
  if (const auto* tls = stream_.server_tls(); tls && tls->pending()) return;
  // Nothing left to write.
  if (finish_after_write_) return finish(close_error());
  if (!codec_ || !codec_->should_close_transport()) return;
  // Close handshake done (or failed) and flushed: the server closes TCP first
  // (RFC 6455 §7.1.1); a client half-closes and waits for the server's EOF.
  if (role_ == protocol::Role::server || codec_->failure()) return finish(close_error());
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

}  // namespace sluice::net
