// ws:// and wss:// through an HTTP CONNECT proxy (ProxyOptions::url, with
// credentials; TLS inside the tunnel, checked against the target host), and a
// proxy that refuses the tunnel or cannot be reached.
#include <gtest/gtest.h>

#include "client/connect_proxy.hpp"
#include "client/fault_proxy.hpp"
#include "client/test_support.hpp"
#include "net/test_tls.hpp"
#include "sluice/client/client.hpp"
#include "sluice/net/tls.hpp"

namespace {

using namespace sluice;
using namespace sluice::test;
using client::Client;
using client::Error;
using client::SendStatus;

TEST(ClientProxy, WsThroughAConnectProxyWithCredentials) {
  WsServer server;
  FaultProxy recorder(server.port());  // between the CONNECT proxy and the server: sees the handshake
  ConnectProxy proxy("Basic dTpzM2NyZXQ=");  // base64("u:s3cret")
  auto o = fast_options();
  o.proxy.url = "http://u:s3cret@127.0.0.1:" + std::to_string(proxy.port());
  Recorder rec;
  Client c(recorder.url("/feed"), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_EQ(c.send_text("via proxy"), SendStatus::sent);
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == 1; }));
  EXPECT_EQ(rec.copy(rec.messages)[0], "via proxy");
  const auto requests = proxy.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string target = "127.0.0.1:" + std::to_string(recorder.port());
  EXPECT_TRUE(requests[0].starts_with("CONNECT " + target + " HTTP/1.1\r\n")) << requests[0];
  // The WebSocket handshake names the real server, not the relay.
  EXPECT_EQ(recorder.last_request_headers()["Host"], target);

  server.close_all(1001, "restart");  // the reconnect goes through the proxy again
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 2; }));
  EXPECT_EQ(proxy.requests().size(), 2u);
  c.close();
  ASSERT_TRUE(server.signal.wait([&] { return server.closed().size() == 2; }));
  EXPECT_EQ(server.closed()[1].code, 1000);  // the close handshake went through the tunnel
}

TEST(ClientProxy, RefusedTunnelIsReportedAndRetried) {
  WsServer server;
  ConnectProxy proxy("Basic c29tZW9uZTplbHNl");
  auto o = fast_options();
  o.proxy.url = proxy.url();  // no credentials: 407
  o.reconnect.backoff.floor = 20ms;
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.errors.size() >= 3; }));
  const auto errors = rec.copy(rec.errors);
  EXPECT_EQ(errors[0].error, Error::proxy_failed);
  EXPECT_NE(errors[0].message.find("407"), std::string::npos) << errors[0].message;
  EXPECT_TRUE(rec.copy(rec.opens).empty());
  for (const auto& [attempt, delay] : rec.copy(rec.reconnects)) EXPECT_GE(delay, 20ms);
  EXPECT_EQ(c.info().last_error, Error::proxy_failed);
}

TEST(ClientProxy, UnreachableProxyIsReported) {
  WsServer server;
  RawServer closed_port("", true);
  auto o = fast_options();
  o.proxy.url = "http://127.0.0.1:1";  // nothing listens there
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.errors.size() >= 1; }));
  const auto e = rec.copy(rec.errors)[0];
  EXPECT_EQ(e.error, Error::proxy_failed);
  EXPECT_NE(e.message.find("cannot connect to proxy 127.0.0.1:1"), std::string::npos) << e.message;
}

// A wss:// server whose certificate names only `host_names` (OpenSSL's SAN syntax).
struct TlsServer {
  explicit TlsServer(const char* host_names) : cert(host_names), server({}, options()) {}
  net::ServerOptions options() {
    std::string error;
    net::ServerOptions o;
    o.tls = net::make_server_tls_context(cert.cert_file, cert.key_file, error);
    EXPECT_TRUE(o.tls) << error;
    return o;
  }
  SelfSignedCert cert;
  WsServer server;
};

TEST(ClientProxy, WssThroughAConnectProxyVerifiesTheTargetHost) {
  // The certificate names "localhost" only: the relay and the proxy are
  // 127.0.0.1, so this passes only if TLS checks the URL's host.
  TlsServer tls("DNS:localhost");
  ConnectProxy proxy;
  auto o = fast_options();
  o.proxy.url = proxy.url();
  o.tls.ca_file = tls.cert.cert_file;
  Recorder rec;
  Client c("wss://localhost:" + std::to_string(tls.server.port()) + "/feed", o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1 || !rec.errors.empty(); }));
  ASSERT_TRUE(rec.copy(rec.errors).empty()) << rec.copy(rec.errors)[0].message;
  EXPECT_EQ(c.send_text("via proxy, over tls"), SendStatus::sent);
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == 1; }));
  EXPECT_EQ(rec.copy(rec.messages)[0], "via proxy, over tls");
  const auto requests = proxy.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(requests[0].starts_with("CONNECT localhost:" + std::to_string(tls.server.port()) + " HTTP/1.1\r\n"))
      << requests[0];
  c.close();
  ASSERT_TRUE(tls.server.signal.wait([&] { return tls.server.closed().size() == 1; }));
  EXPECT_EQ(tls.server.closed()[0].code, 1000);  // the close handshake went through the tunnel
}

TEST(ClientProxy, WssThroughAConnectProxyRefusesACertificateForAnotherHost) {
  TlsServer tls("DNS:other.example");  // trusted, but not for "localhost"
  ConnectProxy proxy;
  auto o = fast_options();
  o.proxy.url = proxy.url();
  o.tls.ca_file = tls.cert.cert_file;
  Recorder rec;
  Client c("wss://localhost:" + std::to_string(tls.server.port()) + "/", o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.errors.size() >= 2; }));
  EXPECT_FALSE(proxy.requests().empty());  // it did go through the proxy
  EXPECT_TRUE(rec.copy(rec.opens).empty());
  EXPECT_EQ(tls.server.opened(), 0u);
  const auto errors = rec.copy(rec.errors);
  EXPECT_NE(errors[0].message.find("certificate"), std::string::npos) << errors[0].message;
}

}  // namespace
