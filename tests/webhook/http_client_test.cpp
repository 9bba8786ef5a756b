// The webhook HTTP(S) client against loopback receivers (allowlist
// 127.0.0.0/8 only): statuses, Retry-After, timeouts, a peer that closes
// mid-request, no redirects, keep-alive reuse and stale connections, pool
// bounds, cancellation, TLS verification, and SSRF refusals that happen
// before any connection attempt.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/test_tls.hpp"
#include "sluice/webhook/http_client.hpp"
#include "webhook/receiver.hpp"

namespace {

using namespace sluice::webhook;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using sluice::test::Receiver;

AddressPolicy loopback_only() {
  std::string error;
  return *AddressPolicy::from_strings({"127.0.0.0/8"}, error);
}

WebhookUrl url_to(std::uint16_t port, const std::string& path, bool secure = false,
                  const std::string& host = "127.0.0.1") {
  std::string error;
  auto url = parse_webhook_url((secure ? "https://" : "http://") + host + ":" + std::to_string(port) + path,
                               loopback_only(), error);
  EXPECT_TRUE(url) << error;
  return *url;
}

// A WebhookUrl that names a literal address directly, bypassing parse-time
// checks: what a stale or rebinding target looks like to the client.
WebhookUrl literal_url(const char* address, std::uint16_t port) {
  WebhookUrl url;
  url.literal = asio::ip::make_address(address);
  url.host = url.literal->to_string();
  url.port = port;
  return url;
}

class HttpClientTest : public ::testing::Test {
 protected:
  HttpClientOptions options() {
    HttpClientOptions o;
    o.address_policy = loopback_only();
    o.connect_timeout = 10s;  // generous: TLS under valgrind or sanitizers is slow
    o.total_timeout = 20s;
    o.on_connect_attempt = [this](const tcp::endpoint& ep) { attempts.push_back(ep); };
    return o;
  }
  std::unique_ptr<HttpClient> make(HttpClientOptions o) {
    std::string error;
    auto client = HttpClient::create(io, std::move(o), error);
    EXPECT_TRUE(client) << error;
    return client;
  }
  // Runs the loop until `done` or 30 s; false on the deadline.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.restart();
      io.run_one_for(20ms);
    }
    return true;
  }
  // Posts one request and waits for its result.
  HttpResult send(HttpClient& client, HttpRequest request) {
    std::optional<HttpResult> result;
    client.post(std::move(request), [&](HttpResult r) { result = std::move(r); });
    EXPECT_TRUE(run_until([&] { return result.has_value(); }));
    return result.value_or(HttpResult{});
  }
  HttpRequest request(WebhookUrl url, std::string body = R"({"n":1})") {
    HttpRequest r;
    r.url = std::move(url);
    r.body = std::move(body);
    return r;
  }

  asio::io_context io;
  std::vector<tcp::endpoint> attempts;
};

