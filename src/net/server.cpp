#include "sluice/net/server.hpp"

#include <boost/asio/ip/address.hpp>

namespace sluice::net {

Server::Server(asio::io_context& io, ServerOptions options, ConnectionCallbacks callbacks)
    : io_(io),
      options_(std::move(options)),
      config_(std::make_shared<const ServerConnectionConfig>(options_.connection)),
      callbacks_(std::move(callbacks)),
      acceptor_(io),
      retry_timer_(io) {}

Server::Server(LoopGroup& loops, ServerOptions options, AcceptHandler on_accept)
    : io_(loops.at(0).io()),
      loops_(&loops),
      options_(std::move(options)),
      config_(std::make_shared<const ServerConnectionConfig>(options_.connection)),
      on_accept_(std::move(on_accept)),
      acceptor_(io_),
      retry_timer_(io_) {}

std::error_code Server::listen() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return ec;
  const tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }
  return ec;
}

void Server::start() { accept_next(); }

void Server::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
}

std::uint16_t Server::port() const {
  boost::system::error_code ec;
  const auto endpoint = acceptor_.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void Server::accept_next() {
  EventLoop* loop = loops_ ? &loops_->next() : nullptr;
  // The socket is created on its target loop's io_context directly.
  acceptor_.async_accept(loop ? loop->io() : io_, [this, loop](const boost::system::error_code& ec,
                                                              Socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
    if (ec) {
      // EMFILE and friends: retrying at once would spin; wait a little.
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([this](const boost::system::error_code& wait_ec) {
        if (!wait_ec && acceptor_.is_open()) accept_next();
      });
      return;
    }
    start_connection(std::move(socket), loop);
    accept_next();
  });
}

void Server::start_connection(Socket socket, EventLoop* loop) {
  auto make = [config = config_, tls = options_.tls](Socket s, ConnectionCallbacks callbacks) {
    if (tls) {
      return std::make_shared<Connection>(AnyStream(AnyStream::TlsStream(std::move(s), *tls), tls),
                                          protocol::Role::server, std::move(callbacks), config->timeouts);
    }
    return std::make_shared<Connection>(AnyStream(std::move(s)), protocol::Role::server, std::move(callbacks),
                                        config->timeouts);
  };
  if (!loop) {
    make(std::move(socket), callbacks_)->start_server(config_);
    return;
  }
  // Set up and start on the connection's own loop: from here on only it touches the connection.
  loop->post([make, socket = std::move(socket), loop, on_accept = on_accept_, config = config_]() mutable {
    auto connection = make(std::move(socket), {});
    const bool admitted = on_accept(*loop, connection);
    connection->start_server(config, !admitted);
  });
}

}  // namespace sluice::net
