// Server-side liveness and TLS: pings with a pong deadline, the idle timeout,
// and wss:// on the SluiceServer.
#include <gtest/gtest.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "net/test_tls.hpp"  // SelfSignedCert
#include "server/server_harness.hpp"
#include "sluice/net/tls.hpp"
#include "sluice/protocol/handshake.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

TEST(ServerTimeouts, SilentPeerIsClosedAfterAnUnansweredPingResponsiveOneStays) {
  auto settings = test_settings();
  settings.ping_interval = 100ms;
  settings.pong_timeout = 100ms;
  TestServer server(settings);
  asio::io_context io;
  // Our client answers pings automatically.
  JsonClient alive(io, server.url());
  // A raw peer that completes the handshake, then never reads again (so never pongs).
  RawWsPeer silent(server.server->port());
  ASSERT_TRUE(run_until(io, [&] { return alive.open && server.server->connection_count() == 2; }));
  const auto start = std::chrono::steady_clock::now();
  // Within a few intervals the silent one is gone; the responsive one is not.
  ASSERT_TRUE(run_until(io, [&] { return server.server->connection_count() == 1; }, 10s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);  // a ping interval plus the pong deadline
  const auto later = std::chrono::steady_clock::now() + 600ms;
  run_until(io, [&] { return std::chrono::steady_clock::now() >= later || alive.closed; });
  EXPECT_FALSE(alive.closed);
  alive.send({{"op", "ping"}, {"id", 1}});
  ASSERT_TRUE(run_until(io, [&] { return alive.count("ack") == 1; }));
}

TEST(ServerTimeouts, IdleClientIsClosedWith1001) {
  auto settings = test_settings();
  settings.idle_timeout = 200ms;
  TestServer server(settings);
  asio::io_context io;
  JsonClient idle(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return idle.closed; }, 10s));
  EXPECT_TRUE(idle.close_info.was_open);
  EXPECT_EQ(idle.close_info.code, 1001);
  EXPECT_EQ(idle.close_info.reason, "idle timeout");
}

TEST(ServerTimeouts, ServesWssWithACertificate) {
  SelfSignedCert cert;
  auto settings = test_settings();
  settings.tls_cert = cert.cert_file;
  settings.tls_key = cert.key_file;
  TestServer server(settings);
  asio::io_context io;
  net::ClientOptions options;
  std::string error;
  options.tls = net::make_client_tls_context({true, cert.cert_file}, error);
  ASSERT_TRUE(options.tls) << error;
  JsonClient c(io, net::WsUrl{true, "localhost", server.server->port(), "/v1/ws"}, options);
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  c.subscribe("secure");
  c.publish("secure", "hello", 2);
  ASSERT_TRUE(run_until(io, [&] { return c.count("event") == 1; }));
  EXPECT_EQ(c.events()[0].at("data").as_string(), "hello");
}

TEST(ServerTimeouts, InvalidTlsFilesAreAClearStartError) {
  auto settings = test_settings();
  settings.tls_cert = "/nonexistent/cert.pem";
  settings.tls_key = "/nonexistent/key.pem";
  server::SluiceServer server(settings);
  std::string error;
  EXPECT_FALSE(server.start(error));
  EXPECT_NE(error.find("/nonexistent/cert.pem"), std::string::npos) << error;
}

TEST(ServerTimeouts, PortInUseIsAClearStartError) {
  TestServer first;
  auto settings = test_settings();
  settings.port = first.server->port();
  server::SluiceServer second(settings);
  std::string error;
  EXPECT_FALSE(second.start(error));
  EXPECT_NE(error.find("cannot listen on 127.0.0.1:"), std::string::npos) << error;
}

}  // namespace
}  // namespace sluice::test
