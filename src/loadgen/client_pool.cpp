#include "client_pool.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace sluice::bench {

// --- Client ---

void Client::queue(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  if (state_ != State::open) return;
  (void)codec_->send(type, payload, /*compress=*/false);
}

void Client::on_message(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  if (state_ != State::open) return;  // after close(): the server's last words are not wanted
  pool_.events_.on_message(*this, type, payload, pool_.received_ns_);
}

void Client::on_close(std::uint16_t code, std::string_view reason) {
  if (state_ == State::closing) return;  // the answer to our close: its EOF follows
  pool_.fail(*this, "server closed the connection with " + std::to_string(code) + " " + std::string(reason));
}

// --- ClientPool ---

ClientPool::ClientPool(Target target, ClientEvents& events) : events_(events), read_buffer_(kPoolReadBufferSize) {
  add_target(std::move(target));
}

void ClientPool::add_target(Target target) {
  addresses_.push_back(resolve_ipv4(target.host));
  targets_.push_back(std::move(target));
}

std::size_t ClientPool::target_index(const Client& c) const {
  return choose_ ? choose_(c.index()) % targets_.size() : 0;
}

ClientPool::~ClientPool() = default;  // each Client's Stream closes its socket

void ClientPool::open(std::size_t count, std::size_t concurrency) {
  concurrency_ = concurrency == 0 ? 1 : concurrency;
  clients_.reserve(clients_.size() + count);
  for (std::size_t i = 0; i < count; ++i) {
    clients_.push_back(std::unique_ptr<Client>(new Client(*this, clients_.size())));
    to_connect_.push_back(clients_.back().get());
  }
  connect_more();
}

void ClientPool::reconnect(Client& c) {
  if (c.state_ != Client::State::closed) return;
  --closed_;
  c.state_ = Client::State::idle;
  c.codec_.reset();
  c.want_write_ = false;
  to_connect_.push_back(&c);
  connect_more();
}

void ClientPool::connect_more() {
  // connect() may fail at once and call back here: the outer call keeps going.
  if (in_connect_more_) return;
  in_connect_more_ = true;
  while (connecting_ < concurrency_ && !to_connect_.empty()) {
    Client& c = *to_connect_.front();
    to_connect_.pop_front();
    ++connecting_;
    connect(c);
  }
  in_connect_more_ = false;
}

void ClientPool::connect(Client& c) {
  std::string error;
  c.state_ = Client::State::connecting;
  const std::size_t target = target_index(c);
  const int fd = start_connect(addresses_[target], targets_[target].port, error);
  if (fd < 0) return fail(c, error);
  c.stream_.attach(fd);
  // Completion (even an immediate one) is reported as writable.
  if (!epoll_.add(fd, EPOLLOUT, &c)) return fail(c, "epoll_ctl: " + errno_text(errno));
}

void ClientPool::watch_stdin() {
  if (!epoll_.add(STDIN_FILENO, EPOLLIN, nullptr)) stdin_closed_ = true;
}

void ClientPool::watch_wakeup(Wakeup& wakeup) {
  if (!epoll_.add(wakeup.fd(), EPOLLIN, &wakeup)) throw std::runtime_error("epoll_ctl: " + errno_text(errno));
  wakeup_ = &wakeup;
}

void ClientPool::poll(int timeout_ms) {
  epoll_event events[kPoolMaxEvents];
  const int n = epoll_wait(epoll_.fd(), events, kPoolMaxEvents, timeout_ms);
  for (int i = 0; i < n; ++i) {
    if (wakeup_ && events[i].data.ptr == wakeup_) {
      wakeup_->drain();
      continue;
    }
    if (events[i].data.ptr == nullptr) {
      char discard[256];
      const ssize_t r = ::read(STDIN_FILENO, discard, sizeof discard);
      if (r <= 0) {
        stdin_closed_ = true;
        epoll_.remove(STDIN_FILENO);
      }
      continue;
    }
    on_ready(*static_cast<Client*>(events[i].data.ptr), events[i].events);
  }
}

void ClientPool::on_ready(Client& c, std::uint32_t events) {
  // A client cut or reconnected earlier in this batch: its event is stale.
  if (c.state_ == Client::State::closed || c.state_ == Client::State::idle) return;
  if (c.state_ == Client::State::connecting) {
    if (c.stream_.secure()) return continue_tls(c);
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    return on_tcp_connected(c);
  }
  // TLS: a read that had to write first (OpenSSL's want_write) is retried once writable.
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP) || (c.stream_.secure() && (events & EPOLLOUT))) on_readable(c);
  if ((c.state_ == Client::State::open || c.state_ == Client::State::closing) && (events & EPOLLOUT)) flush(c);
}

void ClientPool::on_tcp_connected(Client& c) {
  if (const int error = socket_error(c.stream_.fd()); error != 0) return fail(c, "connect: " + errno_text(error));
  const Target& target = targets_[target_index(c)];
  if (!target.tls) return on_connected(c);
  std::string error;
  if (!c.stream_.start_tls(*target.tls, target.host, error)) return fail(c, error);
  continue_tls(c);
}

void ClientPool::continue_tls(Client& c) {
  switch (c.stream_.handshake()) {
    case IoStatus::done:
      return on_connected(c);
    case IoStatus::want_read:
      return epoll_.modify(c.stream_.fd(), EPOLLIN, &c);
    case IoStatus::want_write:
      return epoll_.modify(c.stream_.fd(), EPOLLOUT, &c);
    default:
      return fail(c, "TLS handshake: " + c.stream_.error_text());
  }
}

