// Reconnect rules end to end (SPEC §1.7, §3 close codes): terminal codes stop,
// 4429 waits longer, and no path — a rejected handshake, an immediate close —
// reconnects faster than the floor, however many times it repeats.
#include <gtest/gtest.h>

#include "client/test_support.hpp"
#include "sluice/client/client.hpp"

namespace {

using namespace sluice;
using namespace sluice::test;
using client::Client;
using client::Error;
using client::State;

// A server that closes every connection with `code` as soon as it opens.
WsServer::Script close_with(std::uint16_t code, std::string reason) {
  WsServer::Script script;
  script.on_open = [code, reason](net::Connection& c) { c.close(code, reason); };
  return script;
}

class TerminalCloseCode : public ::testing::TestWithParam<std::uint16_t> {};

TEST_P(TerminalCloseCode, StopsReconnectingAndSaysSo) {
  const std::uint16_t code = GetParam();
  WsServer server(close_with(code, "go away for good"));
  Recorder rec;
  Client c(server.url(), fast_options());
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  EXPECT_EQ(c.state(), State::closed);  // decided together with the event: no timer is left
  const auto close = rec.copy(rec.closes)[0];
  EXPECT_EQ(close.code, code);
  EXPECT_FALSE(close.will_retry);
  EXPECT_TRUE(close.terminal);
  EXPECT_EQ(close.error, Error::terminal_close_code);
  EXPECT_EQ(close.reason, "go away for good");
  EXPECT_NE(close.description.find("go away for good"), std::string::npos) << close.description;
  EXPECT_NE(close.description.find("not reconnecting"), std::string::npos) << close.description;
  EXPECT_TRUE(rec.copy(rec.reconnects).empty());
  EXPECT_EQ(server.opened(), 1u);
  EXPECT_EQ(c.send_text("x"), client::SendStatus::closed);
  c.close();  // still fine
}

INSTANTIATE_TEST_SUITE_P(Codes, TerminalCloseCode, ::testing::Values(4401, 4403, 4404, 1008));

TEST(ClientRules, RetryableCloseCodesReconnect) {
  for (std::uint16_t code : {1000, 1001, 1011, 4008}) {
    WsServer server(close_with(code, "bye"));
    Recorder rec;
    Client c(server.url(), fast_options());
    rec.attach(c);
    c.connect();
    ASSERT_TRUE(rec.wait([&] { return rec.closes.size() >= 2 && rec.reconnects.size() >= 2; })) << code;
    const auto close = rec.copy(rec.closes)[0];
    EXPECT_EQ(close.code, code);
    EXPECT_TRUE(close.will_retry);
    EXPECT_FALSE(close.terminal);
  }
}

TEST(ClientRules, RateLimited4429WaitsAtLeastTheLongerDelay) {
  WsServer server(close_with(4429, "too many connections"));
  auto o = fast_options();
  o.reconnect.rate_limited_delay = 400ms;  // floor is 10 ms
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(server.signal.wait([&] { return server.opened() >= 3; }));
  const auto times = server.open_times();
  for (std::size_t i = 1; i < times.size(); ++i) EXPECT_GE(times[i] - times[i - 1], 400ms);
  for (const auto& [attempt, delay] : rec.copy(rec.reconnects)) EXPECT_GE(delay, 400ms);
  EXPECT_TRUE(rec.copy(rec.closes)[0].will_retry);
}

TEST(ClientRules, HandshakeRejected100TimesNeverSpins) {
  RawServer server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  auto o = fast_options();
  o.reconnect.backoff.floor = 5ms;
  o.reconnect.backoff.max = 20ms;
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  const auto start = Clock::now();
  c.connect();
  ASSERT_TRUE(server.signal.wait([&] { return server.accepted() >= 100; }, 60s));
  const auto elapsed = Clock::now() - start;
  c.close();
  const auto times = server.accept_times();
  // Between two attempts the client always waited at least the floor...
  for (std::size_t i = 1; i < times.size(); ++i) {
    ASSERT_GE(times[i] - times[i - 1], 5ms) << "attempt " << i;
  }
  // ...so over the whole run the attempt count stays within elapsed / floor.
  EXPECT_LE(static_cast<double>(times.size() - 1),
            std::chrono::duration<double>(elapsed) / std::chrono::duration<double>(5ms) + 1);
  const auto reconnects = rec.copy(rec.reconnects);
  ASSERT_GE(reconnects.size(), 99u);
  client::BackoffPolicy bounds(o.reconnect.backoff);
  for (std::size_t i = 0; i < reconnects.size(); ++i) {
    EXPECT_EQ(reconnects[i].first, i + 1);  // consecutive failures keep counting
    EXPECT_GE(reconnects[i].second, 5ms);
    EXPECT_LE(reconnects[i].second, bounds.ceiling(reconnects[i].first));
  }
  const auto errors = rec.copy(rec.errors);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].message.find("HTTP 503"), std::string::npos) << errors[0].message;
  EXPECT_EQ(c.info().http_status, 503u);
  EXPECT_TRUE(rec.copy(rec.opens).empty());
}

TEST(ClientRules, UnauthorizedHandshakeIsTerminal) {
  RawServer server("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\n\r\n");
  Recorder rec;
  Client c(server.url(), fast_options());
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  const auto close = rec.copy(rec.closes)[0];
  EXPECT_FALSE(close.will_retry);
  EXPECT_TRUE(close.terminal);
  EXPECT_EQ(close.error, Error::terminal_http_status);
  EXPECT_EQ(server.accepted(), 1u);
  const auto info = c.info();
  EXPECT_EQ(info.http_status, 401u);
  bool www_authenticate = false;
  for (const auto& [name, value] : info.response_headers) www_authenticate |= name == "WWW-Authenticate";
  EXPECT_TRUE(www_authenticate);
}

TEST(ClientRules, ImmediateServerCloseWaitsTheFloorEveryTime) {
  RawServer server("", /*close_on_accept=*/true);
  auto o = fast_options();
  o.reconnect.backoff.floor = 15ms;
  o.reconnect.backoff.max = 15ms;
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(server.signal.wait([&] { return server.accepted() >= 20; }));
  c.close();
  const auto times = server.accept_times();
  for (std::size_t i = 1; i < times.size(); ++i) ASSERT_GE(times[i] - times[i - 1], 15ms) << i;
}

TEST(ClientRules, ServerThatClosesRightAfterOpeningIsBackedOff) {
  // Open, then closed at once with a retryable code, over and over: every
  // cycle still waits at least the floor, and the attempt number grows.
  WsServer server(close_with(1001, "bounce"));
  auto o = fast_options();
  o.reconnect.backoff.floor = 15ms;
  o.reconnect.backoff.max = 60ms;
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(server.signal.wait([&] { return server.opened() >= 8; }));
  c.close();
  const auto times = server.open_times();
  for (std::size_t i = 1; i < times.size(); ++i) ASSERT_GE(times[i] - times[i - 1], 15ms) << i;
  const auto reconnects = rec.copy(rec.reconnects);
  for (std::size_t i = 0; i < reconnects.size(); ++i) EXPECT_EQ(reconnects[i].first, i + 1);
}

}  // namespace
