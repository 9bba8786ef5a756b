// Shared pieces of the client tests: waiting on conditions (never sleeping
// as synchronisation), a recorder of a Client's events, and small loopback
// servers on their own threads (a WebSocket server with scripted behaviour,
// and a raw TCP server that answers with canned bytes).
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/client/client.hpp"
#include "sluice/net/event_loop.hpp"
#include "sluice/net/server.hpp"

namespace sluice::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

/// Generous bound for any single wait: sanitizer builds are slow, and a bound
/// is only reached when a test fails.
constexpr auto kWait = 20s;

/// Waits until `done()` holds or `bound` passes; re-checks whenever notified
/// and at least every 5 ms. Returns done().
class Signal {
 public:
  void notify() {
    std::lock_guard lock(mutex_);
    cv_.notify_all();
  }
  template <class Done>
  bool wait(Done done, std::chrono::milliseconds bound = kWait) {
    const auto deadline = Clock::now() + bound;
    std::unique_lock lock(mutex_);
    while (!done()) {
      if (Clock::now() >= deadline) return done();
      cv_.wait_for(lock, 5ms);
    }
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
};

/// Records every event of one client (thread-safe) and notifies a Signal.
struct Recorder {
  mutable std::mutex mutex;
  Signal signal;
  std::vector<std::string> messages;
  std::vector<client::OpenEvent> opens;
  std::vector<client::CloseEvent> closes;
  std::vector<client::ErrorEvent> errors;
  std::vector<std::pair<std::uint32_t, std::chrono::milliseconds>> reconnects;

  void attach(client::Client& c) {
    c.on_open([this](const client::OpenEvent& e) { add(opens, e); });
    c.on_message([this](const client::Message& m) { add(messages, std::string(m.text())); });
    c.on_close([this](const client::CloseEvent& e) { add(closes, e); });
    c.on_error([this](const client::ErrorEvent& e) { add(errors, e); });
    c.on_reconnecting([this](std::uint32_t attempt, std::chrono::milliseconds delay) {
      add(reconnects, std::make_pair(attempt, delay));
    });
  }
  template <class T>
  void add(std::vector<T>& list, T value) {
    {
      std::lock_guard lock(mutex);
      list.push_back(std::move(value));
    }
    signal.notify();
  }
  template <class T>
  std::size_t count(const std::vector<T>& list) const {
    std::lock_guard lock(mutex);
    return list.size();
  }
  template <class T>
  std::vector<T> copy(const std::vector<T>& list) const {
    std::lock_guard lock(mutex);
    return list;
  }
  /// Waits until `pred()` (called with the mutex held) holds.
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds bound = kWait) {
    return signal.wait(
        [&] {
          std::lock_guard lock(mutex);
          return pred();
        },
        bound);
  }
  bool has_error(std::error_code e) const {
    std::lock_guard lock(mutex);
    for (const auto& x : errors) {
      if (x.error == e) return true;
    }
    return false;
  }
};

/// A WebSocket server on its own loop thread. Echoes by default; `on_open`
/// may script something else (close with a code, stay silent...). Records
/// what it received and when connections opened. (To see the request
/// headers, put a FaultProxy in front: it records each request head.)
class WsServer {
 public:
  struct Script {
    bool echo = true;
    /// Called on the server's loop for each new connection.
    std::function<void(net::Connection&)> on_open;
    /// Called on the server's loop for each message, after it was recorded (instead of the echo).
    std::function<void(net::Connection&, std::string_view)> on_message;
  };

  WsServer() : WsServer(Script{}) {}
  explicit WsServer(Script script, net::ServerOptions options = {}) : script_(std::move(script)) {
    options.port = 0;
    options.address = "127.0.0.1";
    net::ConnectionCallbacks callbacks;
    callbacks.on_open = [this](net::Connection& c) {
      {
        std::lock_guard lock(mutex_);
        open_times_.push_back(Clock::now());
        live_.push_back(c.shared_from_this());
      }
      signal.notify();
      if (script_.on_open) script_.on_open(c);
    };
    callbacks.on_message = [this](net::Connection& c, protocol::MessageType type, std::span<const std::uint8_t> p) {
      {
        std::lock_guard lock(mutex_);
        received_.emplace_back(reinterpret_cast<const char*>(p.data()), p.size());
      }
      signal.notify();
      if (script_.on_message) return script_.on_message(c, {reinterpret_cast<const char*>(p.data()), p.size()});
      if (script_.echo) (void)c.send(type, p);
    };
    callbacks.on_closed = [this](net::Connection& c, const net::CloseInfo& info) {
      {
        std::lock_guard lock(mutex_);
        closed_.push_back(info);
        std::erase_if(live_, [&](const auto& weak) { return weak.lock().get() == &c || weak.expired(); });
      }
      signal.notify();
    };
    server_ = std::make_unique<net::Server>(loop_->io(), std::move(options), std::move(callbacks));
    EXPECT_FALSE(server_->listen());
    server_->start();
    port_ = server_->port();
    loop_->start();
  }
  ~WsServer() { stop(); }

