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
/// accepting loop's thread (or after the loops stopped). The io_context (or
/// LoopGroup) must outlive the Server.
///
/// The listening socket sits in the accepting loop's Readiness set and is
/// drained with accept4(SOCK_NONBLOCK): a plain-TCP connection goes straight
/// into its loop's set, never through Asio's reactor (no fcntl, no
/// register/deregister pair per connection).
class Server {
 public:
  /// Single loop: every connection gets a copy of `callbacks`.
  Server(boost::asio::io_context& io, ServerOptions options, ConnectionCallbacks callbacks);
  /// Several loops: accepts on loop 0, places connections round-robin.
  Server(LoopGroup& loops, ServerOptions options, AcceptHandler on_accept);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and listens. Returns the error (e.g. address in use) instead of throwing.
  std::error_code listen();
  /// Starts accepting.
  void start();
  /// Stops accepting; open connections go on.
  void stop();
  /// The bound port (useful with port 0).
  std::uint16_t port() const noexcept { return port_; }

 private:
  class Listener;  // the listening socket's entry in the Readiness set

  void accept_ready();
  void start_connection(int fd, EventLoop* loop);

  boost::asio::io_context& io_;
  LoopGroup* loops_ = nullptr;
  ServerOptions options_;
  std::shared_ptr<const ServerConnectionConfig> config_;
  ConnectionCallbacks callbacks_;
  AcceptHandler on_accept_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  boost::asio::ip::tcp protocol_ = boost::asio::ip::tcp::v4();  // of the listening address (for TLS sockets)
  std::shared_ptr<Listener> listener_;
  boost::asio::steady_timer retry_timer_;
};

}  // namespace sluice::net
