// An in-process SluiceServer on a free loopback port, and JSON WebSocket test
// clients that all run on one client io_context driven by the test thread.
// Waiting is always "run the client loop until a condition holds, or a bound".
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "sluice/net/connection.hpp"
#include "sluice/protocol/handshake.hpp"
#include "sluice/server/sluice_server.hpp"

namespace sluice::test {

namespace json = boost::json;
using namespace std::chrono_literals;

inline server::ServerSettings test_settings() {
  server::ServerSettings s;
  s.port = 0;
  s.threads = 2;
  s.ping_interval = 0ms;  // no automatic pings: tests decide what happens
  s.store = "memory";     // durable-store tests set their own data directory
  return s;
}

/// Starts a server; shuts it down (no drain) when destroyed.
struct TestServer {
  std::unique_ptr<server::SluiceServer> server;
  explicit TestServer(server::ServerSettings settings = test_settings()) {
    server = std::make_unique<server::SluiceServer>(settings);
    std::string error;
    EXPECT_TRUE(server->start(error)) << error;
  }
  ~TestServer() { server->shutdown(0ms); }
  net::WsUrl url() const { return net::WsUrl{false, "127.0.0.1", server->port(), "/v1/ws"}; }
};

/// Runs `io` until `done()` or `bound`; returns done(). The condition is
/// re-checked at least every 10 ms, so it may also watch the server's state.
template <class Done>
bool run_until(boost::asio::io_context& io, Done done, std::chrono::milliseconds bound = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    if (io.run_one_for(10ms) == 0 && io.stopped()) io.restart();
  }
  return done();
}

/// Checks `done()` every 5 ms until it holds or `bound` passes; returns
/// done(). For state that a server thread changes with nothing to wait on
/// (e.g. the store after a retention sweep).
template <class Done>
bool eventually(Done done, std::chrono::milliseconds bound = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  return done();
}

/// Runs `body(stop)` on a thread; stops and joins it when destroyed, so a
/// failed assertion cannot leave a thread running.
class Background {
 public:
  template <class Body>
  explicit Background(Body body) : thread_([this, body] { body(stop_); }) {}
  ~Background() { join(); }
  void join() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// A blocking socket that completes the WebSocket handshake on /v1/ws, then
/// does only what the test makes it do (e.g. never read, never pong).
struct RawWsPeer {
  boost::asio::io_context io;
  net::tcp::socket socket{io};
  boost::asio::streambuf head;  ///< the 101 response, and any bytes that followed it

  /// `receive_buffer` > 0 shrinks the TCP window (a slow reader fills the server's queue sooner).
  explicit RawWsPeer(std::uint16_t port, int receive_buffer = 0) {
    socket.open(net::tcp::v4());
    if (receive_buffer > 0) socket.set_option(boost::asio::socket_base::receive_buffer_size(receive_buffer));
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    protocol::ClientHandshakeOptions hs;
    hs.host = "127.0.0.1";
    hs.target = "/v1/ws";
    protocol::ClientHandshake handshake(hs);
    boost::asio::write(socket, boost::asio::buffer(handshake.request()));
    boost::asio::read_until(socket, head, "\r\n\r\n");
  }
};

/// A blocking HTTP/1.1 client on one keep-alive connection.
struct RawHttp {
  boost::asio::io_context io;
  net::tcp::socket socket{io};
  boost::asio::streambuf in;
  std::string head;  ///< the head (status line and headers) of the last response read

  explicit RawHttp(std::uint16_t port) { socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}); }
  void write(const std::string& bytes) { boost::asio::write(socket, boost::asio::buffer(bytes)); }
  // Reads one response (head + Content-Length body); returns "STATUS BODY".
  std::string read_response() {
    boost::asio::read_until(socket, in, "\r\n\r\n");
    std::string all(boost::asio::buffers_begin(in.data()), boost::asio::buffers_end(in.data()));
    const auto head_end = all.find("\r\n\r\n") + 4;
    head = all.substr(0, head_end);
    std::size_t length = 0;
    if (auto at = head.find("Content-Length: "); at != std::string::npos) length = std::stoul(head.substr(at + 16));
    in.consume(head_end);
    if (in.size() < length) boost::asio::read(socket, in, boost::asio::transfer_exactly(length - in.size()));
    std::string body(boost::asio::buffers_begin(in.data()), boost::asio::buffers_begin(in.data()) + static_cast<std::ptrdiff_t>(length));
    in.consume(length);
    return head.substr(9, 3) + " " + body;
  }
  /// Sends a WebSocket upgrade request for `target`.
  void upgrade(const std::string& target) {
    write("GET " + target + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  }
  /// Reads the head of the next response and returns its status line.
  std::string read_status_line() {
    boost::asio::read_until(socket, in, "\r\n\r\n");
    std::string all(boost::asio::buffers_begin(in.data()), boost::asio::buffers_end(in.data()));
    head = all.substr(0, all.find("\r\n\r\n") + 4);
    in.consume(head.size());
    return head.substr(0, head.find("\r\n"));
  }
  /// POSTs `body` (JSON) to `target`; returns "STATUS BODY".
  std::string post(const std::string& target, const std::string& body) {
    write("POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body);
    return read_response();
  }
  bool closed_by_peer() {
    boost::system::error_code ec;
    std::array<char, 16> b;
    socket.read_some(boost::asio::buffer(b), ec);
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }
};

/// A client of /v1/ws that records every JSON message it receives.
struct JsonClient {
  std::shared_ptr<net::Connection> connection;
  std::vector<json::object> messages;
  std::map<std::string, std::size_t> counts;
  bool open = false;
  bool closed = false;
  net::CloseInfo close_info;

  JsonClient(boost::asio::io_context& io, const net::WsUrl& url, net::ClientOptions options = {}) {
    net::ConnectionCallbacks callbacks;
    callbacks.on_open = [this](net::Connection&) { open = true; };
    callbacks.on_message = [this](net::Connection&, protocol::MessageType, std::span<const std::uint8_t> payload) {
      auto value = json::parse(std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
      ++counts[std::string(value.as_object().at("type").as_string())];
      messages.push_back(value.as_object());
    };
    callbacks.on_closed = [this](net::Connection&, const net::CloseInfo& info) {
      closed = true;
      close_info = info;
    };
    connection = net::connect(io, url, std::move(options), std::move(callbacks));
  }

  void send(const json::object& request) { (void)connection->send_text(json::serialize(request)); }
  void subscribe(std::string pattern, int id = 1) {
    send({{"op", "subscribe"}, {"id", id}, {"topic", pattern}});
  }
  void publish(std::string topic, json::value data, int id = 1) {
    send({{"op", "publish"}, {"id", id}, {"topic", topic}, {"data", data}});
  }

  /// Messages whose "type" is `type`.
  std::vector<json::object> of_type(std::string_view type) const {
    std::vector<json::object> out;
    for (const auto& m : messages) {
      if (m.at("type").as_string() == type) out.push_back(m);
    }
    return out;
  }
  /// Messages of this type received so far (cheap: counted as they arrive;
  /// tests that clear `messages` keep the counts).
  std::size_t count(std::string_view type) const {
    auto it = counts.find(std::string(type));
    return it == counts.end() ? 0 : it->second;
  }
  /// The events received, as (topic, offset, data).
  std::vector<json::object> events() const {
    std::vector<json::object> out;
    for (const auto& m : of_type("event")) out.push_back(m.at("event").as_object());
    return out;
  }
};

}  // namespace sluice::test