  /// Stops abruptly: the loop ends and every socket is closed (a crash, for the client).
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    loop_->stop();
    server_.reset();
    {
      std::lock_guard lock(mutex_);
      live_.clear();
    }
    loop_.reset();  // destroys the pending handlers, and with them every connection and socket
  }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const { return "ws://127.0.0.1:" + std::to_string(port_) + path; }
  /// The server's loop (for timers in a Script; valid until stop()).
  asio::io_context& io() { return loop_->io(); }

  /// Closes every open connection with `code` (on the server's loop).
  void close_all(std::uint16_t code, std::string reason) {
    loop_->post([this, code, reason] {
      std::vector<std::shared_ptr<net::Connection>> all;
      {
        std::lock_guard lock(mutex_);
        for (auto& weak : live_) {
          if (auto c = weak.lock()) all.push_back(c);
        }
      }
      for (auto& c : all) c->close(code, reason);
    });
  }

  std::vector<std::string> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::size_t opened() const {
    std::lock_guard lock(mutex_);
    return open_times_.size();
  }
  std::vector<Clock::time_point> open_times() const {
    std::lock_guard lock(mutex_);
    return open_times_;
  }
  std::vector<net::CloseInfo> closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  Signal signal;

 private:
  Script script_;
  std::unique_ptr<net::EventLoop> loop_ = std::make_unique<net::EventLoop>(0);
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
  mutable std::mutex mutex_;
  std::vector<std::string> received_;
  std::vector<Clock::time_point> open_times_;
  std::vector<net::CloseInfo> closed_;
  std::vector<std::weak_ptr<net::Connection>> live_;
};

/// A TCP server that answers every connection with canned bytes: after the
/// request head (an HTTP status for the upgrade) or at once on accept (an
/// immediate close). Records when each connection was accepted.
class RawServer {
 public:
  /// `response`: written after the request head, then the socket is closed.
  /// `close_on_accept`: close without reading or writing anything.
  explicit RawServer(std::string response, bool close_on_accept = false)
      : response_(std::move(response)), close_on_accept_(close_on_accept), acceptor_(loop_.io()) {
    const asio::ip::tcp::endpoint local(asio::ip::make_address_v4("127.0.0.1"), 0);
    acceptor_.open(local.protocol());
    acceptor_.bind(local);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_next();
    loop_.start();
  }
  ~RawServer() {
    loop_.stop();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  std::uint16_t port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/"; }
  std::vector<Clock::time_point> accept_times() const {
    std::lock_guard lock(mutex_);
    return accepts_;
  }
  std::size_t accepted() const {
    std::lock_guard lock(mutex_);
    return accepts_.size();
  }
  Signal signal;

 private:
  struct Peer {
    explicit Peer(asio::ip::tcp::socket s) : socket(std::move(s)) {}
    asio::ip::tcp::socket socket;
    asio::streambuf head{64 * 1024};
  };

  void accept_next() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
      if (ec) return;
      {
        std::lock_guard lock(mutex_);
        accepts_.push_back(Clock::now());
      }
      signal.notify();
      auto peer = std::make_shared<Peer>(std::move(socket));
      if (close_on_accept_) {
        boost::system::error_code ignored;
        peer->socket.close(ignored);
      } else {
        asio::async_read_until(peer->socket, peer->head, "\r\n\r\n",
                               [this, peer](const boost::system::error_code& read_ec, std::size_t) {
                                 if (read_ec) return;
                                 asio::async_write(peer->socket, asio::buffer(response_),
                                                   [peer](const boost::system::error_code&, std::size_t) {
                                                     boost::system::error_code ignored;
                                                     peer->socket.shutdown(asio::ip::tcp::socket::shutdown_both,
                                                                           ignored);
                                                     peer->socket.close(ignored);
                                                   });
                               });
      }
      accept_next();
    });
  }

  std::string response_;
  bool close_on_accept_;
  net::EventLoop loop_{0};
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::vector<Clock::time_point> accepts_;
};

/// Options with short, test-sized delays (a small floor keeps tests fast;
/// the rules under test do not depend on the size).
inline client::ClientOptions fast_options() {
  client::ClientOptions o;
  o.reconnect.backoff.floor = 10ms;
  o.reconnect.backoff.max = 50ms;
  o.timeouts.connect = 5s;
  o.timeouts.handshake = 5s;
  o.timeouts.close = 2s;
  o.liveness.ping_interval = 0ms;
  o.random_seed = 42;
  return o;
}

}  // namespace sluice::test
