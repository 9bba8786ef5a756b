// The client driven through a fault-injecting proxy: server restarts, cut
// connections, a frame cut in the middle, a stalled network (caught by our
// ping's deadline, and by the absence of the server's pings), slow links,
// and connections refused right after accept.
#include <gtest/gtest.h>

#include "client/fault_proxy.hpp"
#include "client/test_support.hpp"
#include "sluice/client/client.hpp"

namespace {

using namespace sluice;
using namespace sluice::test;
using client::Client;
using client::Error;
using client::SendStatus;
using client::State;
using sluice::test::FaultProxy;

// Pings `connection` every `period` on `io` (its loop) until it closes.
void ping_every(asio::io_context& io, std::weak_ptr<net::Connection> connection, std::chrono::milliseconds period) {
  auto timer = std::make_shared<asio::steady_timer>(io, period);
  timer->async_wait([&io, timer, connection, period](const boost::system::error_code& ec) {
    auto c = connection.lock();
    if (ec || !c || c->state() != net::Connection::State::open) return;
    (void)c->ping();
    ping_every(io, connection, period);
  });
}

TEST(ClientFaults, ServerRestartReconnectsAndEchoResumes) {
  auto first = std::make_unique<WsServer>();
  FaultProxy proxy(first->port());
  Recorder rec;
  Client c(proxy.url(), fast_options());
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_EQ(c.send_text("before"), SendStatus::sent);
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == 1; }));

  first->stop();  // a crash: sockets closed, no close frame
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  const auto lost = rec.copy(rec.closes)[0];
  EXPECT_TRUE(lost.will_retry);
  EXPECT_EQ(lost.code, 1006);
  WsServer second;
  proxy.set_target(second.port());
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 2; }));
  EXPECT_TRUE(rec.copy(rec.opens)[1].reconnected);
  EXPECT_EQ(c.send_text("after"), SendStatus::sent);
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == 2; }));
  EXPECT_EQ(rec.copy(rec.messages)[1], "after");
  EXPECT_FALSE(rec.copy(rec.errors).empty());
  for (const auto& [attempt, delay] : rec.copy(rec.reconnects)) EXPECT_GE(delay, 10ms);
}

TEST(ClientFaults, CutConnectionsAreReconnected) {
  WsServer server;
  FaultProxy proxy(server.port());
  Recorder rec;
  Client c(proxy.url(), fast_options());
  rec.attach(c);
  c.connect();
  for (std::size_t round = 1; round <= 3; ++round) {
    ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == round; })) << round;
    ASSERT_TRUE(proxy.signal.wait([&] { return proxy.active() == 1; }));
    proxy.cut_all();
    ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == round; })) << round;
    EXPECT_TRUE(rec.copy(rec.closes).back().will_retry);
  }
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 4; }));
  EXPECT_EQ(c.state(), State::open);
}

TEST(ClientFaults, FrameCutInTheMiddleIsNeverDeliveredHalf) {
  WsServer server;
  FaultProxy proxy(server.port());
  Recorder rec;
  Client c(proxy.url(), fast_options());
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  proxy.cut_mid_frame(1000);  // the echo's first chunk: 1000 bytes, then the cut
  const std::string big(200 * 1024, 'x');
  EXPECT_EQ(c.send_text(big), SendStatus::sent);
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  EXPECT_EQ(rec.copy(rec.closes)[0].code, 1006);
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 2; }));
  EXPECT_EQ(c.send_text("whole"), SendStatus::sent);
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == 1; }));
  EXPECT_EQ(rec.copy(rec.messages), std::vector<std::string>{"whole"});  // nothing of the cut one
}

TEST(ClientFaults, StalledNetworkIsCaughtByThePongDeadline) {
  WsServer server;
  FaultProxy proxy(server.port());
  auto o = fast_options();
  o.liveness.ping_interval = 100ms;
  o.liveness.pong_timeout = 300ms;
  o.timeouts.handshake = 1s;
  Recorder rec;
  Client c(proxy.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  proxy.stall(true);  // the server looks alive at TCP level but nothing gets through
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  EXPECT_TRUE(rec.has_error(make_error_code(Error::pong_timeout)));
  EXPECT_TRUE(rec.copy(rec.closes)[0].will_retry);
  EXPECT_EQ(rec.copy(rec.closes)[0].error, Error::pong_timeout);
  proxy.stall(false);
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 2; }));
}

