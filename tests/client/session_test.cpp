// The offline queue (bounded in bytes, fail-fast, flushed in order) and the
// session hook (runs first on every connection, retried with backoff,
// recycles the connection after its limit, may complete asynchronously),
// including a resubscribe against the real Sluice server across a restart.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "client/fault_proxy.hpp"
#include "client/test_support.hpp"
#include "server/server_harness.hpp"
#include "sluice/client/client.hpp"

namespace {

using namespace sluice;
using namespace sluice::test;
using client::Client;
using client::Error;
using client::HookResult;
using client::SendStatus;
using client::Session;
using client::State;

TEST(ClientOfflineQueue, BoundedFailsFastAndFlushesInOrderAfterTheHook) {
  WsServer server;
  FaultProxy proxy(server.port());
  auto o = fast_options();
  o.max_queued_bytes = 100;
  std::atomic<int> hooks{0};
  o.session.hook = [&](Session& s) {
    const int n = ++hooks;
    EXPECT_EQ(s.send_text("hello-" + std::to_string(n)), SendStatus::sent);
    return HookResult::done;
  };
  Recorder rec;
  Client c(proxy.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  // Sent is not received: cut only once the first hook's message arrived
  // (one handed to a connection that drops is not resent).
  ASSERT_TRUE(server.signal.wait([&] { return server.received().size() == 1; }));

  proxy.refuse(true);
  proxy.cut_all();
  ASSERT_TRUE(rec.wait([&] { return rec.reconnects.size() >= 1; }));
  ASSERT_NE(c.state(), State::open);
  std::vector<std::string> queued;
  for (int i = 0; i < 10; ++i) {  // 10 x 10 bytes: exactly the limit
    char text[32];  // room for any int: GCC checks the format against the type, not the loop's range
    std::snprintf(text, sizeof text, "queued-%03d", i);
    ASSERT_EQ(c.send_text(text), SendStatus::queued) << i;
    queued.push_back(text);
  }
  EXPECT_EQ(c.queued_bytes(), 100u);
  EXPECT_EQ(c.send_text("x"), SendStatus::queue_full);  // fails fast, does not block
  EXPECT_EQ(c.send_text(std::string(101, 'y')), SendStatus::too_large);
  EXPECT_EQ(c.queued_bytes(), 100u);

  proxy.refuse(false);
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 2; }));
  ASSERT_TRUE(server.signal.wait([&] { return server.received().size() == 12; })) << [&] {
    std::string seen;
    for (const auto& m : server.received()) seen += m + " ";
    return "received: " + seen + "; hooks: " + std::to_string(hooks.load());
  }();
  std::vector<std::string> expected{"hello-1", "hello-2"};
  expected.insert(expected.end(), queued.begin(), queued.end());
  EXPECT_EQ(server.received(), expected);  // the hook's message first, then the queue in order
  EXPECT_TRUE(c.flush(kWait));
  EXPECT_EQ(c.queued_bytes(), 0u);
  EXPECT_EQ(c.send_text("live"), SendStatus::sent);
}

TEST(ClientOfflineQueue, DisabledQueueRejectsWhileNotOpen) {
  auto o = fast_options();
  o.offline_queue = false;
  Client c("ws://127.0.0.1:1/", o);
  EXPECT_EQ(c.send_text("x"), SendStatus::not_connected);
  EXPECT_EQ(c.queued_bytes(), 0u);
}

TEST(ClientOfflineQueue, CloseDropsWhatWasNeverSentAndReleasesTheBytes) {
  RawServer refused("", true);
  Client c(refused.url(), fast_options());
  c.connect();
  EXPECT_EQ(c.send_text("never"), SendStatus::queued);
  c.close();
  EXPECT_EQ(c.queued_bytes(), 0u);
  EXPECT_FALSE(c.flush(0ms));  // released, but never sent: flush says so
}

TEST(ClientSessionHook, FailedHookIsRetriedWithBackoffOnTheSameConnection) {
  WsServer server;
  auto o = fast_options();
  std::atomic<int> runs{0};
  o.session.max_attempts = 3;
  o.session.hook = [&](Session& s) {
    EXPECT_EQ(s.hook_attempt(), static_cast<std::uint32_t>(runs + 1));
    return ++runs < 3 ? HookResult::failed : HookResult::done;
  };
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  EXPECT_EQ(c.send_text("after the hook"), SendStatus::queued);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_EQ(runs.load(), 3);
  EXPECT_EQ(server.opened(), 1u);  // retried on the same connection
  EXPECT_EQ(rec.count(rec.errors), 2u);
  EXPECT_TRUE(rec.has_error(make_error_code(Error::session_hook_failed)));
  ASSERT_TRUE(server.signal.wait([&] { return server.received().size() == 1; }));
}

