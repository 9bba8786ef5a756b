// ws:// and wss:// through an HTTP CONNECT proxy, without changing the
// transport: net::Connection dials its socket itself, so for a proxied
// attempt it dials (ClientOptions::dial_host/port) a one-shot listener on
// loopback, and the relay joins that socket to a CONNECT tunnel it opened
// through the proxy (bytes copied both ways, so TLS runs end to end inside).
// The listener accepts one connection per attempt, only while an attempt is
// pending. Not thread-safe: lives on the client's loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "sluice/client/proxy.hpp"

namespace sluice::client::detail {

class Tunnel;

class ProxyRelay {
 public:
  ProxyRelay(boost::asio::io_context& io, ProxyEndpoint proxy, std::string target_authority);
  ~ProxyRelay();

  /// Readies the relay for one attempt; returns the loopback port to dial.
  /// `on_failure(message)` runs (on the loop) if the proxy cannot be reached
  /// or refuses the tunnel, just before the dialed socket is closed.
  std::uint16_t begin(std::function<void(std::string)> on_failure, std::error_code& error);
  /// Closes the attempt's sockets (both sides of the tunnel). Idempotent.
  void end();

 private:
  boost::asio::io_context& io_;
  ProxyEndpoint proxy_;
  std::string target_;  // "host:port" for the CONNECT line
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<Tunnel> tunnel_;
};

}  // namespace sluice::client::detail
