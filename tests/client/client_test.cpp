// sluice::Client basics on loopback: echo, handshake options, wss:// with
// verification, connection info, close() from every place it may be called,
// and the attempt rules (max attempts, reconnect disabled, stable period).
#include <gtest/gtest.h>

#include <boost/json/value.hpp>

#include <atomic>
#include <thread>

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
using client::State;

TEST(Client, EchoThenCloseFromAnotherThread) {
  WsServer server;
  Recorder rec;
  Client c(server.url(), fast_options());
  rec.attach(c);
  EXPECT_EQ(c.state(), State::idle);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_EQ(c.state(), State::open);
  EXPECT_EQ(c.send_text("one"), SendStatus::sent);
  EXPECT_EQ(c.send_json(boost::json::value{{"two", 2}}), SendStatus::sent);
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == 2; }));
  EXPECT_EQ(rec.copy(rec.messages), (std::vector<std::string>{"one", R"({"two":2})"}));

  c.close(1000, "bye");
  EXPECT_EQ(c.state(), State::closed);
  const auto closes = rec.copy(rec.closes);
  ASSERT_EQ(closes.size(), 1u);  // the final on_close ran before close() returned
  EXPECT_FALSE(closes[0].will_retry);
  EXPECT_EQ(closes[0].code, 1000);
  EXPECT_EQ(closes[0].error, Error::closed_by_user);
  EXPECT_EQ(c.send_text("late"), SendStatus::closed);
  c.close();  // idempotent
  ASSERT_TRUE(server.signal.wait([&] { return server.closed().size() == 1; }));
  EXPECT_EQ(server.closed()[0].code, 1000);
  EXPECT_EQ(server.closed()[0].reason, "bye");
  EXPECT_TRUE(rec.copy(rec.errors).empty());
}

TEST(Client, SendsBeforeConnectAreQueuedAndFlushedInOrder) {
  WsServer server;
  Recorder rec;
  Client c(server.url(), fast_options());
  rec.attach(c);
  EXPECT_EQ(c.send_text("a"), SendStatus::queued);
  EXPECT_EQ(c.send_text("b"), SendStatus::queued);
  EXPECT_EQ(c.queued_bytes(), 2u);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == 2; }));
  EXPECT_EQ(rec.copy(rec.messages), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(c.flush(kWait));
  EXPECT_EQ(c.queued_bytes(), 0u);
}

TEST(Client, HeadersSubprotocolOriginAndConnectionInfo) {
  net::ServerOptions options;
  options.connection.handshake.subprotocols = {"v2.feed", "v1.feed"};
  WsServer server({}, options);
  FaultProxy proxy(server.port());  // records the request head
  auto o = fast_options();
  o.headers = {{"Authorization", "Bearer t0k3n"}, {"X-Client", "sluice-test"}};
  o.subprotocols = {"v1.feed", "v2.feed"};
  o.origin = "https://app.example";
  Recorder rec;
  const auto before = std::chrono::system_clock::now();
  Client c(proxy.url("/feed?x=1"), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_EQ(rec.copy(rec.opens)[0].subprotocol, "v2.feed");  // the server's preference
  EXPECT_FALSE(rec.copy(rec.opens)[0].reconnected);

  auto request = proxy.last_request_headers();
  ASSERT_EQ(proxy.first_chunks().size(), 1u);
  EXPECT_TRUE(proxy.first_chunks()[0].starts_with("GET /feed?x=1 HTTP/1.1\r\n"));
  EXPECT_EQ(request["Authorization"], "Bearer t0k3n");
  EXPECT_EQ(request["X-Client"], "sluice-test");
  EXPECT_EQ(request["Origin"], "https://app.example");
  EXPECT_EQ(request["Sec-WebSocket-Protocol"], "v1.feed, v2.feed");
  EXPECT_EQ(request["Host"], "127.0.0.1:" + std::to_string(proxy.port()));

  const auto info = c.info();
  EXPECT_EQ(info.http_status, 101u);
  EXPECT_EQ(info.subprotocol, "v2.feed");
  EXPECT_EQ(info.connections, 1u);
  ASSERT_TRUE(info.last_connected_at);
  EXPECT_GE(*info.last_connected_at, before);
  bool upgrade = false;
  for (const auto& [name, value] : info.response_headers) upgrade |= name == "Upgrade" && value == "websocket";
  EXPECT_TRUE(upgrade);
  EXPECT_FALSE(info.last_error);
}

TEST(Client, WssWithVerificationAgainstACaFile) {
  SelfSignedCert cert;
  std::string error;
  net::ServerOptions options;
  options.tls = net::make_server_tls_context(cert.cert_file, cert.key_file, error);
  ASSERT_TRUE(options.tls) << error;
  WsServer server({}, options);
  auto o = fast_options();
  o.tls.ca_file = cert.cert_file;  // verify_peer is on by default; SNI and host check use "localhost"
  Recorder rec;
  Client c("wss://localhost:" + std::to_string(server.port()) + "/", o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_EQ(c.send_text("over tls"), SendStatus::sent);
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == 1; }));
  EXPECT_EQ(rec.copy(rec.messages)[0], "over tls");
}

