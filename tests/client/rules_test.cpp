// The client's pure rules: which close codes and statuses end it, option
// validation, and proxy selection from options and the environment.
#include <gtest/gtest.h>

#include <map>

#include "sluice/client/client.hpp"
#include "sluice/client/close_policy.hpp"
#include "sluice/client/proxy.hpp"

namespace {

using namespace sluice::client;
using namespace std::chrono_literals;

TEST(ClientRules, TerminalAndRateLimitedCloseCodes) {
  ReconnectOptions o;
  for (std::uint16_t code : {4401, 4403, 4404, 1008}) EXPECT_EQ(rule_for_close_code(code, o), RetryRule::stop) << code;
  for (std::uint16_t code : {4429, 1013}) EXPECT_EQ(rule_for_close_code(code, o), RetryRule::retry_slowly) << code;
  for (std::uint16_t code : {1000, 1001, 1002, 1006, 1009, 1011, 1012, 4008, 4000, 4999}) {
    EXPECT_EQ(rule_for_close_code(code, o), RetryRule::retry) << code;
  }
  for (unsigned status : {401u, 403u, 404u}) EXPECT_EQ(rule_for_http_status(status, o), RetryRule::stop);
  EXPECT_EQ(rule_for_http_status(429, o), RetryRule::retry_slowly);
  for (unsigned status : {400u, 500u, 502u, 503u}) EXPECT_EQ(rule_for_http_status(status, o), RetryRule::retry);
  o.terminal_close_codes.push_back(4000);  // configurable
  EXPECT_EQ(rule_for_close_code(4000, o), RetryRule::stop);
}

TEST(ClientRules, SetTargetRefusesWhatWouldBreakTheRequestLine) {
  Client c("ws://127.0.0.1:9/");  // never connected
  EXPECT_TRUE(c.set_target("/v1/subscriptions/s1/stream?since=42"));
  EXPECT_FALSE(c.set_target(""));
  EXPECT_FALSE(c.set_target("v1/no-slash"));
  EXPECT_FALSE(c.set_target("/a b"));
  EXPECT_FALSE(c.set_target("/a\r\nX-Injected: 1"));
  EXPECT_FALSE(c.set_target("/a\t"));
  EXPECT_FALSE(c.set_target("/a\x7f"));
  EXPECT_FALSE(c.set_target("/a#fragment"));
}

TEST(ClientRules, OptionsValidation) {
  EXPECT_EQ(ClientOptions{}.validate(), "");
  auto bad = [](auto change) {
    ClientOptions o;
    change(o);
    return o.validate();
  };
  EXPECT_NE(bad([](ClientOptions& o) { o.reconnect.backoff.floor = 0ms; }), "");
  EXPECT_NE(bad([](ClientOptions& o) { o.timeouts.connect = 0ms; }), "");
  EXPECT_NE(bad([](ClientOptions& o) { o.max_queued_bytes = 0; }), "");
  EXPECT_NE(bad([](ClientOptions& o) { o.session.max_attempts = 0; }), "");
  EXPECT_NE(bad([](ClientOptions& o) { o.headers.emplace_back("Bad Name", "x"); }), "");
  EXPECT_NE(bad([](ClientOptions& o) { o.headers.emplace_back("X", "a\r\nInjected: 1"); }), "");
  EXPECT_NE(bad([](ClientOptions& o) { o.subprotocols.push_back("a,b"); }), "");
  EXPECT_NE(bad([](ClientOptions& o) { o.headers.emplace_back("X(1)", "x"); }), "");  // not a token
  EXPECT_NE(bad([](ClientOptions& o) { o.headers.emplace_back("X", std::string("a\0b", 3)); }), "");
  EXPECT_NE(bad([](ClientOptions& o) { o.origin = "https://a\r\nX: 1"; }), "");
  EXPECT_EQ(bad([](ClientOptions& o) { o.headers.emplace_back("X-Trace_1", "a b: c"); }), "");
  // The constructor turns a bad value into a clear exception, never a crash.
  EXPECT_THROW(Client("http://example.com"), std::invalid_argument);
  EXPECT_THROW(Client("ws://"), std::invalid_argument);
  ClientOptions o;
  o.reconnect.backoff.max = 1ms;
  try {
    Client c("ws://127.0.0.1:1/", o);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("backoff max"), std::string::npos) << e.what();
  }
  ClientOptions tls;
  tls.tls.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(Client("wss://localhost:1/", tls), std::invalid_argument);
  // Failover URLs: ws:// or wss:// like the main URL, and not with a proxy.
  ClientOptions failover;
  failover.failover_urls = {"ws://127.0.0.1:2/v1/ws"};
  EXPECT_NO_THROW(Client("ws://127.0.0.1:1/v1/ws", failover));
  failover.failover_urls = {"http://127.0.0.1:2/"};
  EXPECT_THROW(Client("ws://127.0.0.1:1/", failover), std::invalid_argument);
  failover.failover_urls = {"wss://127.0.0.1:2/"};
  EXPECT_THROW(Client("ws://127.0.0.1:1/", failover), std::invalid_argument);
  failover.failover_urls = {"ws://example.net:2/"};
  failover.proxy.url = "http://127.0.0.1:3128";
  EXPECT_THROW(Client("ws://example.com:1/", failover), std::invalid_argument);
}

