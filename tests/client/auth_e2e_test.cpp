// The client's credentials against the real Sluice server with tokens on
// (HS256 secret file) or API keys: a TopicClient whose provider's token
// decides what it may do, a short-lived token refreshed in place before its
// expiry with no reconnect while events keep flowing, a provider whose token
// is refused stopping the client after one more try, a raw Client renewing
// on expiry by reconnecting, and an API key as the bearer.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <fstream>

#include "client/topic_support.hpp"
#include "server/server_harness.hpp"
#include "sluice/auth/key_file_edit.hpp"
#include "sluice/auth/token_signer.hpp"
#include "sluice/client/error.hpp"
#include "sluice/util/unix_time.hpp"
#include "temp_dir.hpp"

namespace sluice::test {
namespace {

using client::SubscriptionStatus;
using client::TopicClient;
namespace json = boost::json;

const std::string kSecret = "an-hs256-secret-of-at-least-32-bytes!!";

std::string make_token(std::int64_t exp, std::vector<std::string> subscribe, std::vector<std::string> publish,
                       const std::string& secret = kSecret) {
  auth::TokenClaims claims;
  claims.sub = "ann";
  claims.exp = exp;
  claims.subscribe = std::move(subscribe);
  claims.publish = std::move(publish);
  std::string error;
  auto token = auth::sign_hs256_token(secret, claims, error);
  EXPECT_TRUE(token) << error;
  return token.value_or("");
}

// A server that verifies HS256 tokens on /v1/ws.
struct TokenServer {
  TempDir dir;
  std::unique_ptr<TestServer> server;
  TokenServer() {
    auto settings = test_settings();
    const auto path = dir / "jwt-secret";
    std::ofstream(path) << kSecret << "\n";
    settings.jwt_secret_file = path.string();
    server = std::make_unique<TestServer>(settings);
  }
  std::string url() const { return inband_url(server->server->port()); }
};

// Issues tokens for orders.> that live `ttl_s`; records each one's exp.
struct Issuer {
  explicit Issuer(std::int64_t ttl, std::string key = kSecret) : ttl_s(ttl), secret(std::move(key)) {}
  std::int64_t ttl_s;
  std::string secret;
  std::mutex mutex;
  std::vector<std::int64_t> exps;
  client::TokenProvider provider() {
    return [this]() -> std::optional<std::string> {
      const std::int64_t exp = unix_time_s() + ttl_s;
      {
        std::lock_guard lock(mutex);
        exps.push_back(exp);
      }
      return make_token(exp, {"orders.>"}, {"orders.>"}, secret);
    };
  }
  std::size_t calls() {
    std::lock_guard lock(mutex);
    return exps.size();
  }
  std::int64_t first_exp() {
    std::lock_guard lock(mutex);
    return exps.at(0);
  }
};

client::TopicClientOptions with_provider(Issuer& issuer) {
  auto o = fast_topic_options();
  o.client.auth.token_provider = issuer.provider();
  return o;
}

TEST(ClientAuthE2E, ATopicClientWithAProviderConnectsAndItsTokenDecides) {
  TopicRecorder orders, payments;
  TokenServer s;
  Issuer issuer{3600};
  TopicClient c(s.url(), with_provider(issuer));
  c.subscribe("orders.*", orders.handler(), orders.options());
  c.subscribe("payments.*", payments.handler(), payments.options());
  c.connect();
  ASSERT_TRUE(orders.wait_statuses(1) && payments.wait_statuses(1));
  EXPECT_EQ(orders.copy_statuses()[0].kind, SubscriptionStatus::Kind::subscribed);
  EXPECT_EQ(payments.copy_statuses()[0].kind, SubscriptionStatus::Kind::failed);
  EXPECT_EQ(payments.copy_statuses()[0].code, "forbidden");
  auto ack = c.publish("orders.eu", json::object{{"n", 1}});
  ASSERT_EQ(ack.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(ack.get().ok);
  ASSERT_TRUE(orders.wait_events(1));
  auto refused = c.publish("payments.eu", json::object{{"n", 1}});
  ASSERT_EQ(refused.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(refused.get().code, "forbidden");
  EXPECT_EQ(issuer.calls(), 1u);
  EXPECT_EQ(c.client().info().token_expires_at,
            std::chrono::system_clock::time_point(std::chrono::seconds(issuer.first_exp())));
  c.close();
}

TEST(ClientAuthE2E, AShortLivedTokenIsRefreshedInPlaceAndEventsKeepFlowing) {
  TopicRecorder orders;
  TokenServer s;
  Issuer issuer{3};  // refreshed half way: every second or so
  Issuer long_lived{3600};
  std::atomic<int> reconnects{0};
  TopicClient c(s.url(), with_provider(issuer));
  c.client().on_reconnecting([&](std::uint32_t, std::chrono::milliseconds) { ++reconnects; });
  c.subscribe("orders.*", orders.handler(), orders.options());
  c.connect();
  TopicClient publisher(s.url(), with_provider(long_lived));
  publisher.connect();
  ASSERT_TRUE(orders.wait_statuses(1));
  ASSERT_EQ(orders.copy_statuses()[0].kind, SubscriptionStatus::Kind::subscribed);
  // After each refresh the server acknowledged, one more event reaches the
  // subscriber; on until well past the first token's expiry (the server
  // closes an unrefreshed connection within a second of it).
  const auto past_first_exp = [&] {
    return std::chrono::system_clock::now() >
           std::chrono::system_clock::time_point(std::chrono::seconds(issuer.first_exp())) + 1500ms;
  };
  std::uint64_t rounds = 0;
  for (std::uint64_t round = 1; round <= 3 || (!past_first_exp() && round <= 10); ++round) {
    rounds = round;
    ASSERT_TRUE(orders.signal.wait([&] { return c.client().info().token_refreshes >= round; }, 15s)) << round;
    auto ack = publisher.publish("orders.eu", json::object{{"n", round}});
    ASSERT_EQ(ack.wait_for(kWait), std::future_status::ready);
    ASSERT_TRUE(ack.get().ok);
    ASSERT_TRUE(orders.wait_events(round)) << round;
  }
  EXPECT_TRUE(past_first_exp());
  const auto info = c.client().info();
  EXPECT_EQ(info.connections, 1u);
  EXPECT_EQ(reconnects.load(), 0);
  EXPECT_EQ(c.client().state(), client::State::open);
  EXPECT_EQ(orders.status_count(), 1u) << "no resubscribe";
  EXPECT_GE(issuer.calls(), rounds + 1);  // the connect, then each refresh
  std::vector<std::int64_t> seen, expected;
  for (const auto& e : orders.copy_events()) seen.push_back(e.data.at("n").as_int64());
  for (std::uint64_t n = 1; n <= rounds; ++n) expected.push_back(static_cast<std::int64_t>(n));
  EXPECT_EQ(seen, expected);
  publisher.close();
  c.close();
}

TEST(ClientAuthE2E, AProviderWhoseTokenIsRefusedStopsTheClientAfterOneMoreTry) {
  TopicRecorder orders;
  TokenServer s;
  Issuer forger{3600, "another-secret-that-is-long-enough-32b"};
  TopicClient c(s.url(), with_provider(forger));
  Signal closed;
  std::mutex mutex;
  std::vector<client::CloseEvent> closes;
  c.client().on_close([&](const client::CloseEvent& e) {
    {
      std::lock_guard lock(mutex);
      closes.push_back(e);
    }
    closed.notify();
  });
  c.subscribe("orders.*", orders.handler(), orders.options());
  auto pending = c.publish("orders.eu", json::object{{"n", 1}});
  c.connect();
  ASSERT_TRUE(closed.wait([&] {
    std::lock_guard lock(mutex);
    return !closes.empty() && !closes.back().will_retry;
  }));
  const auto last = closes.back();
  EXPECT_TRUE(last.terminal);
  EXPECT_EQ(last.error, client::Error::unauthorized);
  EXPECT_EQ(last.code, 4401);
  EXPECT_NE(last.reason.find("signature"), std::string::npos) << last.reason;
  EXPECT_EQ(forger.calls(), 2u);
  EXPECT_EQ(c.client().state(), client::State::closed);
  ASSERT_EQ(pending.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(pending.get().code, "closed");
  EXPECT_EQ(orders.event_count(), 0u);
}

TEST(ClientAuthE2E, ARawClientRenewsOnExpiryByReconnectingWithANewToken) {
  TokenServer s;
  Issuer issuer{2};
  auto o = fast_options();  // a raw Client: on_expiry renewal
  o.auth.token_provider = issuer.provider();
  Recorder r;
  client::Client c(s.url(), o);
  r.attach(c);
  c.connect();
  ASSERT_TRUE(r.wait([&] { return r.opens.size() >= 2; }, 15s));
  const auto closes = r.copy(r.closes);
  ASSERT_FALSE(closes.empty());
  EXPECT_EQ(closes[0].code, 4401);
  EXPECT_EQ(closes[0].reason, "token expired");
  EXPECT_TRUE(closes[0].will_retry);
  EXPECT_GE(issuer.calls(), 2u);
  EXPECT_EQ(c.info().token_refreshes, 0u);
  c.close();
}

TEST(ClientAuthE2E, AnApiKeyIsABearerTooAndItsScopeDecides) {
  TopicRecorder orders;
  TempDir dir;
  const std::string keys = dir.str() + "/keys";
  std::string error;
  const auto reader = auth::create_key(keys, "reader", auth::Scopes(auth::Scope::read), error);
  ASSERT_TRUE(reader) << error;
  auto settings = test_settings();
  settings.keys_file = keys;
  TestServer server(settings);
  auto o = fast_topic_options();
  o.client.auth.bearer = *reader;
  TopicClient c(inband_url(server.server->port()), o);
  c.subscribe("orders.*", orders.handler(), orders.options());
  c.connect();
  ASSERT_TRUE(orders.wait_statuses(1));
  EXPECT_EQ(orders.copy_statuses()[0].kind, SubscriptionStatus::Kind::subscribed);
  auto refused = c.publish("orders.eu", json::object{{"n", 1}});
  ASSERT_EQ(refused.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(refused.get().code, "forbidden");
  c.close();
}

}  // namespace
}  // namespace sluice::test
