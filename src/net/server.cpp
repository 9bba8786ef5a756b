#include "sluice/net/server.hpp"

#include <boost/asio/ip/address.hpp>

namespace sluice::net {

Server::Server(asio::io_context& io, ServerOptions options, ConnectionCallbacks callbacks)
    : io_(io),
      options_(std::move(options)),
      config_(std::make_shared<const ServerConnectionConfig>(options_.connection)),
      callbacks_(std::move(callbacks)),
      acceptor_(io) {}

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
}

std::uint16_t Server::port() const {
  boost::system::error_code ec;
  const auto endpoint = acceptor_.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void Server::accept_next() {
  acceptor_.async_accept(io_, [this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
    if (!ec) {
      std::shared_ptr<Connection> connection;
      if (options_.tls) {
        connection = std::make_shared<Connection>(AnyStream(AnyStream::TlsStream(std::move(socket), *options_.tls)),
                                                  protocol::Role::server, callbacks_, config_->timeouts,
                                                  options_.tls);
      } else {
        connection = std::make_shared<Connection>(AnyStream(std::move(socket)), protocol::Role::server,
                                                  callbacks_, config_->timeouts);
      }
      connection->start_server(config_);
    }
    // Errors such as EMFILE must not stop the listener; try the next one.
    accept_next();
  });
}

}  // namespace sluice::net