TEST_F(HttpClientTest, PostsTheBodyAndHeadersAndReports200) {
  Receiver rx;
  auto client = make(options());
  auto req = request(url_to(rx.port(), "/ok?sub=1"), R"({"hello":"world"})");
  req.headers = {{"webhook-id", "evt_1"}, {"X-Sluice-Signature", "sha256=00"}};
  const HttpResult r = send(*client, std::move(req));
  ASSERT_EQ(r.kind, HttpResult::Kind::response) << r.error;
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body_excerpt, "ok");
  ASSERT_TRUE(r.peer);
  EXPECT_EQ(r.peer->address().to_string(), "127.0.0.1");
  EXPECT_FALSE(r.reused_connection);
  const auto got = rx.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/ok?sub=1");
  EXPECT_EQ(got[0].body, R"({"hello":"world"})");
  EXPECT_EQ(got[0].headers.at("webhook-id"), "evt_1");
  EXPECT_EQ(got[0].headers.at("x-sluice-signature"), "sha256=00");
  EXPECT_EQ(got[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(got[0].headers.at("host"), "127.0.0.1:" + std::to_string(rx.port()));
  EXPECT_EQ(got[0].headers.at("user-agent"), "Sluice-Webhook/0.1");
  EXPECT_EQ(classify(r.outcome(), std::chrono::system_clock::now()).verdict, Verdict::acknowledged);
}

TEST_F(HttpClientTest, Reports500And429WithRetryAfter) {
  Receiver rx;
  auto client = make(options());
  const HttpResult fail = send(*client, request(url_to(rx.port(), "/fail")));
  ASSERT_EQ(fail.kind, HttpResult::Kind::response) << fail.error;
  EXPECT_EQ(fail.status, 500u);
  EXPECT_EQ(classify(fail.outcome(), std::chrono::system_clock::now()).verdict, Verdict::retry);

  const HttpResult busy = send(*client, request(url_to(rx.port(), "/busy")));
  ASSERT_EQ(busy.kind, HttpResult::Kind::response) << busy.error;
  EXPECT_EQ(busy.status, 429u);
  EXPECT_EQ(busy.retry_after, "7");
  const auto c = classify(busy.outcome(), std::chrono::system_clock::now());
  EXPECT_EQ(c.verdict, Verdict::retry);
  EXPECT_EQ(c.retry_after, 7s);
}

TEST_F(HttpClientTest, RedirectsAreNotFollowed) {
  Receiver rx;
  auto client = make(options());
  const HttpResult r = send(*client, request(url_to(rx.port(), "/redirect")));
  ASSERT_EQ(r.kind, HttpResult::Kind::response) << r.error;
  EXPECT_EQ(r.status, 302u);
  EXPECT_EQ(rx.requests().size(), 1u);
  EXPECT_EQ(classify(r.outcome(), std::chrono::system_clock::now()).verdict, Verdict::park);
}

TEST_F(HttpClientTest, HangingReceiverHitsTheTotalTimeout) {
  Receiver rx;
  auto o = options();
  o.total_timeout = 300ms;
  auto client = make(o);
  const auto start = std::chrono::steady_clock::now();
  const HttpResult r = send(*client, request(url_to(rx.port(), "/hang")));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.kind, HttpResult::Kind::timeout);
  EXPECT_NE(r.error.find("within 300 ms"), std::string::npos) << r.error;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(client->open_connections(), 0u);  // a timed-out connection is closed, not pooled
  EXPECT_EQ(classify(r.outcome(), std::chrono::system_clock::now()).verdict, Verdict::retry);
}

TEST_F(HttpClientTest, SlowDnsHitsTheConnectTimeout) {
  auto o = options();
  o.connect_timeout = 200ms;
  std::vector<ResolveHandler> never_answered;  // the "DNS server" never replies
  o.resolve = [&](const std::string&, std::uint16_t, ResolveHandler h) { never_answered.push_back(std::move(h)); };
  auto client = make(o);
  WebhookUrl url;
  url.host = "slow.example";
  url.port = 80;
  const HttpResult r = send(*client, request(url));
  EXPECT_EQ(r.kind, HttpResult::Kind::timeout);
  EXPECT_NE(r.error.find("could not connect to http://slow.example:80 within 200 ms"), std::string::npos) << r.error;
  EXPECT_TRUE(attempts.empty());
  // A late answer is ignored.
  never_answered.at(0)({}, {tcp::endpoint(asio::ip::make_address("127.0.0.1"), 1)});
  io.restart();
  io.poll();
  EXPECT_TRUE(attempts.empty());
}

TEST_F(HttpClientTest, PeerClosingMidRequestIsAConnectionError) {
  Receiver rx;
  auto client = make(options());
  const HttpResult r = send(*client, request(url_to(rx.port(), "/close"), std::string(64 * 1024, 'a')));
  EXPECT_EQ(r.kind, HttpResult::Kind::connection_error);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(client->open_connections(), 0u);
  EXPECT_EQ(classify(r.outcome(), std::chrono::system_clock::now()).verdict, Verdict::retry);
}

