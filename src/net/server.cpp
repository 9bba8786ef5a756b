#include "sluice/net/server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "sluice/net/readiness.hpp"
#include "sluice/util/block_pool.hpp"

namespace sluice::net {

namespace {
// Connections accepted per turn of the loop before other work gets its turn.
constexpr int kAcceptsPerTurn = 64;
}  // namespace

// Lives in the Readiness set; detached (server = nullptr) by stop(), so an
// event or a posted turn that comes later finds nothing to do.
class Server::Listener final : public Pollable {
 public:
  explicit Listener(Server& owner) : server(&owner) {}
  void on_ready(std::uint32_t) override {
    if (server) server->accept_ready();
  }
  Server* server;
};

Server::Server(asio::io_context& io, ServerOptions options, ConnectionCallbacks callbacks)
    : io_(io),
      options_(std::move(options)),
      config_(std::make_shared<const ServerConnectionConfig>(options_.connection)),
      callbacks_(std::move(callbacks)),
      retry_timer_(io) {}

Server::Server(LoopGroup& loops, ServerOptions options, AcceptHandler on_accept)
    : io_(loops.at(0).io()),
      loops_(&loops),
      options_(std::move(options)),
      config_(std::make_shared<const ServerConnectionConfig>(options_.connection)),
      on_accept_(std::move(on_accept)),
      retry_timer_(io_) {}

Server::~Server() { stop(); }

std::error_code Server::listen() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return ec;
  const tcp::endpoint endpoint(address, options_.port);
  // Asio opens, binds and listens; the descriptor then leaves its reactor for ours.
  tcp::acceptor acceptor(io_);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  // Accepted sockets inherit TCP_NODELAY from the listener (Linux): no setsockopt per connection.
  if (!ec) acceptor.set_option(tcp::no_delay(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) port_ = acceptor.local_endpoint(ec).port();
  if (ec) return ec;
  const int fd = acceptor.release(ec);
  if (ec) return ec;
  const int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    const std::error_code error(errno, std::system_category());
    ::close(fd);
    return error;
  }
  listen_fd_ = fd;
  protocol_ = endpoint.protocol();
  return {};
}

void Server::start() {
  if (listen_fd_ < 0 || listener_) return;
  auto listener = std::make_shared<Listener>(*this);
  // Connections already waiting are reported by the registration itself.
  if (!Readiness::of(io_).add(listen_fd_, listener)) {
    listener_ = std::move(listener);
    return;
  }
  // The loop's epoll set could not be made (out of descriptors): try again shortly.
  retry_timer_.expires_after(std::chrono::milliseconds(50));
  retry_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) start();
  });
}

void Server::stop() {
  retry_timer_.cancel();
  if (listener_) {
    listener_->server = nullptr;
    Readiness::of(io_).remove(listen_fd_);
    listener_.reset();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void Server::accept_ready() {
  for (int accepted = 0; accepted < kAcceptsPerTurn; ++accepted) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      start_connection(fd, loops_ ? &loops_->next() : nullptr);
      continue;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:  // the peer gave up while queued: the next one may be fine
      case EPROTO:
      case EPERM:
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        // Out of descriptors or memory: retrying at once would spin; the
        // queued connections raise no new edge, so come back by timer.
        retry_timer_.expires_after(std::chrono::milliseconds(50));
        retry_timer_.async_wait([this](const boost::system::error_code& ec) {
          if (!ec && listen_fd_ >= 0) accept_ready();
        });
        return;
      default:
        return;  // EAGAIN: drained (the next connection raises a new edge); EBADF: stopped
    }
  }
  // More may be queued, and edge-triggered readiness will not say so again.
  asio::post(io_, [listener = listener_] {
    if (listener && listener->server) listener->server->accept_ready();
  });
}

void Server::start_connection(int fd, EventLoop* loop) {
  // What a connection is made from, copied to its loop.
  struct Maker {
    std::shared_ptr<const ServerConnectionConfig> config;
    std::shared_ptr<asio::ssl::context> tls;
    tcp protocol;

    // Starts a connection on `io`'s thread; `fd` is its from here on.
    void start(asio::io_context& io, int fd, ConnectionCallbacks callbacks, const AcceptHandler* on_accept,
               EventLoop* loop) const {
      std::shared_ptr<Connection> connection;
      if (tls) {
        // TLS on the descriptor itself, in the loop's Readiness set like plain TCP.
        auto session = TlsSession::accept(tls, fd);
        if (!session) {
          ::close(fd);
          return;
        }
        connection = std::make_shared<Connection>(AnyStream(io, std::move(session)), protocol::Role::server,
                                                  std::move(callbacks), config->timeouts);
      } else {
        // Plain TCP: the descriptor goes to the connection as it is; the
        // stream has no socket.
        connection = std::allocate_shared<Connection>(util::PooledAllocator<Connection>{}, AnyStream(io),
                                                      protocol::Role::server, std::move(callbacks), config->timeouts);
      }
      const bool admitted = !on_accept || (*on_accept)(*loop, connection);
      connection->start_server(config, !admitted, fd);
    }
  };
  Maker maker{config_, options_.tls, protocol_};
  if (!loop) {
    maker.start(io_, fd, callbacks_, nullptr, nullptr);
    return;
  }
  // An accepted descriptor on its way to its loop: closed if it never gets there.
  struct AcceptedFd {
    int fd;
    explicit AcceptedFd(int f) : fd(f) {}
    AcceptedFd(AcceptedFd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
    AcceptedFd& operator=(AcceptedFd&&) = delete;
    ~AcceptedFd() {
      if (fd >= 0) ::close(fd);
    }
  };
  // Set up and start on the connection's own loop: from here on only it touches the connection.
  loop->post([maker = std::move(maker), accepted = AcceptedFd(fd), loop, on_accept = on_accept_]() mutable {
    maker.start(loop->io(), std::exchange(accepted.fd, -1), {}, &on_accept, loop);
  });
}

}  // namespace sluice::net
