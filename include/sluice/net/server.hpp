// A WebSocket listener: accepts TCP (or TLS) connections and starts a
// Connection for each. Either on one io_context (examples, tests) or spread
// round-robin over a LoopGroup, where each connection then lives on its loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "sluice/net/connection.hpp"
#include "sluice/net/event_loop.hpp"

namespace sluice::net {

struct ServerOptions {
  std::string address = "127.0.0.1";  ///< loopback unless told otherwise
  std::uint16_t port = 9001;          ///< 0: any free port (see Server::port())
  ServerConnectionConfig connection;
  /// Set for wss://: see make_server_tls_context().
  std::shared_ptr<boost::asio::ssl::context> tls;
};

/// Called on the connection's own loop before it starts: sets its callbacks
/// (Connection::set_callbacks) and returns false to refuse it with a 503.
using AcceptHandler = std::function<bool(EventLoop&, const std::shared_ptr<Connection>&)>;

/// Not thread-safe: call listen()/start() before the loops run, stop() on the
/// accepting loop's thread (or after the loops stopped).
class Server {
 public:
  /// Single loop: every connection gets a copy of `callbacks`.
  Server(boost::asio::io_context& io, ServerOptions options, ConnectionCallbacks callbacks);
  /// Several loops: accepts on loop 0, places connections round-robin.
  Server(LoopGroup& loops, ServerOptions options, AcceptHandler on_accept);

  /// Binds and listens. Returns the error (e.g. address in use) instead of throwing.
  std::error_code listen();
  /// Starts accepting.
  void start();
  /// Stops accepting; open connections go on.
  void stop();
  /// The bound port (useful with port 0).
  std::uint16_t port() const;

 private:
  void accept_next();
  void start_connection(Socket socket, EventLoop* loop);

  boost::asio::io_context& io_;
  LoopGroup* loops_ = nullptr;
  ServerOptions options_;
  std::shared_ptr<const ServerConnectionConfig> config_;
  ConnectionCallbacks callbacks_;
  AcceptHandler on_accept_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
};

}  // namespace sluice::net
