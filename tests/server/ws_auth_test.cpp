// Connection tokens on /v1/ws and subscription streams, the Origin rule,
// CORS and the secure default (issue #13, SPEC §3 Security).
#include <fstream>

#include "server/subscription_test_util.hpp"
#include "server/origin_policy.hpp"
#include "server_harness.hpp"
#include "sluice/auth/key_file_edit.hpp"
#include "sluice/auth/token_signer.hpp"
#include "sluice/util/unix_time.hpp"
#include "temp_dir.hpp"

namespace sluice::test {
namespace {

const std::string kSecret = "an-hs256-secret-of-at-least-32-bytes!!";

std::string token(std::string sub, std::vector<std::string> subscribe, std::vector<std::string> publish,
                  std::int64_t ttl_s = 3600, const std::string& secret = kSecret) {
  auth::TokenClaims claims;
  claims.sub = std::move(sub);
  claims.exp = unix_time_s() + ttl_s;
  claims.subscribe = std::move(subscribe);
  claims.publish = std::move(publish);
  std::string error;
  auto signed_token = auth::sign_hs256_token(secret, claims, error);
  EXPECT_TRUE(signed_token) << error;
  return signed_token.value_or("");
}

struct TokenServer {
  TempDir dir;
  std::unique_ptr<TestServer> server;
  explicit TokenServer(server::ServerSettings settings = test_settings()) {
    const auto path = dir / "jwt-secret";
    std::ofstream(path) << kSecret << "\n";
    settings.jwt_secret_file = path.string();
    server = std::make_unique<TestServer>(settings);
  }
  net::WsUrl url(const std::string& target = "/v1/ws") const {
    return net::WsUrl{false, "127.0.0.1", server->server->port(), target};
  }
};

net::ClientOptions bearer(const std::string& credential) {
  net::ClientOptions options;
  options.handshake.headers.emplace_back("Authorization", "Bearer " + credential);
  return options;
}

TEST(WsAuth, WithoutAValidTokenTheConnectionIsClosedWith4401AndTheReason) {
  TokenServer s;
  boost::asio::io_context io;
  JsonClient none(io, s.url());
  JsonClient expired(io, s.url(), bearer(token("ann", {">"}, {}, -10)));
  JsonClient forged(io, s.url(), bearer(token("ann", {">"}, {}, 3600, "another-secret-that-is-long-enough-32b")));
  JsonClient garbage(io, s.url(), bearer("not.a.token"));
  ASSERT_TRUE(run_until(io, [&] { return none.closed && expired.closed && forged.closed && garbage.closed; }));
  EXPECT_EQ(none.close_info.code, 4401);
  EXPECT_EQ(none.close_info.reason, "missing token");
  EXPECT_EQ(expired.close_info.code, 4401);
  EXPECT_EQ(expired.close_info.reason, "token expired");
  EXPECT_EQ(forged.close_info.code, 4401);
  EXPECT_NE(forged.close_info.reason.find("signature"), std::string::npos) << forged.close_info.reason;
  EXPECT_EQ(garbage.close_info.code, 4401);
  EXPECT_TRUE(none.close_info.was_open);  // after the handshake, so a browser can read the code
}

TEST(WsAuth, TheTokensPatternsDecideEachSubscribeAndPublishAndTheConnectionStaysOpen) {
  TokenServer s;
  boost::asio::io_context io;
  JsonClient c(io, s.url(), bearer(token("ann", {"orders.>"}, {"orders.eu"})));
  ASSERT_TRUE(run_until(io, [&] { return c.open || c.closed; }));
  ASSERT_TRUE(c.open) << c.close_info.reason;
  c.subscribe("orders.*", 1);
  c.subscribe("payments.eu", 2);
  c.subscribe(">", 3);
  c.publish("orders.us", 1, 4);
  c.publish("orders.eu", 2, 5);
  ASSERT_TRUE(run_until(io, [&] { return c.count("ack") + c.count("error") >= 5 && c.count("event") >= 1; }));
  std::map<std::int64_t, std::string> outcome;
  for (const auto& m : c.messages) {
    if (m.contains("id")) outcome[m.at("id").as_int64()] = m.at("type") == "ack" ? "ack" : std::string(m.at("code").as_string());
  }
  EXPECT_EQ(outcome[1], "ack");
  EXPECT_EQ(outcome[2], "forbidden");
  EXPECT_EQ(outcome[3], "forbidden");
  EXPECT_EQ(outcome[4], "forbidden");
  EXPECT_EQ(outcome[5], "ack");
  EXPECT_FALSE(c.closed);
  ASSERT_EQ(c.events().size(), 1u);
  EXPECT_EQ(c.events()[0].at("topic"), "orders.eu");
}

TEST(WsAuth, ATokenInTheQueryWorksForBrowsers) {
  TokenServer s;
  boost::asio::io_context io;
  JsonClient c(io, s.url("/v1/ws?token=" + token("ann", {"a"}, {})));
  ASSERT_TRUE(run_until(io, [&] { return c.open || c.closed; }));
  EXPECT_TRUE(c.open) << c.close_info.reason;
}

TEST(WsAuth, AnUnrefreshedTokenClosesTheConnectionWith4401AtItsExpiry) {
  TokenServer s;
  boost::asio::io_context io;
  JsonClient c(io, s.url(), bearer(token("ann", {"a"}, {}, 1)));
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }, 10s));
  EXPECT_EQ(c.close_info.code, 4401);
  EXPECT_EQ(c.close_info.reason, "token expired");
  EXPECT_TRUE(c.close_info.was_open);
}