void ClientPool::on_connected(Client& c) {
  c.state_ = Client::State::handshaking;
  protocol::ClientHandshakeOptions options;
  const Target& target = targets_[target_index(c)];
  options.host = target.host + ":" + std::to_string(target.port);
  options.target = target.path;
  options.headers = target.headers;
  options.deflate.enabled = target.deflate;
  c.handshake_ = std::make_unique<protocol::ClientHandshake>(std::move(options));
  const std::string& request = c.handshake_->request();
  // A fresh socket's send buffer always takes the ~200-byte request whole.
  const IoResult sent = c.stream_.write(request.data(), request.size());
  if (sent.status != IoStatus::done || sent.bytes != request.size()) {
    return fail(c, "could not write the handshake request" +
                       (sent.status == IoStatus::failed ? ": " + c.stream_.error_text() : std::string()));
  }
  epoll_.modify(c.stream_.fd(), EPOLLIN, &c);
}

void ClientPool::on_readable(Client& c) {
  // Read until the socket is drained or (plain TCP) a read comes back short:
  // one buffer per call, reused by every connection.
  for (;;) {
    const IoResult r = c.stream_.read(read_buffer_.data(), read_buffer_.size());
    if (r.status != IoStatus::done) {
      if (r.status == IoStatus::want_read) return;
      if (r.status == IoStatus::want_write) return set_want_write(c, true);
      if (r.status == IoStatus::eof) {
        if (c.state_ == Client::State::closing && c.codec_->close_received()) {
          release(c, false);
          return events_.on_closed(c, "");
        }
        return fail(c, "server closed TCP");
      }
      return fail(c, "recv: " + c.stream_.error_text());
    }
    const std::size_t n = r.bytes;
    received_ns_ = now_ns();
    ++reads_;
    const std::span<std::uint8_t> bytes(read_buffer_.data(), n);
    if (c.state_ == Client::State::handshaking) {
      on_handshake_bytes(c, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    } else if (c.state_ == Client::State::open || c.state_ == Client::State::closing) {
      if (auto ec = c.codec_->receive(bytes, c)) return fail(c, "protocol error: " + ec.message());
      if ((c.state_ == Client::State::open || c.state_ == Client::State::closing) && c.codec_->has_output()) {
        flush(c);  // pongs
      }
    }
    if (c.state_ != Client::State::open && c.state_ != Client::State::handshaking &&
        c.state_ != Client::State::closing) {
      return;
    }
    if (n < read_buffer_.size() && !c.stream_.secure()) return;  // TLS: a record may end short
  }
}

void ClientPool::on_handshake_bytes(Client& c, std::span<const char> bytes) {
  const auto status = c.handshake_->feed(bytes);
  if (status == protocol::HandshakeStatus::need_more) return;
  if (status == protocol::HandshakeStatus::rejected) {
    return fail(c, "handshake rejected: HTTP " + std::to_string(c.handshake_->response().result_int()) + " " +
                       c.handshake_->error().message());
  }
  const std::string_view leftover = c.handshake_->leftover();
  std::vector<std::uint8_t> early(leftover.begin(), leftover.end());
  const auto deflate = c.handshake_->deflate();
  c.handshake_.reset();  // large (an HTTP parser); no longer needed
  c.codec_.emplace(protocol::Role::client, protocol::CodecSettings{}, deflate);
  c.state_ = Client::State::open;
  ++open_;
  --connecting_;
  events_.on_open(c);
  if (c.state_ == Client::State::open && !early.empty()) {
    if (auto ec = c.codec_->receive(early, c)) return fail(c, "protocol error: " + ec.message());
  }
  if (c.state_ == Client::State::open || c.state_ == Client::State::closing) flush(c);
  connect_more();
}

void ClientPool::close(Client& c) {
  if (c.state_ != Client::State::open) return;
  (void)c.codec_->close(1000);
  c.state_ = Client::State::closing;
  --open_;
  flush(c);
}

void ClientPool::cut(Client& c) {
  if (c.state_ == Client::State::closed) return;
  if (c.state_ == Client::State::idle) {  // queued for a handshake slot: take it out of the queue
    std::erase(to_connect_, &c);
    c.state_ = Client::State::closed;
    ++closed_;
    return;
  }
  if (release(c, true)) connect_more();
}

void ClientPool::flush(Client& c) {
  if (c.state_ != Client::State::open && c.state_ != Client::State::closing) return;
  auto& codec = *c.codec_;
  while (codec.has_output()) {
    const auto out = codec.pending_output();
    const IoResult r = c.stream_.write(out.data(), out.size());
    if (r.status != IoStatus::done) {
      if (r.status == IoStatus::want_write) return set_want_write(c, true);
      if (r.status == IoStatus::want_read) return;  // TLS: retried after the next read
      return fail(c, "send: " + c.stream_.error_text());
    }
    codec.consume_output(r.bytes);
  }
  set_want_write(c, false);
}

void ClientPool::set_want_write(Client& c, bool want) {
  if (c.want_write_ == want) return;
  c.want_write_ = want;
  epoll_.modify(c.stream_.fd(), EPOLLIN | (want ? EPOLLOUT : 0u), &c);
}

bool ClientPool::release(Client& c, bool reset) {
  const bool was_connecting = c.state_ == Client::State::connecting || c.state_ == Client::State::handshaking;
  if (c.state_ == Client::State::open) --open_;
  c.state_ = Client::State::closed;
  ++closed_;
  if (c.stream_.fd() >= 0) epoll_.remove(c.stream_.fd());
  c.stream_.close(reset);
  c.handshake_.reset();
  if (was_connecting) --connecting_;
  return was_connecting;
}

void ClientPool::fail(Client& c, const std::string& why) {
  if (c.state_ == Client::State::closed) return;
  const bool was_connecting = release(c, false);
  events_.on_closed(c, why);
  if (was_connecting) connect_more();
}

}  // namespace sluice::bench