TEST_F(HttpClientTest, ConnectionRefusedIsAConnectionError) {
  std::uint16_t port = 0;
  {
    asio::io_context tmp;
    tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  auto client = make(options());
  const HttpResult r = send(*client, request(url_to(port, "/ok")));
  EXPECT_EQ(r.kind, HttpResult::Kind::connection_error);
  EXPECT_NE(r.error.find("cannot connect to http://127.0.0.1:" + std::to_string(port)), std::string::npos) << r.error;
}

TEST_F(HttpClientTest, KeepsConnectionsAliveAndReusesThem) {
  Receiver rx;
  auto client = make(options());
  for (int i = 0; i < 5; ++i) {
    const HttpResult r = send(*client, request(url_to(rx.port(), "/ok")));
    ASSERT_EQ(r.kind, HttpResult::Kind::response) << r.error;
    EXPECT_EQ(r.reused_connection, i > 0);
  }
  EXPECT_EQ(rx.connections(), 1);
  EXPECT_EQ(client->open_connections(), 1u);
  EXPECT_EQ(client->idle_connections(), 1u);
}

TEST_F(HttpClientTest, IdleConnectionClosedByThePeerIsDropped) {
  Receiver rx;
  auto client = make(options());
  ASSERT_EQ(send(*client, request(url_to(rx.port(), "/ok-close"))).status, 200u);
  // The receiver closes the idle connection 50 ms later; the pool notices.
  ASSERT_TRUE(run_until([&] { return client->open_connections() == 0; }));
  const HttpResult r = send(*client, request(url_to(rx.port(), "/ok")));
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.reused_connection);
  EXPECT_EQ(rx.connections(), 2);
}

TEST_F(HttpClientTest, StaleReusedConnectionIsRetriedOnceOnAFreshOne) {
  Receiver rx;
  auto client = make(options());
  ASSERT_EQ(send(*client, request(url_to(rx.port(), "/reuse-trap"))).status, 200u);
  // The pooled connection closes on its next request before answering.
  const HttpResult r = send(*client, request(url_to(rx.port(), "/reuse-trap")));
  ASSERT_EQ(r.kind, HttpResult::Kind::response) << r.error;
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.reused_connection);
  EXPECT_EQ(rx.connections(), 2);
  EXPECT_EQ(rx.requests().size(), 3u);
}

TEST_F(HttpClientTest, IdleTimeoutClosesPooledConnections) {
  Receiver rx;
  auto o = options();
  o.idle_timeout = 100ms;
  auto client = make(o);
  ASSERT_EQ(send(*client, request(url_to(rx.port(), "/ok"))).status, 200u);
  EXPECT_EQ(client->idle_connections(), 1u);
  ASSERT_TRUE(run_until([&] { return client->open_connections() == 0; }, 3s));
  ASSERT_TRUE(run_until([&] { return rx.open_connections() == 0; }, 3s));
}

TEST_F(HttpClientTest, LargeResponseBodyStillReportsTheStatusButIsNotReused) {
  Receiver rx;
  auto o = options();
  o.max_response_body = 1024;
  auto client = make(o);
  const HttpResult r = send(*client, request(url_to(rx.port(), "/big")));
  ASSERT_EQ(r.kind, HttpResult::Kind::response) << r.error;
  EXPECT_EQ(r.status, 200u);
  EXPECT_LE(r.body_excerpt.size(), 256u);
  EXPECT_EQ(client->open_connections(), 0u);
}

TEST_F(HttpClientTest, PerHostLimitQueuesRequestsInOrder) {
  Receiver rx;
  auto o = options();
  o.max_connections_per_host = 2;
  auto client = make(o);
  std::vector<HttpResult> results;
  for (int i = 0; i < 5; ++i) {
    client->post(request(url_to(rx.port(), "/hold"), std::to_string(i)), [&](HttpResult r) { results.push_back(r); });
  }
  ASSERT_TRUE(run_until([&] { return rx.requests_seen() == 2; }));
  EXPECT_EQ(client->open_connections(), 2u);
  EXPECT_EQ(client->waiting_requests(), 3u);
  rx.release_held();
  ASSERT_TRUE(run_until([&] { return results.size() == 5; }));
  for (const auto& r : results) EXPECT_EQ(r.status, 200u) << r.error;
  EXPECT_EQ(rx.max_open_connections(), 2);
  EXPECT_EQ(rx.connections(), 2);
  const auto got = rx.requests();
  ASSERT_EQ(got.size(), 5u);
  // The waiting three went in the order they were posted.
  EXPECT_EQ(got[2].body, "2");
  EXPECT_EQ(got[3].body, "3");
  EXPECT_EQ(got[4].body, "4");
}

TEST_F(HttpClientTest, TotalLimitEvictsAnIdleConnectionOfAnotherHost) {
  Receiver a, b;
  auto o = options();
  o.max_connections = 1;
  auto client = make(o);
  ASSERT_EQ(send(*client, request(url_to(a.port(), "/ok"))).status, 200u);
  EXPECT_EQ(client->idle_connections(), 1u);
  // b needs a slot: a's idle connection makes room.
  ASSERT_EQ(send(*client, request(url_to(b.port(), "/ok"))).status, 200u);
  EXPECT_EQ(client->open_connections(), 1u);
  ASSERT_TRUE(run_until([&] { return a.open_connections() == 0; }, 3s));
}

