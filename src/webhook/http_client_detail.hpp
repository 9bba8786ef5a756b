// The machinery behind HttpClient: pooled connections (Connection), the pool
// (ClientCore) and one request's life (Exchange). Everything here runs on the
// client's io_context thread.
//
// Lifetimes (Beast style): an Exchange lives as long as its pending handlers
// (each holds a shared_ptr); it holds the ClientCore, so the core outlives
// every exchange. The core holds idle connections and waiting exchanges; a
// busy connection is held by its exchange. Counting of open connections is
// done once per connection, by ClientCore::discard().
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/webhook/http_client.hpp"

namespace sluice::webhook::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

/// One TCP (or TLS over TCP) connection to one origin.
class Connection {
 public:
  Connection(asio::io_context& io, std::string origin) : origin_(std::move(origin)), tcp_(io), idle_timer_(io) {}

  const std::string& origin() const noexcept { return origin_; }
  beast::tcp_stream& tcp() noexcept { return tls_ ? tls_->next_layer() : tcp_; }
  tcp::socket& socket() noexcept { return tcp().socket(); }
  bool is_tls() const noexcept { return tls_ != nullptr; }
  beast::ssl_stream<beast::tcp_stream>& tls() noexcept { return *tls_; }
  /// Wraps the connected TCP stream in TLS (before the handshake).
  void start_tls(asio::ssl::context& ctx) {
    tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(tcp_), ctx);
  }
  void close() noexcept {
    boost::system::error_code ignored;
    socket().close(ignored);
    idle_timer_.cancel();
  }

  beast::flat_buffer buffer;  ///< read buffer, kept across requests (keep-alive)
  tcp::endpoint peer;
  std::uint64_t generation = 0;  ///< bumped when claimed from the idle pool: stale idle handlers ignore it
  std::uint32_t requests = 0;    ///< responses read on it so far
  bool counted = true;           ///< still counted as open (discard() clears it)
  std::chrono::steady_clock::time_point idle_since;
  asio::steady_timer& idle_timer() noexcept { return idle_timer_; }

 private:
  std::string origin_;
  beast::tcp_stream tcp_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  asio::steady_timer idle_timer_;
};

class ClientCore;

/// One request from post() to its callback.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<ClientCore> core, std::uint64_t id, HttpRequest request, HttpClient::Callback callback);

  std::uint64_t id() const noexcept { return id_; }
  const std::string& origin() const noexcept { return origin_; }
  bool finished() const noexcept { return finished_; }

  /// Starts the total timeout and asks the pool for a connection.
  void start();
  /// Proceeds on a connection: a new one (connect first) or a kept-alive one.
  void use_new(std::shared_ptr<Connection> conn);
  void use_idle(std::shared_ptr<Connection> conn);
  /// Ends the request (idempotent): stops timers, gives back or discards the
  /// connection, and posts the callback.
  void finish(HttpResult result);

  std::optional<std::list<std::shared_ptr<Exchange>>::iterator> waiting_position;  ///< set while queued

 private:
  void resolve();
  void on_resolved(const boost::system::error_code& ec, std::vector<tcp::endpoint> endpoints);
  void connect_next();
  void on_connected();
  void send();
  void on_written(const boost::system::error_code& ec);
  void on_read(const boost::system::error_code& ec);
  /// A reused connection failed before any response byte: once, try another.
  bool retry_on_fresh_connection();
  HttpResult failure(HttpResult::Kind kind, std::string message) const;

  std::shared_ptr<ClientCore> core_;
  std::uint64_t id_;
  HttpRequest request_;
  HttpClient::Callback callback_;
  std::string origin_;
  http::request<http::string_body> message_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::shared_ptr<Connection> conn_;
  std::shared_ptr<Connection> retired_;  // a stale kept-alive connection given up (retry_on_fresh_connection)
  std::optional<tcp::resolver> resolver_;
  asio::steady_timer total_timer_;
  asio::steady_timer connect_timer_;
  std::vector<tcp::endpoint> candidates_;
  std::size_t next_candidate_ = 0;
  std::string last_connect_error_;
  bool finished_ = false;
  bool reused_ = false;
  bool retried_ = false;
};

/// The pool: open connections per origin and in all, idle connections, and
/// the FIFO of exchanges waiting for a slot.
class ClientCore : public std::enable_shared_from_this<ClientCore> {
 public:
  ClientCore(asio::io_context& io, HttpClientOptions options, std::shared_ptr<asio::ssl::context> tls);

  asio::io_context& io() noexcept { return io_; }
  const HttpClientOptions& options() const noexcept { return options_; }
  asio::ssl::context& tls() noexcept { return *tls_; }

  std::shared_ptr<Exchange> make_exchange(HttpRequest request, HttpClient::Callback callback);
  /// Gives `ex` a connection now (idle or new), or queues it, or fails it when the queue is full.
  void acquire(const std::shared_ptr<Exchange>& ex);
  /// After a complete response: keep `conn` for the next request (hand it to
  /// a waiter, or park it idle), or discard it when not `reusable`.
  void release(const std::shared_ptr<Connection>& conn, bool reusable);
  /// Closes `conn` and stops counting it (once), then lets waiters proceed.
  void discard(const std::shared_ptr<Connection>& conn);
  /// Discards every idle connection to `origin` (one of them turned out stale).
  void drop_idle(const std::string& origin);
  /// A new SSRF guard for every later connection; idle connections to
  /// addresses it refuses are closed, and busy ones are not kept after their
  /// response.
  void set_address_policy(AddressPolicy policy);
  /// Takes `ex` out of the waiting FIFO (finished while queued).
  void forget_waiting(Exchange& ex);
  void forget(std::uint64_t id) { live_.erase(id); }
  /// Cancels every exchange and closes every connection; later posts fail at once.
  void shutdown();
  bool shut_down() const noexcept { return shut_down_; }

  std::size_t open_connections() const noexcept { return open_total_; }
  std::size_t idle_connections() const noexcept;
  std::size_t waiting_requests() const noexcept { return waiting_.size(); }

 private:
  struct Host {
    std::size_t open = 0;
    std::vector<std::shared_ptr<Connection>> idle;  // most recently used last
  };
  /// Tries to start `ex` now; false when no slot is free.
  bool try_start(const std::shared_ptr<Exchange>& ex);
  /// Closes the longest-idle connection of another origin, to free a slot in all.
  bool evict_idle_elsewhere(const std::string& origin);
  void park_idle(const std::shared_ptr<Connection>& conn);
  void remove_idle(const std::shared_ptr<Connection>& conn);
  /// Starts waiters that can proceed, in FIFO order.
  void pump();

  asio::io_context& io_;
  HttpClientOptions options_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::unordered_map<std::string, Host> hosts_;
  std::size_t open_total_ = 0;
  std::list<std::shared_ptr<Exchange>> waiting_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Exchange>> live_;
  std::uint64_t next_id_ = 1;
  bool shut_down_ = false;
  bool pumping_ = false;
};

}  // namespace sluice::webhook::detail