TEST(ClientRules, ParseProxyUrl) {
  std::string error;
  auto p = parse_proxy_url("http://proxy.example:3128/", error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->host, "proxy.example");
  EXPECT_EQ(p->port, 3128);
  EXPECT_TRUE(p->headers.empty());
  p = parse_proxy_url("proxy.example", error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->port, 80);
  p = parse_proxy_url("http://user:p%40ss@[::1]:8080", error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->host, "::1");
  EXPECT_EQ(p->port, 8080);
  ASSERT_EQ(p->headers.size(), 1u);
  EXPECT_EQ(p->headers[0].first, "Proxy-Authorization");
  EXPECT_EQ(p->headers[0].second, "Basic dXNlcjpwQHNz");  // base64("user:p@ss")
  EXPECT_FALSE(parse_proxy_url("socks5://proxy:1080", error));
  EXPECT_NE(error.find("http://"), std::string::npos);
  EXPECT_FALSE(parse_proxy_url("http://proxy:99999", error));
  EXPECT_FALSE(parse_proxy_url("http://:8080", error));
}

TEST(ClientRules, NoProxyMatching) {
  EXPECT_TRUE(no_proxy_matches("*", "anything", 80));
  EXPECT_TRUE(no_proxy_matches("example.com", "example.com", 80));
  EXPECT_TRUE(no_proxy_matches("example.com", "api.example.com", 80));
  EXPECT_TRUE(no_proxy_matches(".example.com", "api.example.com", 80));
  EXPECT_FALSE(no_proxy_matches("example.com", "badexample.com", 80));
  EXPECT_TRUE(no_proxy_matches(" foo , Example.COM ", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("example.com:8080", "example.com", 8080));
  EXPECT_FALSE(no_proxy_matches("example.com:8080", "example.com", 80));
  EXPECT_TRUE(no_proxy_matches("10.0.0.1", "10.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("", "example.com", 80));
}

TEST(ClientRules, SelectProxyFromOptionsAndEnvironment) {
  std::map<std::string, std::string> env;
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  const sluice::net::WsUrl ws{false, "feed.example", 80, "/"};
  const sluice::net::WsUrl wss{true, "feed.example", 443, "/"};
  const sluice::net::WsUrl local{false, "127.0.0.1", 9001, "/"};
  std::string error;
  ProxyOptions o;
  EXPECT_FALSE(select_proxy(ws, o, error, getenv));
  env["http_proxy"] = "http://proxy:3128";
  auto p = select_proxy(ws, o, error, getenv);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "proxy");
  EXPECT_FALSE(select_proxy(local, o, error, getenv));  // loopback goes direct
  env["https_proxy"] = "http://secure-proxy:3129";
  p = select_proxy(wss, o, error, getenv);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "secure-proxy");
  env["NO_PROXY"] = ".example";
  EXPECT_FALSE(select_proxy(ws, o, error, getenv));
  o.use_environment = false;
  EXPECT_FALSE(select_proxy(ws, o, error, getenv));
  o.url = "http://explicit:8888";
  o.headers.emplace_back("X-Proxy-Token", "t");
  p = select_proxy(local, o, error, getenv);  // explicit: used even for loopback
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "explicit");
  EXPECT_EQ(p->headers.size(), 1u);
  env.clear();
  env["HTTP_PROXY"] = "ftp://nope";
  o = {};
  EXPECT_FALSE(select_proxy(ws, o, error, getenv));
  EXPECT_FALSE(error.empty());
}

TEST(ClientRules, StatusNames) {
  EXPECT_STREQ(to_string(State::reconnecting), "reconnecting");
  EXPECT_STREQ(to_string(SendStatus::queue_full), "queue full");
  EXPECT_TRUE(accepted(SendStatus::queued));
  EXPECT_FALSE(accepted(SendStatus::closed));
  EXPECT_EQ(make_error_code(Error::gave_up).category().name(), std::string("sluice.client"));
}

}  // namespace