TEST_F(HttpClientTest, TotalLimitMakesOtherHostsWait) {
  Receiver a, b;
  auto o = options();
  o.max_connections = 1;
  auto client = make(o);
  std::optional<HttpResult> ra, rb;
  client->post(request(url_to(a.port(), "/hold")), [&](HttpResult r) { ra = r; });
  client->post(request(url_to(b.port(), "/ok")), [&](HttpResult r) { rb = r; });
  ASSERT_TRUE(run_until([&] { return a.requests_seen() == 1; }));
  EXPECT_EQ(client->waiting_requests(), 1u);
  EXPECT_EQ(b.connections(), 0);
  a.release_held();
  ASSERT_TRUE(run_until([&] { return ra && rb; }));
  EXPECT_EQ(ra->status, 200u);
  EXPECT_EQ(rb->status, 200u);
  EXPECT_LE(client->open_connections(), 1u);
}

TEST_F(HttpClientTest, FullWaitingQueueFailsFast) {
  Receiver rx;
  auto o = options();
  o.max_connections_per_host = 1;
  o.max_waiting = 0;
  auto client = make(o);
  std::optional<HttpResult> first, second;
  client->post(request(url_to(rx.port(), "/hold")), [&](HttpResult r) { first = r; });
  client->post(request(url_to(rx.port(), "/ok")), [&](HttpResult r) { second = r; });
  ASSERT_TRUE(run_until([&] { return second.has_value(); }));
  EXPECT_EQ(second->kind, HttpResult::Kind::connection_error);
  EXPECT_NE(second->error.find("waiting"), std::string::npos);
  rx.release_held();
  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  EXPECT_EQ(first->status, 200u);
}

TEST_F(HttpClientTest, CancelAbandonsAnInFlightRequest) {
  Receiver rx;
  auto client = make(options());
  std::optional<HttpResult> result;
  RequestHandle handle = client->post(request(url_to(rx.port(), "/hang")), [&](HttpResult r) { result = r; });
  EXPECT_TRUE(handle.active());
  ASSERT_TRUE(run_until([&] { return rx.requests_seen() == 1; }));
  handle.cancel();
  EXPECT_FALSE(result) << "the callback never runs inside cancel()";
  EXPECT_FALSE(handle.active());
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_EQ(result->kind, HttpResult::Kind::cancelled);
  EXPECT_EQ(client->open_connections(), 0u);
  handle.cancel();  // harmless afterwards
}

TEST_F(HttpClientTest, CancelWhileWaitingForASlot) {
  Receiver rx;
  auto o = options();
  o.max_connections_per_host = 1;
  auto client = make(o);
  std::optional<HttpResult> first, second;
  client->post(request(url_to(rx.port(), "/hold")), [&](HttpResult r) { first = r; });
  RequestHandle h = client->post(request(url_to(rx.port(), "/ok")), [&](HttpResult r) { second = r; });
  EXPECT_EQ(client->waiting_requests(), 1u);
  h.cancel();
  EXPECT_EQ(client->waiting_requests(), 0u);
  ASSERT_TRUE(run_until([&] { return second.has_value(); }));
  EXPECT_EQ(second->kind, HttpResult::Kind::cancelled);
  rx.release_held();
  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  EXPECT_EQ(first->status, 200u);
  EXPECT_EQ(rx.requests().size(), 1u);
}

TEST_F(HttpClientTest, DestroyingTheClientCancelsEverything) {
  Receiver rx;
  auto client = make(options());
  std::optional<HttpResult> result;
  client->post(request(url_to(rx.port(), "/hang")), [&](HttpResult r) { result = r; });
  ASSERT_TRUE(run_until([&] { return rx.requests_seen() == 1; }));
  client.reset();
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_EQ(result->kind, HttpResult::Kind::cancelled);
}

