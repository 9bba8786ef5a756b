// ws:// through an HTTP CONNECT proxy (ProxyOptions::url, with credentials),
// a proxy that refuses the tunnel, and the clear refusal of wss:// via a proxy.
#include <gtest/gtest.h>

#include "client/connect_proxy.hpp"
#include "client/fault_proxy.hpp"
#include "client/test_support.hpp"
#include "sluice/client/client.hpp"

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

TEST(ClientProxy, WssThroughAProxyIsRejectedClearly) {
  client::ClientOptions o;
  o.proxy.url = "http://127.0.0.1:3128";
  try {
    Client c("wss://feed.example/", o);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
  }
}

}  // namespace