TEST(ClientSessionHook, HookThatKeepsFailingRecyclesTheConnection) {
  WsServer server;
  auto o = fast_options();
  o.session.max_attempts = 2;
  std::atomic<int> runs{0};
  o.session.hook = [&](Session&) { return ++runs <= 4 ? HookResult::failed : HookResult::done; };
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_EQ(runs.load(), 5);
  // 2 failures, recycle; 2 failures, recycle; success. (The server may
  // record its third open just after the client saw it.)
  EXPECT_TRUE(server.signal.wait([&] { return server.opened() == 3; }));
  EXPECT_EQ(rec.copy(rec.opens)[0].connection, 3u);
  const auto reconnects = rec.copy(rec.reconnects);
  ASSERT_EQ(reconnects.size(), 2u);
  EXPECT_EQ(reconnects[1].first, 2u);  // recycling counts as a failed attempt
}

TEST(ClientSessionHook, PendingHookCompletesOnTheServersAnswer) {
  WsServer server;  // echoes "login" back: our stand-in for a login ack
  auto o = fast_options();
  std::mutex mutex;
  std::optional<Session> pending;
  o.session.hook = [&](Session& s) {
    EXPECT_EQ(s.send_text("login"), SendStatus::sent);
    std::lock_guard lock(mutex);
    pending = s;
    return HookResult::pending;
  };
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  std::atomic<bool> opened_before_ack{false};
  std::atomic<bool> acked{false};
  c.on_message([&](const client::Message& m) {
    if (m.text() != "login") return;
    acked = true;
    std::lock_guard lock(mutex);
    pending->complete();
  });
  c.on_open([&](const client::OpenEvent&) { opened_before_ack = !acked; });
  EXPECT_EQ(c.send_text("queued"), SendStatus::queued);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_FALSE(opened_before_ack.load());
  ASSERT_TRUE(server.signal.wait([&] { return server.received().size() == 2; }));
  EXPECT_EQ(server.received(), (std::vector<std::string>{"login", "queued"}));
  std::lock_guard lock(mutex);
  pending->complete();  // a second completion is a harmless no-op
  EXPECT_EQ(pending->send_text("late but fine"), SendStatus::sent);  // the connection still lives
}

TEST(ClientSessionHook, PendingHookThatNeverCompletesTimesOut) {
  WsServer server;
  auto o = fast_options();
  o.session.timeout = 50ms;
  o.session.max_attempts = 2;
  std::atomic<int> runs{0};
  o.session.hook = [&](Session&) { return ++runs <= 2 ? HookResult::pending : HookResult::done; };
  Recorder rec;
  Client c(server.url(), o);
  rec.attach(c);
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; }));
  EXPECT_TRUE(rec.has_error(make_error_code(Error::session_hook_timeout)));
  EXPECT_TRUE(server.signal.wait([&] { return server.opened() == 2; }));
}

// Against the Sluice server's in-band protocol: the hook subscribes and waits
// for the ack; after the server restarts (behind the proxy), it subscribes
// again before anything else, and events flow again.
TEST(ClientSessionHook, ResubscribesToTheSluiceServerAfterARestart) {
  auto first = std::make_unique<TestServer>();
  FaultProxy proxy(first->server->port());
  auto o = fast_options();
  std::mutex mutex;
  std::optional<Session> pending;
  std::atomic<int> subscribes{0};
  o.session.hook = [&](Session& s) {
    ++subscribes;
    s.send_json({{"op", "subscribe"}, {"id", 1}, {"topic", "orders.>"}});
    std::lock_guard lock(mutex);
    pending = s;
    return HookResult::pending;
  };
  Recorder rec;
  Client c(proxy.url("/v1/ws"), o);
  rec.attach(c);
  c.on_message([&](const client::Message& m) {
    const auto v = boost::json::parse(m.text());
    if (v.at("type") == "ack" && v.at("id") == 1) {
      std::lock_guard lock(mutex);
      pending->complete();
    }
  });
  auto events = [&] {
    std::size_t n = 0;
    for (const auto& m : rec.copy(rec.messages)) n += m.find("\"type\":\"event\"") != std::string::npos;
    return n;
  };
  c.connect();
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 1; })) << [&] {
    std::string seen;
    for (const auto& m : rec.copy(rec.messages)) seen += m + "\n";
    for (const auto& e : rec.copy(rec.errors)) seen += "error: " + e.message + "\n";
    return seen;
  }();
  c.send_json({{"op", "publish"}, {"id", 2}, {"topic", "orders.eu"}, {"data", 1}});
  ASSERT_TRUE(rec.signal.wait([&] { return events() == 1; }));

  first.reset();  // the server goes away
  ASSERT_TRUE(rec.wait([&] { return rec.closes.size() == 1; }));
  EXPECT_TRUE(rec.copy(rec.closes)[0].will_retry);
  TestServer second;
  proxy.set_target(second.server->port());
  // Sent while reconnecting: flushed only after the new subscription is acked.
  EXPECT_TRUE(client::accepted(c.send_json({{"op", "publish"}, {"id", 3}, {"topic", "orders.us"}, {"data", 2}})));
  ASSERT_TRUE(rec.wait([&] { return rec.opens.size() == 2; }));
  EXPECT_EQ(subscribes.load(), 2);
  ASSERT_TRUE(rec.signal.wait([&] { return events() == 2; }));
  c.close();
}

}  // namespace