TEST(ClientFaults, ServerThatStopsPingingIsDetected) {
  // The server pings every 50 ms on its own schedule (like an exchange feed).
  std::atomic<WsServer*> self{nullptr};
  WsServer::Script script;
  script.on_open = [&self](net::Connection& c) { ping_every(self.load()->io(), c.shared_from_this(), 50ms); };
  WsServer server(script);
  self = &server;
  FaultProxy proxy(server.port());
  auto o = fast_options();
  o.liveness.ping_interval = 0ms;  // only the server's pings keep us informed
  o.liveness.server_ping_timeout = 400ms;
  o.timeouts.handshake = 1s;
  Recorder rec;
  Client c(proxy.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  // Pinged every 50 ms, the connection outlives several server_ping_timeouts.
  Signal time;
  time.wait([&] { return false; }, 1200ms);
  EXPECT_EQ(rec.count(rec.closes), 0u);
  for (const auto& e : rec.copy(rec.errors)) ADD_FAILURE() << e.message;
  EXPECT_EQ(c.state(), State::open);

  proxy.stall(true);
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  EXPECT_TRUE(rec.has_error(make_error_code(Error::server_ping_timeout)));
  EXPECT_EQ(rec.copy(rec.closes)[0].error, Error::server_ping_timeout);
  proxy.stall(false);
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 2; }));
}

TEST(ClientFaults, SlowLinkKeepsOrder) {
  WsServer server;
  FaultProxy proxy(server.port());
  proxy.set_delay(20ms);
  Recorder rec;
  Client c(proxy.url(), fast_options());
  rec.attach(c);
  c.connect();
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    expected.push_back("m" + std::to_string(i));
    EXPECT_TRUE(client::accepted(c.send_text(expected.back())));
  }
  ASSERT_TRUE(rec.wait([&] { return rec.messages.size() == expected.size(); }));
  EXPECT_EQ(rec.copy(rec.messages), expected);
}

TEST(ClientFaults, RefusedConnectionsNeverRetryFasterThanTheFloor) {
  WsServer server;
  FaultProxy proxy(server.port());
  proxy.refuse(true);  // accept, then close at once: the handshake never completes
  auto o = fast_options();
  o.reconnect.backoff.floor = 20ms;
  o.reconnect.backoff.max = 40ms;
  Recorder rec;
  Client c(proxy.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(proxy.signal.wait([&] { return proxy.accepted() >= 10; }));
  const auto reconnects = rec.copy(rec.reconnects);
  ASSERT_GE(reconnects.size(), 9u);
  for (const auto& [attempt, delay] : reconnects) {
    EXPECT_GE(delay, 20ms);
    EXPECT_LE(delay, 40ms);
  }
  proxy.refuse(false);
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
}

}  // namespace

namespace {

TEST(ClientFaults, HandshakeThatNeverAnswersTimesOutAndIsRetried) {
  WsServer server;
  FaultProxy proxy(server.port());
  proxy.stall(true);  // TCP connects, the upgrade request goes nowhere
  auto o = fast_options();
  o.timeouts.handshake = 200ms;
  Recorder rec;
  Client c(proxy.url(), o);
  rec.attach(c);
  const auto start = Clock::now();
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.errors.size() >= 2; }));
  EXPECT_GE(Clock::now() - start, 2 * 200ms);
  const auto e = rec.copy(rec.errors)[0];
  EXPECT_EQ(e.error, std::errc::timed_out);
  EXPECT_NE(e.message.find("timed out connecting to 127.0.0.1:" + std::to_string(proxy.port())), std::string::npos)
      << e.message;
  proxy.stall(false);
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
}

}  // namespace