TEST(WsAuth, ARefreshBeforeExpiryKeepsTheConnectionAndNarrowsItsSubscriptions) {
  TokenServer s;
  boost::asio::io_context io;
  const std::int64_t first_exp = unix_time_s() + 2;
  JsonClient c(io, s.url(), bearer(token("ann", {"a", "b"}, {}, 2)));
  ASSERT_TRUE(run_until(io, [&] { return c.open || c.closed; }));
  c.subscribe("a", 1);
  c.subscribe("b", 2);
  c.send({{"op", "refresh"}, {"id", 3}, {"token", token("bob", {"a"}, {})}});      // another subject
  c.send({{"op", "refresh"}, {"id", 4}, {"token", "x.y.z"}});                       // not a token
  c.send({{"op", "refresh"}, {"id", 5}, {"token", token("ann", {"a"}, {}, 3600)}});  // good, narrower
  ASSERT_TRUE(run_until(io, [&] { return c.count("ack") >= 3 && c.count("error") >= 2 && c.count("unsubscribed") >= 1; }));
  std::map<std::int64_t, json::object> by_id;
  for (const auto& m : c.messages) {
    if (m.contains("id")) by_id[m.at("id").as_int64()] = m;
  }
  EXPECT_EQ(by_id[3].at("code"), "forbidden");
  EXPECT_EQ(by_id[4].at("code"), "unauthorized");
  EXPECT_EQ(by_id[5].at("type"), "ack");
  EXPECT_GT(by_id[5].at("expiresAt").as_int64(), unix_time_s() + 3000);
  EXPECT_EQ(c.of_type("unsubscribed").at(0).at("topic"), "b");
  // Past the first token's expiry the connection is still open and served.
  ASSERT_FALSE(run_until(io, [&] { return c.closed || unix_time_s() > first_exp + 1; }, 10s) && c.closed)
      << c.close_info.code << " " << c.close_info.reason;
  c.publish("a", 1, 6);  // the token allows no publish
  ASSERT_TRUE(run_until(io, [&] { return c.count("error") >= 3; }));
  EXPECT_FALSE(c.closed);
}

