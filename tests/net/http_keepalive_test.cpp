// Plain HTTP on a server connection and its deadline (timeouts.handshake):
// a request must be complete within it of the accept or of the last answer;
// a handler slower than that still answers; an idle keep-alive connection
// ends once the deadline has passed since its last answer. One io_context on
// the test thread, time-bounded; timers here pace the client and the handler,
// they do not wait for the server.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/run_until.hpp"
#include "sluice/net/connection.hpp"
#include "sluice/net/server.hpp"

namespace {

namespace asio = boost::asio;
namespace net = sluice::net;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = 300ms;

using sluice::test::run_until;

std::string ok_response(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// A server whose HTTP handler answers each request with its target, after
// `delay` (0: before the handler returns), recording how connections ended.
struct HttpServer {
  std::vector<net::CloseInfo> closed;
  std::unique_ptr<net::Server> server;

  HttpServer(asio::io_context& io, std::chrono::milliseconds delay) {
    net::ServerOptions options;
    options.port = 0;
    options.connection.timeouts.handshake = kDeadline;
    options.connection.http_handler = [&io, delay](net::Connection&, net::ParsedRequest& request,
                                                   std::function<void(std::string, bool)> respond) {
      std::string answer = ok_response(request.target());
      if (delay.count() == 0) return respond(std::move(answer), false);
      auto timer = std::make_shared<asio::steady_timer>(io, delay);
      timer->async_wait([timer, answer = std::move(answer), respond = std::move(respond)](const auto&) mutable {
        respond(std::move(answer), false);
      });
    };
    net::ConnectionCallbacks callbacks;
    callbacks.on_closed = [this](net::Connection&, const net::CloseInfo& info) { closed.push_back(info); };
    server = std::make_unique<net::Server>(io, std::move(options), std::move(callbacks));
    EXPECT_FALSE(server->listen());
    server->start();
  }
};

// A keep-alive client: sends one request at a time, reads each answer.
struct Client {
  net::tcp::socket socket;
  asio::streambuf in;
  std::vector<std::string> answers;
  std::vector<Clock::time_point> answered_at;
  boost::system::error_code ended;  // set when the server closed the connection
  Clock::time_point ended_at;

  Client(asio::io_context& io, std::uint16_t port) : socket(io) {
    socket.connect(net::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void request(const std::string& target) {
    asio::write(socket, asio::buffer("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  // Reads answers (heads and bodies) until the server closes.
  void read_all() {
    asio::async_read_until(socket, in, "\r\n\r\n", [this](const boost::system::error_code& ec, std::size_t head) {
      if (ec) {
        ended = ec;
        ended_at = Clock::now();
        return;
      }
      std::string all(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
      const auto length = std::stoul(all.substr(all.find("Content-Length: ") + 16));
      if (all.size() < head + length) {  // bodies here are tiny: in the same segment as the head
        ADD_FAILURE() << "partial body";
        return;
      }
      answers.push_back(all.substr(head, length));
      answered_at.push_back(Clock::now());
      in.consume(head + length);
      read_all();
    });
  }
};

TEST(NetHttpKeepAlive, AnswersPacedWithinTheDeadlineKeepTheConnectionPastIt) {
  asio::io_context io;
  HttpServer server(io, 0ms);
  Client client(io, server.server->port());
  client.read_all();
  // Five requests 100 ms apart: 500 ms in all, longer than the 300 ms
  // deadline, which restarts with every answer.
  asio::steady_timer pace(io);
  int sent = 0;
  std::function<void()> send_next = [&] {
    client.request("/r" + std::to_string(sent++));
    if (sent == 5) return;
    pace.expires_after(100ms);
    pace.async_wait([&](const auto&) { send_next(); });
  };
  send_next();
  ASSERT_TRUE(run_until(io, [&] { return client.answers.size() == 5 || bool(client.ended); }));
  EXPECT_EQ(client.answers, (std::vector<std::string>{"/r0", "/r1", "/r2", "/r3", "/r4"}));
  EXPECT_FALSE(client.ended);
  // Then idle: closed once the deadline has passed since the last answer.
  ASSERT_TRUE(run_until(io, [&] { return bool(client.ended) && server.closed.size() == 1; }));
  EXPECT_GE(client.ended_at - client.answered_at.back(), kDeadline - 50ms);
  EXPECT_EQ(server.closed[0].error, std::errc::timed_out);
  EXPECT_FALSE(server.closed[0].was_open);
}

TEST(NetHttpKeepAlive, AHandlerSlowerThanTheDeadlineStillAnswers) {
  asio::io_context io;
  HttpServer server(io, kDeadline * 2);
  Client client(io, server.server->port());
  client.read_all();
  client.request("/slow");
  ASSERT_TRUE(run_until(io, [&] { return !client.answers.empty() || bool(client.ended); }));
  ASSERT_EQ(client.answers, (std::vector<std::string>{"/slow"}));
  client.request("/again");  // the connection is still served after the slow answer
  ASSERT_TRUE(run_until(io, [&] { return client.answers.size() == 2 || bool(client.ended); }));
  ASSERT_EQ(client.answers.size(), 2u);
  ASSERT_TRUE(run_until(io, [&] { return bool(client.ended) && server.closed.size() == 1; }));
  EXPECT_GE(client.ended_at - client.answered_at.back(), kDeadline - 50ms);
  EXPECT_EQ(server.closed[0].error, std::errc::timed_out);
}

}  // namespace
