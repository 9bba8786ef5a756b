// A WebSocket listener: accepts TCP (or TLS) connections on one io_context and
// starts a Connection for each. Small on purpose; the multi-loop engine with
// connection registries is built on top of the same Connection later.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "sluice/net/connection.hpp"

namespace sluice::net {

struct ServerOptions {
  std::string address = "127.0.0.1";  ///< loopback unless told otherwise
  std::uint16_t port = 9001;          ///< 0: any free port (see Server::port())
  ServerConnectionConfig connection;
  /// Set for wss://: see make_server_tls_context().
  std::shared_ptr<boost::asio::ssl::context> tls;
};

/// Not thread-safe: call its members on the io_context's thread (or before run()).
class Server {
 public:
  /// `callbacks` are copied into every accepted connection.
  Server(boost::asio::io_context& io, ServerOptions options, ConnectionCallbacks callbacks);

  /// Binds and listens. Returns the error (e.g. address in use) instead of throwing.
  std::error_code listen();
  /// Starts accepting; connections run on the io_context.
  void start();
  /// Stops accepting; open connections go on.
  void stop();
  /// The bound port (useful with port 0).
  std::uint16_t port() const;

 private:
  void accept_next();

  boost::asio::io_context& io_;
  ServerOptions options_;
  std::shared_ptr<const ServerConnectionConfig> config_;
  ConnectionCallbacks callbacks_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace sluice::net
