// The Asio transport end to end on loopback: echo over ws:// and wss://,
// handshake rejection, timeouts, and the lifecycle rules of SPEC §1 that this
// layer owns (one on_closed, nothing after abort, idempotent close). Every test
// runs one io_context on the test thread with a time bound: no sleeps.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <string>
#include <utility>
#include <vector>

#include "net/run_until.hpp"
#include "net/test_tls.hpp"
#include "sluice/net/connection.hpp"
#include "sluice/net/server.hpp"
#include "sluice/net/tls.hpp"
#include "sluice/protocol/codec.hpp"
#include "sluice/protocol/error.hpp"
#include "sluice/protocol/handshake.hpp"

namespace {

namespace asio = boost::asio;
namespace net = sluice::net;
using sluice::protocol::Error;
using sluice::protocol::MessageType;
using namespace std::chrono_literals;

using sluice::test::run_until;

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string text(std::span<const std::uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// An echo server on a free loopback port, recording how each connection ended.
struct EchoServer {
  std::vector<net::CloseInfo> closed;
  std::unique_ptr<net::Server> server;

  EchoServer(asio::io_context& io, net::ServerOptions options = {}) {
    options.port = 0;
    net::ConnectionCallbacks callbacks;
    callbacks.on_message = [](net::Connection& c, MessageType type, std::span<const std::uint8_t> payload) {
      (void)c.send(type, payload);
    };
    callbacks.on_closed = [this](net::Connection&, const net::CloseInfo& info) { closed.push_back(info); };
    server = std::make_unique<net::Server>(io, std::move(options), std::move(callbacks));
    EXPECT_FALSE(server->listen());
    server->start();
  }
  net::WsUrl url(bool secure = false, std::string host = "127.0.0.1") const {
    return net::WsUrl{secure, std::move(host), server->port(), "/"};
  }
};

TEST(NetConnection, EchoRoundTripAndCleanClose) {
  asio::io_context io;
  EchoServer echo(io);
  std::vector<std::string> received;
  int closed_calls = 0;
  net::CloseInfo client_close;
  net::ConnectionCallbacks callbacks;
  callbacks.on_open = [](net::Connection& c) {
    EXPECT_FALSE(c.send_text("one"));
    EXPECT_FALSE(c.send(MessageType::binary, bytes("two")));
  };
  callbacks.on_message = [&](net::Connection& c, MessageType, std::span<const std::uint8_t> payload) {
    received.push_back(text(payload));
    if (received.size() == 2) c.close(1000, "done");
  };
  callbacks.on_closed = [&](net::Connection&, const net::CloseInfo& info) {
    ++closed_calls;
    client_close = info;
  };
  auto connection = net::connect(io, echo.url(), {}, callbacks);
  ASSERT_TRUE(run_until(io, [&] { return bool(closed_calls == 1 && echo.closed.size() == 1); }));

  EXPECT_EQ(received, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(closed_calls, 1);
  EXPECT_TRUE(client_close.was_open);
  EXPECT_EQ(client_close.code, 1000);  // the server echoed our code
  EXPECT_FALSE(client_close.error) << client_close.error.message();
  ASSERT_EQ(echo.closed.size(), 1u);
  EXPECT_EQ(echo.closed[0].code, 1000);
  EXPECT_EQ(echo.closed[0].reason, "done");
  EXPECT_FALSE(echo.closed[0].error) << echo.closed[0].error.message();
  EXPECT_EQ(connection->state(), net::Connection::State::closed);
  EXPECT_EQ(connection->send_text("late"), Error::connection_closed);
}

TEST(NetConnection, DeflateNegotiatedAndLargeMessageRoundTrips) {
  asio::io_context io;
  net::ServerOptions options;
  options.connection.handshake.deflate.enabled = true;
  EchoServer echo(io, options);
  std::string big(3 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
  bool negotiated = false;
  std::string echoed;
  net::ClientOptions client;
  client.handshake.deflate.enabled = true;
  net::ConnectionCallbacks callbacks;
  callbacks.on_open = [&](net::Connection& c) {
    negotiated = c.deflate_enabled();
    EXPECT_FALSE(c.send_text(big));
  };
  callbacks.on_message = [&](net::Connection& c, MessageType, std::span<const std::uint8_t> payload) {
    echoed = text(payload);
    c.close();
  };
  net::connect(io, echo.url(), client, callbacks);
  ASSERT_TRUE(run_until(io, [&] { return bool(echo.closed.size() == 1); }));
  EXPECT_TRUE(negotiated);
  EXPECT_EQ(echoed, big);
}

// Sends `message` over wss:// to an echo server with a verified certificate,
// closes once it comes back; returns what came back and how the client closed.
std::pair<std::string, net::CloseInfo> tls_echo_round_trip(const std::string& message) {
  sluice::test::SelfSignedCert cert;
  std::string error;
  net::ServerOptions options;
  options.tls = net::make_server_tls_context(cert.cert_file, cert.key_file, error);
  EXPECT_TRUE(options.tls) << error;
  asio::io_context io;
  EchoServer echo(io, options);

  net::ClientOptions client;
  client.tls = net::make_client_tls_context({true, cert.cert_file}, error);
  EXPECT_TRUE(client.tls) << error;
  std::string echoed;
  net::CloseInfo closed;
  net::ConnectionCallbacks callbacks;
  callbacks.on_open = [&](net::Connection& c) { EXPECT_FALSE(c.send_text(message)); };
  callbacks.on_message = [&](net::Connection& c, MessageType, std::span<const std::uint8_t> payload) {
    echoed = text(payload);
    c.close();
  };
  callbacks.on_closed = [&](net::Connection&, const net::CloseInfo& info) { closed = info; };
  net::connect(io, echo.url(true, "localhost"), client, callbacks);
  EXPECT_TRUE(run_until(io, [&] { return bool(echo.closed.size() == 1 && closed.was_open); }));
  return {echoed, closed};
}

TEST(NetConnection, TlsEchoWithVerifiedCertificate) {
  const auto [echoed, closed] = tls_echo_round_trip("over tls");
  EXPECT_EQ(echoed, "over tls");
  EXPECT_TRUE(closed.was_open);
  EXPECT_EQ(closed.code, 1000);
}

TEST(NetConnection, TlsEchoOfAMessageOfManyRecords) {
  // 3 MiB each way: about 200 TLS records, more than the socket buffers hold,
  // so the server's session waits for the socket with records taken.
  std::string big(3 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
  const auto [echoed, closed] = tls_echo_round_trip(big);
  EXPECT_EQ(echoed.size(), big.size());
  EXPECT_TRUE(echoed == big);
  EXPECT_TRUE(closed.was_open);
  EXPECT_EQ(closed.code, 1000);
}

TEST(NetConnection, TlsRejectsUntrustedCertificate) {
  sluice::test::SelfSignedCert cert;
  sluice::test::SelfSignedCert other;  // a different CA: verification must fail
  std::string error;
  net::ServerOptions options;
  options.tls = net::make_server_tls_context(cert.cert_file, cert.key_file, error);
  ASSERT_TRUE(options.tls) << error;
  asio::io_context io;
  EchoServer echo(io, options);
  net::ClientOptions client;
  client.tls = net::make_client_tls_context({true, other.cert_file}, error);
  ASSERT_TRUE(client.tls) << error;
  bool opened = false;
  net::CloseInfo closed;
  net::ConnectionCallbacks callbacks;
  callbacks.on_open = [&](net::Connection&) { opened = true; };
  callbacks.on_closed = [&](net::Connection&, const net::CloseInfo& info) { closed = info; };
  net::connect(io, echo.url(true, "localhost"), client, callbacks);
  ASSERT_TRUE(run_until(io, [&] { return bool(echo.closed.size() == 1 && closed.error); }));
  EXPECT_FALSE(opened);
  EXPECT_FALSE(closed.was_open);
  EXPECT_TRUE(closed.error);
  EXPECT_NE(closed.error.message().find("certificate"), std::string::npos) << closed.error.message();
}

TEST(NetConnection, RejectedHandshakeReportsStatusOnBothSides) {
  asio::io_context io;
  net::ServerOptions options;
  options.connection.handshake.origin_check = [](std::string_view origin) { return origin == "https://ok.example"; };
  EchoServer echo(io, options);
  net::ClientOptions client;
  client.handshake.origin = "https://evil.example";
  net::CloseInfo closed;
  net::ConnectionCallbacks callbacks;
  callbacks.on_closed = [&](net::Connection&, const net::CloseInfo& info) { closed = info; };
  net::connect(io, echo.url(), client, callbacks);
  ASSERT_TRUE(run_until(io, [&] { return bool(echo.closed.size() == 1 && closed.error); }));
  EXPECT_FALSE(closed.was_open);
  EXPECT_EQ(closed.http_status, 403u);
  EXPECT_EQ(closed.error, Error::handshake_rejected);
  ASSERT_EQ(echo.closed.size(), 1u);
  EXPECT_EQ(echo.closed[0].error, Error::origin_rejected);
}

// A client that only watches how its connection ends.
struct ClosedRecord {
  net::CloseInfo closed;
  int calls = 0;
  net::ConnectionCallbacks callbacks() {
    net::ConnectionCallbacks c;
    c.on_closed = [this](net::Connection&, const net::CloseInfo& info) {
      ++calls;
      closed = info;
    };
    return c;
  }
};

TEST(NetConnection, ConnectionRefusedIsReported) {
  asio::io_context io;
  // Find a port with nothing listening: bind, read the port, close.
  net::tcp::acceptor probe(io, net::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = probe.local_endpoint().port();
  probe.close();
  ClosedRecord record;
  net::connect(io, net::WsUrl{false, "127.0.0.1", port, "/"}, {}, record.callbacks());
  ASSERT_TRUE(run_until(io, [&] { return record.calls == 1; }));
  EXPECT_EQ(record.calls, 1);
  EXPECT_FALSE(record.closed.was_open);
  EXPECT_EQ(record.closed.error, std::errc::connection_refused) << record.closed.error.message();
}

TEST(NetConnection, HandshakeOptionWithLineBreakFailsBeforeConnecting) {
  asio::io_context io;
  EchoServer echo(io);
  net::ClientOptions client;
  client.handshake.headers = {{"X-Ok", "v\r\nX-Injected: 1"}};
  ClosedRecord record;
  net::connect(io, echo.url(), client, record.callbacks());
  ASSERT_TRUE(run_until(io, [&] { return record.calls == 1; }));
  EXPECT_FALSE(record.closed.was_open);
  EXPECT_EQ(record.closed.error, Error::bad_request_option) << record.closed.error.message();
  EXPECT_EQ(record.calls, 1);
}

TEST(NetConnection, AbortInsideCallbackStopsFurtherCallbacks) {
  asio::io_context io;
  EchoServer echo(io);
  int messages = 0;
  int closed_calls = 0;
  int callbacks_after_close = 0;
  net::ConnectionCallbacks callbacks;
  callbacks.on_open = [](net::Connection& c) {
    // Three echoes will arrive, very likely in one read: the abort must stop the rest.
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(c.send_text("m"));
  };
  callbacks.on_message = [&](net::Connection& c, MessageType, std::span<const std::uint8_t>) {
    if (closed_calls) ++callbacks_after_close;
    ++messages;
    c.abort();
    c.abort();     // asking twice is harmless
    c.close();     // and so is a close after abort
    EXPECT_EQ(c.send_text("after abort"), Error::connection_closed);
  };
  callbacks.on_closed = [&](net::Connection&, const net::CloseInfo& info) {
    ++closed_calls;
    EXPECT_EQ(info.error, std::errc::operation_canceled);
  };
  net::connect(io, echo.url(), {}, callbacks);
  ASSERT_TRUE(run_until(io, [&] { return bool(closed_calls == 1 && echo.closed.size() == 1); }));
  EXPECT_EQ(messages, 1);
  EXPECT_EQ(closed_calls, 1);
  EXPECT_EQ(callbacks_after_close, 0);
}

TEST(NetConnection, CloseTwiceSendsOneCloseFrame) {
  asio::io_context io;
  EchoServer echo(io);
  int closed_calls = 0;
  net::CloseInfo closed;
  net::ConnectionCallbacks callbacks;
  callbacks.on_open = [](net::Connection& c) {
    c.close(4000, "first");
    c.close(4001, "second");  // no-op: the handshake already started
    EXPECT_EQ(c.state(), net::Connection::State::closing);
  };
  callbacks.on_closed = [&](net::Connection&, const net::CloseInfo& info) {
    ++closed_calls;
    closed = info;
  };
  net::connect(io, echo.url(), {}, callbacks);
  ASSERT_TRUE(run_until(io, [&] { return bool(closed_calls == 1 && echo.closed.size() == 1); }));
  EXPECT_EQ(closed_calls, 1);
  EXPECT_EQ(closed.code, 4000);
  ASSERT_EQ(echo.closed.size(), 1u);
  EXPECT_EQ(echo.closed[0].code, 4000);
  EXPECT_EQ(echo.closed[0].reason, "first");
}

TEST(NetConnection, SlowlorisHandshakeTimesOut) {
  asio::io_context io;
  net::ServerOptions options;
  options.connection.timeouts.handshake = 200ms;
  EchoServer echo(io, options);
  net::tcp::socket raw(io);
  boost::system::error_code read_error;
  std::array<char, 64> sink{};
  raw.async_connect(net::tcp::endpoint(asio::ip::make_address("127.0.0.1"), echo.server->port()),
                    [&](const boost::system::error_code& ec) {
                      ASSERT_FALSE(ec);
                      asio::write(raw, asio::buffer(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n")));
                      // Never finish the head; the server must give up and close.
                      raw.async_read_some(asio::buffer(sink), [&](const boost::system::error_code& rec, std::size_t) {
                        read_error = rec;
                      });
                    });
  ASSERT_TRUE(run_until(io, [&] { return bool(echo.closed.size() == 1 && read_error); }));
  EXPECT_EQ(read_error, asio::error::eof);
  ASSERT_EQ(echo.closed.size(), 1u);
  EXPECT_EQ(echo.closed[0].error, std::errc::timed_out);
  EXPECT_FALSE(echo.closed[0].was_open);
}

TEST(NetConnection, CloseTimesOutWhenPeerNeverAnswers) {
  asio::io_context io;
  // A peer that completes the handshake, then ignores everything.
  net::tcp::acceptor acceptor(io, net::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  net::tcp::socket peer(io);
  asio::streambuf request;
  std::string response;
  acceptor.async_accept(peer, [&](const boost::system::error_code& ec) {
    ASSERT_FALSE(ec);
    asio::async_read_until(peer, request, "\r\n\r\n", [&](const boost::system::error_code& rec, std::size_t) {
      ASSERT_FALSE(rec);
      std::string head(asio::buffers_begin(request.data()), asio::buffers_end(request.data()));
      const auto at = head.find("Sec-WebSocket-Key: ") + 19;
      const std::string key = head.substr(at, head.find("\r\n", at) - at);
      response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: " + sluice::protocol::compute_accept_key(key) + "\r\n\r\n";
      asio::write(peer, asio::buffer(response));
    });
  });
  net::ClientOptions client;
  client.timeouts.close = 200ms;
  net::CloseInfo closed;
  net::ConnectionCallbacks callbacks;
  callbacks.on_open = [](net::Connection& c) { c.close(); };
  callbacks.on_closed = [&](net::Connection&, const net::CloseInfo& info) { closed = info; };
  net::connect(io, net::WsUrl{false, "127.0.0.1", acceptor.local_endpoint().port(), "/"}, client, callbacks);
  ASSERT_TRUE(run_until(io, [&] { return bool(closed.error); }));
  EXPECT_TRUE(closed.was_open);
  EXPECT_EQ(closed.code, 1006);
  EXPECT_EQ(closed.error, std::errc::timed_out);
}

// A raw peer that completes the handshake, then only answers pings (with the
// codec's automatic pong) and counts them. It never sends anything else.
struct PongingPeer : sluice::protocol::CodecHandler {
  net::tcp::socket socket;
  sluice::protocol::Codec codec{sluice::protocol::Role::client};
  asio::streambuf head;
  std::array<std::uint8_t, 4096> buffer{};
  std::string request;
  std::string out;
  int pings = 0;
  bool upgraded = false;
  bool ended = false;

  PongingPeer(asio::io_context& io, std::uint16_t port) : socket(io) {
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    sluice::protocol::ClientHandshakeOptions options;
    options.host = "127.0.0.1";
    sluice::protocol::ClientHandshake handshake(options);
    request = handshake.request();
    asio::write(socket, asio::buffer(request));
    asio::async_read_until(socket, head, "\r\n\r\n", [this](const boost::system::error_code& ec, std::size_t n) {
      if (ec) return void(ended = true);
      upgraded = std::string_view(static_cast<const char*>(head.data().data()), 12) == "HTTP/1.1 101";
      head.consume(n);
      std::vector<std::uint8_t> rest(asio::buffers_begin(head.data()), asio::buffers_end(head.data()));
      if (!rest.empty()) feed(rest);
      read();
    });
  }
  void read() {
    socket.async_read_some(asio::buffer(buffer), [this](const boost::system::error_code& ec, std::size_t n) {
      if (ec) return void(ended = true);
      feed({buffer.data(), n});
      read();
    });
  }
  void feed(std::span<std::uint8_t> bytes) {
    (void)codec.receive(bytes, *this);
    if (codec.pending_output().empty()) return;
    out.assign(reinterpret_cast<const char*>(codec.pending_output().data()), codec.pending_output().size());
    codec.consume_output(out.size());
    asio::write(socket, asio::buffer(out));  // a pong: a few bytes, the socket takes them at once
  }
  void on_message(MessageType, std::span<const std::uint8_t>) override {}
  void on_ping(std::span<const std::uint8_t>) override { ++pings; }
};

TEST(NetConnection, KeepalivePingsEveryIntervalWhenPongsComeBackAtOnce) {
  asio::io_context io;
  net::ServerOptions options;
  options.connection.timeouts.ping_interval = 100ms;
  // Far longer than the test's bound: a server that waited for it before the
  // next ping (the old cadence, interval + pong timeout) could not pass.
  options.connection.timeouts.pong_timeout = 60s;
  EchoServer echo(io, options);
  PongingPeer peer(io, echo.server->port());
  // Four pings one interval apart take about 0.4 s; at the old cadence, 180 s.
  ASSERT_TRUE(run_until(io, [&] { return peer.pings >= 4 || peer.ended; }));
  EXPECT_TRUE(peer.upgraded);
  EXPECT_GE(peer.pings, 4);
  EXPECT_FALSE(peer.ended);
  EXPECT_TRUE(echo.closed.empty());  // every pong kept the connection alive
}

TEST(NetConnection, ParsesWsUrls) {
  auto url = net::parse_ws_url("wss://example.com/feed?x=1");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->secure);
  EXPECT_EQ(url->host, "example.com");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/feed?x=1");
  EXPECT_EQ(url->host_header(), "example.com");
  url = net::parse_ws_url("ws://[::1]:9001");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 9001);
  EXPECT_EQ(url->target, "/");
  EXPECT_EQ(url->host_header(), "[::1]:9001");
  url = net::parse_ws_url("ws://h?q");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->target, "/?q");
  EXPECT_FALSE(net::parse_ws_url("http://example.com"));
  EXPECT_FALSE(net::parse_ws_url("ws://:80/"));
  EXPECT_FALSE(net::parse_ws_url("ws://h:0/"));
  EXPECT_FALSE(net::parse_ws_url("ws://h:70000/"));
  EXPECT_FALSE(net::parse_ws_url("ws://user@h/"));
  // A space or control byte would split the request line (CR/LF: header injection).
  EXPECT_FALSE(net::parse_ws_url("ws://h/a\r\nX-Injected: 1"));
  EXPECT_FALSE(net::parse_ws_url("ws://h/a b"));
  EXPECT_FALSE(net::parse_ws_url("ws://h\n/"));
  EXPECT_FALSE(net::parse_ws_url("ws://h\t/"));
  EXPECT_FALSE(net::parse_ws_url("ws://h/feed#part"));  // RFC 6455 §3: no fragment
  EXPECT_FALSE(net::parse_ws_url(std::string_view("ws://h/\0", 8)));
}

}  // namespace