TEST(WsAuth, AStreamNeedsATokenCoveringEveryTopicOfItsSubscription) {
  TokenServer s;
  server::SubscriptionSpec spec;
  spec.patterns = {"orders.eu", "orders.us"};
  const auto created = create_now(s.server->server->subscriptions(), std::move(spec), 0);
  ASSERT_TRUE(created.subscription);
  const std::string stream = "/v1/subscriptions/" + created.subscription->id + "/stream";
  auto upgrade = [&](const std::string& query) {
    RawHttp c(s.server->server->port());
    c.upgrade(stream + query);
    return c.read_status_line();
  };
  EXPECT_EQ(upgrade(""), "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(upgrade("?token=" + token("ann", {"orders.eu"}, {})), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(upgrade("?token=" + token("ann", {"orders.*"}, {})), "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(upgrade("?since=0&token=" + token("ann", {"orders.>"}, {})), "HTTP/1.1 101 Switching Protocols");
}

TEST(WsAuth, WithATokenKeyAndNoKeysFileTheHttpApiIsClosed) {
  TokenServer s;
  RawHttp api(s.server->server->port());
  EXPECT_EQ(api.post("/v1/events", R"({"topic":"a","data":1})").substr(0, 3), "401");
  api.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(api.read_response().substr(0, 3), "200");
}

TEST(WsAuth, AnApiKeyOnWsGrantsByScope) {
  TempDir dir;
  const std::string keys = dir.str() + "/keys";
  std::string error;
  const auto reader = auth::create_key(keys, "reader", auth::Scopes(auth::Scope::read), error);
  ASSERT_TRUE(reader) << error;
  auto settings = test_settings();
  settings.keys_file = keys;
  TestServer server(settings);
  boost::asio::io_context io;
  JsonClient c(io, server.url(), bearer(*reader));
  JsonClient unknown(io, server.url(), bearer("sk_nope"));
  ASSERT_TRUE(run_until(io, [&] { return c.open && unknown.closed; }));
  EXPECT_EQ(unknown.close_info.code, 4401);
  EXPECT_EQ(unknown.close_info.reason, "unknown API key");
  c.subscribe("anything.>", 1);
  c.publish("anything.x", 1, 2);
  ASSERT_TRUE(run_until(io, [&] { return c.count("ack") >= 1 && c.count("error") >= 1; }));
  EXPECT_EQ(c.of_type("error").at(0).at("code"), "forbidden");
}

TEST(OriginRule, BrowsersFromOtherOriginsAreRefusedUnlessAllowed) {
  using server::detail::upgrade_origin_allowed;
  const std::vector<std::string> none, listed{"https://app.example.com", "https://*.example.org"}, any{"*"};
  EXPECT_TRUE(upgrade_origin_allowed("", "sluice.example.com", none));  // not a browser
  EXPECT_TRUE(upgrade_origin_allowed("https://sluice.example.com", "sluice.example.com", none));
  EXPECT_TRUE(upgrade_origin_allowed("https://sluice.example.com", "sluice.example.com:443", none));
  EXPECT_TRUE(upgrade_origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080", none));
  EXPECT_FALSE(upgrade_origin_allowed("http://127.0.0.1:8081", "127.0.0.1:8080", none));
  EXPECT_FALSE(upgrade_origin_allowed("https://evil.example", "sluice.example.com", none));
  EXPECT_FALSE(upgrade_origin_allowed("null", "sluice.example.com", none));
  EXPECT_TRUE(upgrade_origin_allowed("https://APP.example.com", "x", listed));
  EXPECT_TRUE(upgrade_origin_allowed("https://a.b.example.org", "x", listed));
  EXPECT_FALSE(upgrade_origin_allowed("https://example.org", "x", listed));
  EXPECT_FALSE(upgrade_origin_allowed("https://evil.com/.example.org", "x", listed));
  EXPECT_FALSE(upgrade_origin_allowed("http://app.example.com", "x", listed));
  EXPECT_TRUE(upgrade_origin_allowed("null", "x", any));
}

TEST(OriginRule, TheServerAnswers403ToABrowserUpgradeFromAnotherOrigin) {
  TestServer server;
  auto upgrade = [&](const std::string& origin) {
    RawHttp c(server.server->port());
    c.write("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.server->port()) + "\r\n" + origin +
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    return c.read_status_line();
  };
  EXPECT_EQ(upgrade(""), "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(upgrade("Origin: http://127.0.0.1:" + std::to_string(server.server->port()) + "\r\n"),
            "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(upgrade("Origin: https://evil.example\r\n"), "HTTP/1.1 403 Forbidden");
}

TEST(Cors, PreflightAndResponsesForListedOriginsOnly) {
  auto settings = test_settings();
  settings.cors_origins = {"https://app.example.com"};
  TestServer server(settings);
  RawHttp c(server.server->port());
  auto options = [&](const std::string& origin) {
    c.write("OPTIONS /v1/events HTTP/1.1\r\nHost: x\r\nOrigin: " + origin +
            "\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n\r\n");
    return c.read_response().substr(0, 3);
  };
  EXPECT_EQ(options("https://app.example.com"), "204");
  EXPECT_NE(c.head.find("Access-Control-Allow-Origin: https://app.example.com"), std::string::npos) << c.head;
  EXPECT_NE(c.head.find("Access-Control-Allow-Headers: Authorization, Content-Type"), std::string::npos);
  EXPECT_EQ(options("https://evil.example"), "403");
  EXPECT_EQ(c.head.find("Access-Control-Allow-Origin"), std::string::npos);
  c.write("GET /health HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\n\r\n");
  c.read_response();
  EXPECT_NE(c.head.find("Access-Control-Allow-Origin: https://app.example.com"), std::string::npos) << c.head;
  c.write("GET /health HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n");
  c.read_response();
  EXPECT_EQ(c.head.find("Access-Control-Allow-Origin"), std::string::npos) << c.head;
}

TEST(SecureDefault, WithoutAuthOnlyLoopbackUnlessInsecure) {
  server::ServerSettings s;
  s.store = "memory";
  EXPECT_EQ(s.validate(), "");  // 127.0.0.1
  s.address = "::1";
  EXPECT_EQ(s.validate(), "");
  s.address = "0.0.0.0";
  EXPECT_NE(s.validate().find("--insecure"), std::string::npos) << s.validate();
  s.address = "::ffff:10.0.0.1";
  EXPECT_NE(s.validate().find("--insecure"), std::string::npos);
  s.insecure = true;
  EXPECT_EQ(s.validate(), "");
  s.insecure = false;
  s.jwt_secret_file = "/some/secret";
  EXPECT_EQ(s.validate(), "");
  s.jwt_public_key = "/some/key.pem";
  EXPECT_NE(s.validate().find("exclude each other"), std::string::npos);
}

}  // namespace
}  // namespace sluice::test