TEST(Client, UntrustedCertificateFailsAndRetriesNoFasterThanTheFloor) {
  SelfSignedCert cert, other;
  std::string error;
  net::ServerOptions options;
  options.tls = net::make_server_tls_context(cert.cert_file, cert.key_file, error);
  ASSERT_TRUE(options.tls) << error;
  WsServer server({}, options);
  auto o = fast_options();
  o.tls.ca_file = other.cert_file;
  o.reconnect.backoff.floor = 30ms;
  o.reconnect.backoff.max = 60ms;
  Recorder rec;
  Client c("wss://localhost:" + std::to_string(server.port()) + "/", o);
  rec.attach(c);
  const auto start = Clock::now();
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.errors.size() >= 4; }));
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 3 * 30ms);  // three waits of at least the floor between four attempts
  EXPECT_TRUE(rec.copy(rec.opens).empty());
  const auto errors = rec.copy(rec.errors);
  EXPECT_NE(errors[0].message.find("certificate"), std::string::npos) << errors[0].message;
  for (const auto& [attempt, delay] : rec.copy(rec.reconnects)) EXPECT_GE(delay, 30ms);
}

TEST(Client, CloseWhileReconnectingReturnsPromptly) {
  RawServer refused("", /*close_on_accept=*/true);
  auto o = fast_options();
  o.reconnect.backoff.floor = 10s;  // a long wait that close() must cut short
  o.reconnect.backoff.max = 20s;
  Recorder rec;
  Client c(refused.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.reconnects.size() == 1; }));
  EXPECT_EQ(c.state(), State::reconnecting);
  const auto start = Clock::now();
  c.close();
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(c.state(), State::closed);
  ASSERT_EQ(rec.count(rec.closes), 1u);
  EXPECT_FALSE(rec.copy(rec.closes)[0].will_retry);
}

TEST(Client, CloseBeforeConnectAndDestroyWithoutClose) {
  {
    Client c("ws://127.0.0.1:1/", fast_options());
    c.close();
    EXPECT_EQ(c.state(), State::closed);
    c.connect();  // a no-op now
    EXPECT_EQ(c.state(), State::closed);
    EXPECT_EQ(c.send_text("x"), SendStatus::closed);
  }
  WsServer server;
  Recorder rec;
  {
    Client c(server.url(), fast_options());
    rec.attach(c);
    c.connect();
    ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  }  // the destructor closes (1001) and joins
  ASSERT_TRUE(server.signal.wait([&] { return server.closed().size() == 1; }));
  EXPECT_EQ(server.closed()[0].code, 1001);
}

TEST(Client, CloseFromInsideACallbackStopsAllFurtherCallbacks) {
  WsServer server;
  auto o = fast_options();
  Client c(server.url(), o);
  std::atomic<bool> closed_in_callback{false};
  std::atomic<int> after{0};
  Signal signal;
  c.on_message([&](const client::Message&) {
    if (closed_in_callback) {
      ++after;
      return;
    }
    c.close(4000, "from callback");  // returns at once on the client's thread
    EXPECT_EQ(c.send_text("after close"), SendStatus::closed);
    closed_in_callback = true;
    signal.notify();
  });
  c.on_close([&](const client::CloseEvent&) { ++after; });
  c.on_open([&](const client::OpenEvent&) {
    EXPECT_EQ(c.send_text("1"), SendStatus::sent);
    EXPECT_EQ(c.send_text("2"), SendStatus::sent);
  });
  c.connect();
  ASSERT_TRUE(signal.wait([&] { return closed_in_callback.load(); }));
  ASSERT_TRUE(server.signal.wait([&] { return server.closed().size() == 1; }));
  EXPECT_EQ(server.closed()[0].code, 4000);
  c.close();  // waits for the end of the close; idempotent
  EXPECT_EQ(c.state(), State::closed);
  EXPECT_EQ(after.load(), 0);  // not the second message, not even on_close
}

