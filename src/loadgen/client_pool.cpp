#include "client_pool.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace sluice::bench {

namespace {
constexpr std::size_t kReadBufferSize = 256 * 1024;
constexpr int kMaxEvents = 1024;

std::string errno_text(int error) { return std::strerror(error); }
}  // namespace

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// --- Client ---

void Client::queue(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  if (state_ != State::open) return;
  (void)codec_->send(type, payload, /*compress=*/false);
}

void Client::on_message(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  pool_.events_.on_message(*this, type, payload, pool_.received_ns_);
}

void Client::on_close(std::uint16_t code, std::string_view reason) {
  pool_.fail(*this, "server closed the connection with " + std::to_string(code) + " " + std::string(reason));
}

// --- ClientPool ---

ClientPool::ClientPool(Target target, ClientEvents& events)
    : target_(std::move(target)), events_(events), read_buffer_(kReadBufferSize) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(target_.host.c_str(), nullptr, &hints, &found); rc != 0 || found == nullptr) {
    throw std::runtime_error("cannot resolve " + target_.host + " to an IPv4 address: " + gai_strerror(rc));
  }
  address_ = reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr.s_addr;
  freeaddrinfo(found);
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::runtime_error("epoll_create1: " + errno_text(errno));
}

ClientPool::~ClientPool() {
  for (auto& c : clients_) {
    if (c->fd_ >= 0) ::close(c->fd_);
  }
  if (epoll_ >= 0) ::close(epoll_);
}

void ClientPool::open(std::size_t count, std::size_t concurrency) {
  concurrency_ = concurrency == 0 ? 1 : concurrency;
  clients_.reserve(clients_.size() + count);
  for (std::size_t i = 0; i < count; ++i) {
    clients_.push_back(std::unique_ptr<Client>(new Client(*this, clients_.size())));
  }
  connect_more();
}

void ClientPool::connect_more() {
  // connect() may fail at once and call back here: the outer call keeps going.
  if (in_connect_more_) return;
  in_connect_more_ = true;
  while (connecting_ < concurrency_ && next_to_connect_ < clients_.size()) {
    Client& c = *clients_[next_to_connect_++];
    ++connecting_;
    connect(c);
  }
  in_connect_more_ = false;
}

void ClientPool::connect(Client& c) {
  c.fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd_ < 0) return fail(c, "socket: " + errno_text(errno));
  const int one = 1;
  setsockopt(c.fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(target_.port);
  address.sin_addr.s_addr = address_;
  c.state_ = Client::State::connecting;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.ptr = &c;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd_, &ev) != 0) return fail(c, "epoll_ctl: " + errno_text(errno));
  if (::connect(c.fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
      errno != EINPROGRESS) {
    return fail(c, "connect: " + errno_text(errno));
  }
  // Completion (even an immediate one) is reported as EPOLLOUT.
}

void ClientPool::watch_stdin() {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, STDIN_FILENO, &ev) != 0) stdin_closed_ = true;
}

void ClientPool::poll(int timeout_ms) {
  epoll_event events[kMaxEvents];
  const int n = epoll_wait(epoll_, events, kMaxEvents, timeout_ms);
  for (int i = 0; i < n; ++i) {
    if (events[i].data.ptr == nullptr) {
      char discard[256];
      const ssize_t r = ::read(STDIN_FILENO, discard, sizeof discard);
      if (r <= 0) {
        stdin_closed_ = true;
        epoll_ctl(epoll_, EPOLL_CTL_DEL, STDIN_FILENO, nullptr);
      }
      continue;
    }
    on_ready(*static_cast<Client*>(events[i].data.ptr), events[i].events);
  }
}

void ClientPool::on_ready(Client& c, std::uint32_t events) {
  if (c.state_ == Client::State::closed) return;
  if (c.state_ == Client::State::connecting) {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(c.fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return fail(c, "connect: " + errno_text(error));
    return on_connected(c);
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
  if (c.state_ == Client::State::open && (events & EPOLLOUT)) flush(c);
}

void ClientPool::on_connected(Client& c) {
  c.state_ = Client::State::handshaking;
  protocol::ClientHandshakeOptions options;
  options.host = target_.host + ":" + std::to_string(target_.port);
  options.target = target_.path;
  c.handshake_ = std::make_unique<protocol::ClientHandshake>(std::move(options));
  const std::string& request = c.handshake_->request();
  // A fresh socket's send buffer always takes the ~200-byte request whole.
  const ssize_t n = ::send(c.fd_, request.data(), request.size(), MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(request.size())) return fail(c, "could not write the handshake request");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &c;
  epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd_, &ev);
}

void ClientPool::on_readable(Client& c) {
  // Read until the socket is drained or a read comes back short: one buffer
  // per call, reused by every connection.
  for (;;) {
    const ssize_t n = ::recv(c.fd_, read_buffer_.data(), read_buffer_.size(), 0);
    if (n == 0) return fail(c, "server closed TCP");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      return fail(c, "recv: " + errno_text(errno));
    }
    received_ns_ = now_ns();
    ++reads_;
    const std::span<std::uint8_t> bytes(read_buffer_.data(), static_cast<std::size_t>(n));
    if (c.state_ == Client::State::handshaking) {
      on_handshake_bytes(c, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    } else if (c.state_ == Client::State::open) {
      if (auto ec = c.codec_->receive(bytes, c)) return fail(c, "protocol error: " + ec.message());
      if (c.state_ == Client::State::open && c.codec_->has_output()) flush(c);  // pongs
    }
    if (c.state_ != Client::State::open && c.state_ != Client::State::handshaking) return;
    if (static_cast<std::size_t>(n) < read_buffer_.size()) return;
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
  c.handshake_.reset();  // large (an HTTP parser); no longer needed
  c.codec_.emplace(protocol::Role::client);
  c.state_ = Client::State::open;
  ++open_;
  --connecting_;
  events_.on_open(c);
  if (c.state_ == Client::State::open && !early.empty()) {
    if (auto ec = c.codec_->receive(early, c)) return fail(c, "protocol error: " + ec.message());
  }
  if (c.state_ == Client::State::open) flush(c);
  connect_more();
}

void ClientPool::flush(Client& c) {
  if (c.state_ != Client::State::open) return;
  auto& codec = *c.codec_;
  while (codec.has_output()) {
    const auto out = codec.pending_output();
    const ssize_t n = ::send(c.fd_, out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return set_want_write(c, true);
      return fail(c, "send: " + errno_text(errno));
    }
    codec.consume_output(static_cast<std::size_t>(n));
  }
  set_want_write(c, false);
}

void ClientPool::set_want_write(Client& c, bool want) {
  if (c.want_write_ == want) return;
  c.want_write_ = want;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.ptr = &c;
  epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd_, &ev);
}

void ClientPool::fail(Client& c, const std::string& why) {
  if (c.state_ == Client::State::closed) return;
  const bool was_connecting = c.state_ == Client::State::connecting || c.state_ == Client::State::handshaking;
  if (c.state_ == Client::State::open) --open_;
  c.state_ = Client::State::closed;
  ++closed_;
  if (c.fd_ >= 0) {
    epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd_, nullptr);
    ::close(c.fd_);
    c.fd_ = -1;
  }
  c.handshake_.reset();
  events_.on_closed(c, why);
  if (was_connecting) {
    --connecting_;
    connect_more();
  }
}

}  // namespace sluice::bench