TEST_F(HttpClientTest, InvalidHeadersAreRefusedBeforeConnecting) {
  Receiver rx;
  auto client = make(options());
  for (const auto& header : std::vector<std::pair<std::string, std::string>>{
           {"X-Evil", "a\r\nInjected: 1"}, {"Bad Name", "x"}, {"Host", "other"}, {"Content-Length", "1"}, {"", "x"}}) {
    auto req = request(url_to(rx.port(), "/ok"));
    req.headers = {header};
    const HttpResult r = send(*client, std::move(req));
    EXPECT_EQ(r.kind, HttpResult::Kind::invalid_request) << header.first;
  }
  EXPECT_TRUE(attempts.empty());
  EXPECT_EQ(rx.connections(), 0);
}

// --- the SSRF guard, on the address actually connected to ---

TEST_F(HttpClientTest, RefusedLiteralAddressIsNeverConnectedTo) {
  Receiver rx;  // listening on 127.0.0.1: a connection would succeed if tried
  auto o = options();
  o.address_policy = AddressPolicy();  // the default: loopback refused too
  auto client = make(o);
  const HttpResult r = send(*client, request(literal_url("127.0.0.1", rx.port())));
  EXPECT_EQ(r.kind, HttpResult::Kind::forbidden_address);
  EXPECT_NE(r.error.find("loopback"), std::string::npos) << r.error;
  EXPECT_TRUE(attempts.empty());
  EXPECT_EQ(rx.connections(), 0);
  EXPECT_EQ(classify(r.outcome(), std::chrono::system_clock::now()).park_reason, DeadLetterReason::forbidden_address);
}

TEST_F(HttpClientTest, PrivateAndMetadataAddressesAreRefusedBeforeConnecting) {
  auto client = make(options());  // allowlist 127.0.0.0/8 only
  for (const char* address : {"10.0.0.1", "169.254.169.254", "192.168.1.1", "::1", "fe80::1", "::ffff:10.0.0.1",
                              "100.64.0.1", "0.0.0.0", "224.0.0.1"}) {
    const auto start = std::chrono::steady_clock::now();
    const HttpResult r = send(*client, request(literal_url(address, 80)));
    EXPECT_EQ(r.kind, HttpResult::Kind::forbidden_address) << address;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "refused at once, not after a connect timeout";
  }
  EXPECT_TRUE(attempts.empty()) << "nothing is ever sent outside loopback";
  EXPECT_EQ(client->open_connections(), 0u);
}

TEST_F(HttpClientTest, NameResolvingToRefusedAddressesIsRefusedAfterDns) {
  auto o = options();
  // A name that resolves (or rebinds) to private and metadata addresses only.
  o.resolve = [](const std::string&, std::uint16_t port, ResolveHandler h) {
    h({}, {tcp::endpoint(asio::ip::make_address("10.0.0.1"), port),
           tcp::endpoint(asio::ip::make_address("169.254.169.254"), port),
           tcp::endpoint(asio::ip::make_address("::1"), port)});
  };
  auto client = make(o);
  WebhookUrl url;
  url.host = "rebind.example";
  url.port = 80;
  const HttpResult r = send(*client, request(url));
  EXPECT_EQ(r.kind, HttpResult::Kind::forbidden_address);
  EXPECT_NE(r.error.find("rebind.example resolves only to refused addresses"), std::string::npos) << r.error;
  EXPECT_TRUE(attempts.empty());
}

TEST_F(HttpClientTest, MixedResolutionConnectsOnlyToPermittedAddresses) {
  Receiver rx;
  auto o = options();
  o.resolve = [&rx](const std::string&, std::uint16_t, ResolveHandler h) {
    h({}, {tcp::endpoint(asio::ip::make_address("10.0.0.1"), rx.port()),
           tcp::endpoint(asio::ip::make_address("169.254.169.254"), rx.port()),
           tcp::endpoint(asio::ip::make_address("127.0.0.1"), rx.port())});
  };
  auto client = make(o);
  WebhookUrl url;
  url.host = "mixed.example";
  url.port = rx.port();
  const HttpResult r = send(*client, request(url));
  ASSERT_EQ(r.kind, HttpResult::Kind::response) << r.error;
  EXPECT_EQ(r.status, 200u);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].address().to_string(), "127.0.0.1");
  EXPECT_EQ(rx.requests().at(0).headers.at("host"), "mixed.example:" + std::to_string(rx.port()));
}

