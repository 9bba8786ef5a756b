// The client's credentials (ClientAuth) against scripted servers: reading a
// JWT's exp without verifying it, when a refresh is due, the bearer on every
// attempt, the provider asked once more after a 4401 and the stop after a
// second refusal, a provider without a token, and the in-band refresh
// (request, answer consumed, refusal reported).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <stdexcept>

#include "client/fault_proxy.hpp"
#include "client/test_support.hpp"
#include "sluice/client/auth.hpp"
#include "sluice/client/error.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::test {
namespace {

using client::Client;
using client::ClientOptions;
using client::Error;
using client::token_expiry;
namespace json = boost::json;

std::string base64url(std::string_view bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (const unsigned char c : bytes) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(alphabet[(bits >> count) & 63]);
    }
  }
  if (count > 0) out.push_back(alphabet[(bits << (6 - count)) & 63]);
  return out;
}

// An unsigned JWT-shaped token with `payload` (the client never verifies).
std::string fake_token(std::string_view payload) {
  return base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(payload) + ".c2lnbmF0dXJl";
}

void send_text(net::Connection& c, std::string_view text) {
  (void)c.send(client::MessageType::text, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

std::string token_expiring_at(std::int64_t exp, const std::string& sub = "ann") {
  return fake_token(R"({"sub":")" + sub + R"(","exp":)" + std::to_string(exp) + "}");
}

TEST(TokenExpiry, ReadsTheExpClaimOfAJwtWithoutVerifyingIt) {
  EXPECT_EQ(token_expiry(fake_token(R"({"sub":"ann","exp":1893456000})")), 1893456000);
  EXPECT_EQ(token_expiry(fake_token(R"({"exp":1893456000.75})")), 1893456000);  // NumericDate with a fraction
  EXPECT_EQ(token_expiry(fake_token(R"({"exp":-5})")), -5);
  // base64url's '-' and '_' (bytes 0xfb 0xff) and a padded payload.
  const std::string tricky = R"({"n":"\u00fb\u00ff?>","exp":42})";
  EXPECT_EQ(token_expiry(fake_token(tricky)), 42);
  std::string cut = base64url(R"({"exp":7})");
  cut.insert(4, "=");
  EXPECT_EQ(token_expiry(base64url("{}") + "." + cut + ".sig"), std::nullopt) << "'=' only at the end of a part";
  const std::string header = base64url("{}");
  std::string padded = base64url(R"({"exp":77})");
  while (padded.size() % 4) padded += '=';
  EXPECT_EQ(token_expiry(header + "." + padded + ".sig"), 77);
  EXPECT_EQ(token_expiry(header + "." + padded + "."), 77);  // an empty signature is still three parts
}

TEST(TokenExpiry, AnythingElseHasNoExpiry) {
  EXPECT_EQ(token_expiry(""), std::nullopt);
  EXPECT_EQ(token_expiry("an-api-key-not-a-jwt"), std::nullopt);
  EXPECT_EQ(token_expiry("a.b"), std::nullopt);
  EXPECT_EQ(token_expiry("a.b.c.d"), std::nullopt);
  EXPECT_EQ(token_expiry(fake_token(R"({"sub":"ann"})")), std::nullopt);
  EXPECT_EQ(token_expiry(fake_token(R"({"exp":"1893456000"})")), std::nullopt);
  EXPECT_EQ(token_expiry(fake_token(R"({"exp":1e300})")), std::nullopt);
  EXPECT_EQ(token_expiry(fake_token(R"({"exp":18446744073709551615})")), std::nullopt);
  EXPECT_EQ(token_expiry(fake_token(R"([1,2])")), std::nullopt);
  EXPECT_EQ(token_expiry(fake_token("not json")), std::nullopt);
  EXPECT_EQ(token_expiry("e30.!!!!.sig"), std::nullopt);
  EXPECT_EQ(token_expiry("e30.e.sig"), std::nullopt);  // one base64 character is no whole byte
}

TEST(RefreshDelay, MarginBeforeExpiryOrHalfWayForShortTokensNeverTooSoon) {
  using namespace std::chrono;
  const system_clock::time_point now{seconds(1'000'000)};
  const auto margin = 30s, floor = 1s;
  EXPECT_EQ(client::refresh_delay(1'000'000 + 3600, now, margin, floor), milliseconds(3570'000));
  EXPECT_EQ(client::refresh_delay(1'000'000 + 60, now, margin, floor), milliseconds(30'000));  // exactly 2 margins
  EXPECT_EQ(client::refresh_delay(1'000'000 + 40, now, margin, floor), milliseconds(20'000));  // half way
  EXPECT_EQ(client::refresh_delay(1'000'000 + 4, now, margin, floor), milliseconds(2'000));
  EXPECT_EQ(client::refresh_delay(1'000'000 + 1, now, margin, floor), milliseconds(1'000));   // the floor
  EXPECT_EQ(client::refresh_delay(1'000'000 - 10, now, margin, floor), milliseconds(1'000));  // already expired
  EXPECT_EQ(client::refresh_delay(1'000'000 + 10, now, 0ms, floor), milliseconds(10'000));    // no margin: at exp
  // Absurd values do not overflow.
  EXPECT_GT(client::refresh_delay(INT64_MAX, now, margin, floor), milliseconds(0));
  EXPECT_EQ(client::refresh_delay(INT64_MIN, now, margin, floor), milliseconds(1'000));
}

TEST(ClientAuthOptions, ACredentialTwiceOrABrokenOneIsRefused) {
  ClientOptions o;
  o.auth.bearer = "key";
  o.headers.emplace_back("authorization", "Bearer other");
  EXPECT_NE(o.validate().find("Authorization"), std::string::npos) << o.validate();
  o.headers.clear();
  EXPECT_EQ(o.validate(), "");
  o.auth.bearer = "secret-value\r\nX: y";
  const auto why = o.validate();
  EXPECT_NE(why.find("auth.bearer"), std::string::npos);
  EXPECT_EQ(why.find("secret-value"), std::string::npos) << "the credential is never quoted";
  o.auth.bearer.clear();
  o.auth.min_refresh_delay = 0ms;
  EXPECT_NE(o.validate(), "");
  EXPECT_THROW(Client("ws://127.0.0.1:1/", o), std::invalid_argument);
}

// Counts the provider's calls and answers from a list (the last one repeats).
struct Provider {
  std::vector<std::optional<std::string>> answers;
  std::atomic<int> calls{0};
  client::TokenProvider fn() {
    return [this]() -> std::optional<std::string> {
      const int i = calls++;
      return answers[std::min<std::size_t>(static_cast<std::size_t>(i), answers.size() - 1)];
    };
  }
};

std::string authorization_of(const std::string& head) {
  const auto at = head.find("Authorization: ");
  if (at == std::string::npos) return "";
  return head.substr(at + 15, head.find("\r\n", at) - at - 15);
}

TEST(ClientAuth, EveryAttemptCarriesTheProvidersTokenAndA4401AsksOnceMore) {
  std::atomic<int> opens{0};
  WsServer::Script script;
  script.on_open = [&](net::Connection& c) {
    if (opens++ == 0) return c.close(4401, "bad signature");  // the first token is refused; the next one works
    send_text(c, "welcome");
  };
  WsServer server(script);
  FaultProxy proxy(server.port());
  Provider provider{{"tok-1", "tok-2"}};
  ClientOptions o = fast_options();
  o.auth.token_provider = provider.fn();
  Recorder r;
  Client c(proxy.url(), o);
  r.attach(c);
  c.connect();
  // Only the second connection says welcome (the first may have reported on_open before its 4401).
  ASSERT_TRUE(r.wait([&] { return !r.messages.empty(); }));
  EXPECT_EQ(provider.calls.load(), 2);
  const auto heads = proxy.first_chunks();
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(authorization_of(heads[0]), "Bearer tok-1");
  EXPECT_EQ(authorization_of(heads[1]), "Bearer tok-2");
  EXPECT_EQ(c.state(), client::State::open);
  // That connection got through (a message came): a later 4401, its expiry, asks again.
  server.close_all(4401, "token expired");
  ASSERT_TRUE(r.wait([&] { return r.messages.size() == 2; }));
  EXPECT_EQ(provider.calls.load(), 3);
  c.close();
}

TEST(ClientAuth, ASecond4401InARowStopsForGoodWithUnauthorized) {
  WsServer::Script script;
  script.on_open = [](net::Connection& c) { c.close(4401, "bad signature"); };
  WsServer server(script);
  Provider provider{{"bad-1", "bad-2", "never-asked"}};
  ClientOptions o = fast_options();
  o.auth.token_provider = provider.fn();
  Recorder r;
  Client c(server.url(), o);
  r.attach(c);
  c.connect();
  ASSERT_TRUE(r.wait([&] { return !r.closes.empty() && !r.closes.back().will_retry; }));
  const auto last = r.copy(r.closes).back();
  EXPECT_TRUE(last.terminal);
  EXPECT_EQ(last.error, Error::unauthorized);
  EXPECT_EQ(last.code, 4401);
  EXPECT_NE(last.description.find("bad signature"), std::string::npos) << last.description;
  EXPECT_EQ(last.description.find("bad-"), std::string::npos) << "no token in a description";
  EXPECT_EQ(provider.calls.load(), 2);
  EXPECT_EQ(server.opened(), 2u);
  EXPECT_EQ(c.state(), client::State::closed);
  EXPECT_EQ(c.info().last_error, Error::unauthorized);
}

TEST(ClientAuth, AStaticBearerIsSentAndA4401StopsAtOnce) {
  WsServer::Script script;
  script.on_open = [](net::Connection& c) { c.close(4401, "bad signature"); };
  WsServer server(script);
  FaultProxy proxy(server.port());
  ClientOptions o = fast_options();
  o.auth.bearer = "sk_live_key";
  Recorder r;
  Client c(proxy.url(), o);
  r.attach(c);
  c.connect();
  ASSERT_TRUE(r.wait([&] { return !r.closes.empty() && !r.closes.back().will_retry; }));
  EXPECT_EQ(r.copy(r.closes).back().error, Error::terminal_close_code);
  EXPECT_EQ(server.opened(), 1u);
  ASSERT_EQ(proxy.first_chunks().size(), 1u);
  EXPECT_EQ(authorization_of(proxy.first_chunks()[0]), "Bearer sk_live_key");
}

TEST(ClientAuth, AProviderWithoutATokenStopsTheClientBeforeConnecting) {
  WsServer server;
  for (int variant = 0; variant < 3; ++variant) {
    ClientOptions o = fast_options();
    if (variant == 0) o.auth.token_provider = [] { return std::optional<std::string>(); };
    if (variant == 1) o.auth.token_provider = []() -> std::optional<std::string> { throw std::runtime_error("vault down"); };
    if (variant == 2) o.auth.token_provider = [] { return std::optional<std::string>("two\r\nlines"); };
    Recorder r;
    Client c(server.url(), o);
    r.attach(c);
    c.connect();
    ASSERT_TRUE(r.wait([&] { return !r.closes.empty(); })) << variant;
    const auto last = r.copy(r.closes).back();
    EXPECT_FALSE(last.will_retry);
    EXPECT_TRUE(last.terminal);
    EXPECT_EQ(last.error, Error::no_token);
    if (variant == 1) {
      EXPECT_NE(last.description.find("vault down"), std::string::npos) << last.description;
    }
    EXPECT_EQ(last.description.find("lines"), std::string::npos) << last.description;
    EXPECT_EQ(c.state(), client::State::closed);
    EXPECT_EQ(c.send_text("x"), client::SendStatus::closed);
  }
  EXPECT_EQ(server.opened(), 0u);
}

TEST(ClientAuth, AfterA4401AProviderWithNothingLeftStopsTheClient) {
  WsServer::Script script;
  script.on_open = [](net::Connection& c) { c.close(4401, "token expired"); };
  WsServer server(script);
  Provider provider{{"tok-1", std::nullopt}};
  ClientOptions o = fast_options();
  o.auth.token_provider = provider.fn();
  Recorder r;
  Client c(server.url(), o);
  r.attach(c);
  c.connect();
  ASSERT_TRUE(r.wait([&] { return !r.closes.empty() && !r.closes.back().will_retry; }));
  EXPECT_EQ(r.copy(r.closes).back().error, Error::no_token);
  EXPECT_EQ(provider.calls.load(), 2);
  EXPECT_EQ(server.opened(), 1u);
}

// A server that answers {"op":"refresh"} with an ack (or, when told, an
// error) and echoes everything else.
WsServer::Script refresh_script(std::atomic<bool>& refuse) {
  WsServer::Script script;
  script.on_message = [&refuse](net::Connection& c, std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (!ec && v.is_object() && v.as_object().contains("op") && v.at("op") == "refresh") {
      json::object reply;
      reply["id"] = v.at("id");
      if (refuse) {
        reply["type"] = "error";
        reply["code"] = "unauthorized";
        reply["message"] = "bad signature";
      } else {
        reply["type"] = "ack";
        reply["op"] = "refresh";
        reply["expiresAt"] = *token_expiry(std::string(v.at("token").as_string()));
      }
      send_text(c, json::serialize(reply));
      return;
    }
    send_text(c, text);
  };
  return script;
}

TEST(ClientAuth, InBandRenewalRefreshesBeforeExpiryOnTheSameConnection) {
  std::atomic<bool> refuse{false};
  WsServer server(refresh_script(refuse));
  // Each token lives 3 s; refreshed half way (the margin is wider than that).
  std::atomic<int> issued{0};
  ClientOptions o = fast_options();
  o.auth.renewal = client::TokenRenewal::in_band;
  o.auth.refresh_margin = 5s;
  o.auth.min_refresh_delay = 200ms;
  o.auth.token_provider = [&] { return token_expiring_at(unix_time_s() + 3, "ann" + std::to_string(issued++)); };
  Recorder r;
  Client c(server.url(), o);
  r.attach(c);
  c.connect();
  ASSERT_TRUE(r.wait([&] { return !r.opens.empty(); }));
  ASSERT_TRUE(r.signal.wait([&] { return c.info().token_refreshes >= 2; }, 15s));
  EXPECT_EQ(c.send_text("still here"), client::SendStatus::sent);
  ASSERT_TRUE(r.wait([&] { return !r.messages.empty(); }));
  EXPECT_EQ(r.copy(r.messages), std::vector<std::string>{"still here"}) << "the refresh answers are the client's own";
  const auto received = server.received();
  int refreshes = 0;
  for (const auto& m : received) {
    if (m.find("\"op\":\"refresh\"") == std::string::npos) continue;
    ++refreshes;
    const auto v = json::parse(m);
    EXPECT_EQ(v.at("id").as_string(), "sluice-refresh-" + std::to_string(refreshes));
    EXPECT_EQ(token_expiry(std::string(v.at("token").as_string())).has_value(), true);
  }
  EXPECT_GE(refreshes, 2);
  const auto info = c.info();
  EXPECT_EQ(info.connections, 1u);
  EXPECT_TRUE(info.token_expires_at.has_value());
  EXPECT_EQ(server.opened(), 1u);
  EXPECT_TRUE(r.copy(r.reconnects).empty());
  c.close();
}

TEST(ClientAuth, ARefusedRefreshIsReportedAndTheConnectionGoesOn) {
  std::atomic<bool> refuse{true};
  WsServer server(refresh_script(refuse));
  ClientOptions o = fast_options();
  o.auth.renewal = client::TokenRenewal::in_band;
  o.auth.min_refresh_delay = 100ms;
  o.auth.token_provider = [&] { return token_expiring_at(unix_time_s() + 2, "ann-" + std::to_string(unix_time_s())); };
  Recorder r;
  Client c(server.url(), o);
  r.attach(c);
  c.connect();
  ASSERT_TRUE(r.wait([&] { return !r.errors.empty() || !r.closes.empty(); }));
  ASSERT_TRUE(r.has_error(Error::token_refresh_failed));
  const auto errors = r.copy(r.errors);
  EXPECT_NE(errors.back().message.find("bad signature"), std::string::npos) << errors.back().message;
  EXPECT_EQ(c.state(), client::State::open);
  EXPECT_EQ(c.info().token_refreshes, 0u);
  EXPECT_TRUE(r.copy(r.messages).empty());
  c.close();
}

TEST(ClientAuth, OnExpiryRenewalSendsNoRefresh) {
  std::atomic<bool> refuse{false};
  WsServer server(refresh_script(refuse));
  Provider provider{{token_expiring_at(unix_time_s() + 1)}};
  ClientOptions o = fast_options();  // a raw Client: TokenRenewal::automatic is on_expiry
  o.auth.min_refresh_delay = 10ms;
  o.auth.token_provider = provider.fn();
  Recorder r;
  Client c(server.url(), o);
  r.attach(c);
  c.connect();
  ASSERT_TRUE(r.wait([&] { return !r.opens.empty(); }));
  // Past the token's exp (a refresh would have gone out by then), the echo of a
  // message sent after it proves the server saw everything the client sent.
  ASSERT_TRUE(r.signal.wait([&] { return unix_time_s() > *token_expiry(*provider.answers[0]) + 1; }, 5s));
  ASSERT_EQ(c.send_text("ping"), client::SendStatus::sent);
  ASSERT_TRUE(r.wait([&] { return !r.messages.empty(); }));
  EXPECT_EQ(server.received(), std::vector<std::string>{"ping"});
  EXPECT_EQ(provider.calls.load(), 1);
  c.close();
}

}  // namespace
}  // namespace sluice::test