TEST(Client, GivesUpAfterMaxAttempts) {
  RawServer refused("", /*close_on_accept=*/true);
  auto o = fast_options();
  o.reconnect.max_attempts = 3;
  Recorder rec;
  Client c(refused.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  EXPECT_EQ(c.state(), State::closed);
  const auto close = rec.copy(rec.closes)[0];
  EXPECT_FALSE(close.will_retry);
  EXPECT_EQ(close.error, Error::gave_up);
  EXPECT_NE(close.description.find("giving up after 3"), std::string::npos) << close.description;
  const auto reconnects = rec.copy(rec.reconnects);
  ASSERT_EQ(reconnects.size(), 3u);
  for (std::uint32_t i = 0; i < 3; ++i) EXPECT_EQ(reconnects[i].first, i + 1);
  EXPECT_EQ(refused.accepted(), 4u);  // the first attempt and three retries
  EXPECT_EQ(c.info().last_error, Error::gave_up);
  EXPECT_EQ(c.send_text("x"), SendStatus::closed);
}

TEST(Client, ReconnectDisabledClosesOnTheFirstEnding) {
  WsServer server;
  auto o = fast_options();
  o.reconnect.enabled = false;
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  server.close_all(1001, "restarting");
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  const auto close = rec.copy(rec.closes)[0];
  EXPECT_FALSE(close.will_retry);
  EXPECT_EQ(close.code, 1001);
  EXPECT_EQ(close.error, Error::reconnect_disabled);
  EXPECT_EQ(c.state(), State::closed);
  EXPECT_TRUE(rec.copy(rec.reconnects).empty());
}

TEST(Client, AttemptCountGrowsForShortLivedConnectionsAndResetsAfterAStableOne) {
  // The server closes every connection right after it opens: not stable, so
  // the attempt number (and the delay's ceiling) keeps growing.
  WsServer::Script script;
  std::atomic<bool> close_at_once{true};
  script.on_open = [&](net::Connection& c) {
    if (close_at_once) c.close(1001, "bounce");
  };
  WsServer server(script);
  auto o = fast_options();
  o.reconnect.stable_after = 300ms;
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.reconnects.size() >= 3; }));
  close_at_once = false;
  const auto bounced = server.opened();  // connections after this one stay up
  auto reconnects = rec.copy(rec.reconnects);
  EXPECT_EQ(reconnects[0].first, 1u);
  EXPECT_EQ(reconnects[1].first, 2u);
  EXPECT_EQ(reconnects[2].first, 3u);
  // Now a connection that stays up past stable_after: the next loss is attempt 1 again.
  ASSERT_TRUE(rec.wait([&] { return !rec.opens.empty() && rec.opens.back().connection > bounced; }));
  const auto opened = Clock::now();
  const auto count = rec.count(rec.reconnects);
  // Wait out the stable period on the client's own clock: an event after it.
  Signal idle;
  idle.wait([&] { return Clock::now() - opened > 400ms; }, 1s);
  server.close_all(1001, "restart");
  ASSERT_TRUE(rec.wait([&] { return rec.reconnects.size() > count; }));
  reconnects = rec.copy(rec.reconnects);
  EXPECT_EQ(reconnects.back().first, 1u);
  EXPECT_EQ(c.info().attempt, 1u);
}

TEST(Client, AConnectionThatDeliveredDataResetsTheAttemptCount) {
  // Every connection says hello, then the server closes it at once: never
  // stable, but each one made progress, so every reconnect is attempt 1
  // (its delay still at least the floor).
  WsServer::Script script;
  script.on_open = [](net::Connection& c) {
    const std::string hello = "hello";
    (void)c.send(protocol::MessageType::text, {reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()});
    c.close(1001, "bounce");
  };
  WsServer server(script);
  auto o = fast_options();
  o.reconnect.stable_after = 10s;
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.reconnects.size() >= 4 && rec.messages.size() >= 4; }));
  c.close();
  for (const auto& [attempt, delay] : rec.copy(rec.reconnects)) {
    EXPECT_EQ(attempt, 1u);
    EXPECT_GE(delay, o.reconnect.backoff.floor);
  }
  EXPECT_EQ(c.info().attempt, 1u);
}

TEST(Client, FlushFailsWhenTheClientStoppedWithMessagesQueued) {
  RawServer refused("", /*close_on_accept=*/true);
  auto o = fast_options();
  o.reconnect.enabled = false;
  Recorder rec;
  Client c(refused.url(), o);
  rec.attach(c);
  EXPECT_EQ(c.send_text("never sent"), SendStatus::queued);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  EXPECT_EQ(c.queued_bytes(), 0u);  // dropped...
  EXPECT_FALSE(c.flush(kWait));     // ...not sent
}

}  // namespace