TEST_F(HttpClientTest, SystemResolverLocalhostConnectsOnlyToAllowedLoopback) {
  Receiver rx;
  auto client = make(options());  // 127.0.0.0/8 allowed, ::1 not
  const HttpResult r = send(*client, request(url_to(rx.port(), "/ok", false, "localhost")));
  ASSERT_EQ(r.kind, HttpResult::Kind::response) << r.error;
  ASSERT_FALSE(attempts.empty());
  for (const auto& ep : attempts) EXPECT_TRUE(ep.address().is_v4() && ep.address().to_v4().to_bytes()[0] == 127) << ep;
}

// --- TLS ---

std::shared_ptr<asio::ssl::context> server_tls(const sluice::test::SelfSignedCert& cert) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->use_certificate_chain_file(cert.cert_file);
  ctx->use_private_key_file(cert.key_file, asio::ssl::context::pem);
  return ctx;
}

TEST_F(HttpClientTest, HttpsWithTheTestCaVerifiesAndReusesConnections) {
  sluice::test::SelfSignedCert cert;
  Receiver rx(server_tls(cert));
  auto o = options();
  o.extra_ca_file = cert.cert_file;
  auto client = make(o);
  for (const char* host : {"127.0.0.1", "localhost"}) {
    const HttpResult r = send(*client, request(url_to(rx.port(), "/ok", true, host)));
    ASSERT_EQ(r.kind, HttpResult::Kind::response) << host << ": " << r.error;
    EXPECT_EQ(r.status, 200u);
  }
  const HttpResult again = send(*client, request(url_to(rx.port(), "/fail", true, "localhost")));
  EXPECT_EQ(again.status, 500u);
  EXPECT_TRUE(again.reused_connection);
  EXPECT_EQ(rx.connections(), 2);  // one per origin (127.0.0.1 and localhost)
}

// Clients given one context (as every loop's client is) use its trust store,
// not one of their own: the test CA is in the shared context only.
TEST_F(HttpClientTest, ClientsSharingOneTlsContextTrustItsStore) {
  sluice::test::SelfSignedCert cert;
  Receiver rx(server_tls(cert));
  std::string error;
  auto shared = make_client_tls_context(cert.cert_file, error);
  ASSERT_TRUE(shared) << error;
  auto o = options();
  o.tls = shared;
  auto first = make(o);
  auto second = make(o);
  for (HttpClient* client : {first.get(), second.get()}) {
    const HttpResult r = send(*client, request(url_to(rx.port(), "/ok", true)));
    ASSERT_EQ(r.kind, HttpResult::Kind::response) << r.error;
    EXPECT_EQ(r.status, 200u);
  }
  EXPECT_FALSE(make_client_tls_context("/nonexistent/ca.pem", error));
  EXPECT_NE(error.find("/nonexistent/ca.pem"), std::string::npos);
}

TEST_F(HttpClientTest, HttpsRefusesAnUntrustedCertificate) {
  sluice::test::SelfSignedCert cert;
  Receiver rx(server_tls(cert));
  auto client = make(options());  // system CAs only
  const HttpResult r = send(*client, request(url_to(rx.port(), "/ok", true)));
  EXPECT_EQ(r.kind, HttpResult::Kind::connection_error);
  EXPECT_NE(r.error.find("certificate verify failed"), std::string::npos) << r.error;
  EXPECT_TRUE(rx.requests().empty());
}

TEST_F(HttpClientTest, HttpsRefusesACertificateForAnotherName) {
  sluice::test::SelfSignedCert cert("DNS:other.example");
  Receiver rx(server_tls(cert));
  auto o = options();
  o.extra_ca_file = cert.cert_file;
  auto client = make(o);
  for (const char* host : {"127.0.0.1", "localhost"}) {
    const HttpResult r = send(*client, request(url_to(rx.port(), "/ok", true, host)));
    EXPECT_EQ(r.kind, HttpResult::Kind::connection_error) << host;
    EXPECT_NE(r.error.find("certificate verify failed"), std::string::npos) << r.error;
  }
  EXPECT_TRUE(rx.requests().empty());
}

TEST_F(HttpClientTest, BadOptionsAndCaFileAreCreationErrors) {
  std::string error;
  auto o = options();
  o.extra_ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(HttpClient::create(io, o, error));
  EXPECT_NE(error.find("/nonexistent/ca.pem"), std::string::npos);
  o = options();
  o.max_connections = 0;
  EXPECT_FALSE(HttpClient::create(io, o, error));
  EXPECT_NE(error.find("max connections"), std::string::npos);
}

}  // namespace
