// The HTTP API's contract, route by route (SPEC §3), called directly with
// requests: service and health endpoints, routing errors (404, 405, 426),
// request checks (413, 415, 429), and concurrent use.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "server/http_test_util.hpp"
#include "sluice/auth/api_key.hpp"
#include "sluice/auth/key_ring.hpp"

namespace sluice::test {
namespace {

TEST(HttpApi, RootDescribesTheService) {
  ApiFixture f;
  const auto r = f.get("/");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.raw.content_type, "application/json");
  EXPECT_EQ(r.body.at("service").as_string(), "sluice");
  EXPECT_EQ(r.body.at("version").as_string(), "0.1.0");
  EXPECT_EQ(r.body.at("status").as_string(), "ok");
  const auto& links = r.body.at("links").as_object();
  EXPECT_EQ(links.at("events").as_string(), "/v1/events");
  EXPECT_EQ(links.at("subscriptions").as_string(), "/v1/subscriptions");
  EXPECT_EQ(links.at("health").as_string(), "/health");
  EXPECT_EQ(links.at("ws").as_string(), "/v1/ws");
}

TEST(HttpApi, HealthProbesAnswerOk) {
  ApiFixture f;
  for (const char* path : {"/health", "/ready", "/live"}) {
    const auto r = f.get(path);
    EXPECT_EQ(r.status, 200u) << path;
    EXPECT_EQ(json::serialize(r.body), R"({"status":"ok"})") << path;
  }
}

TEST(HttpApi, ReadyIs503WhileNotReady) {
  ApiFixture f;
  f.api.set_ready(false);
  const auto r = f.get("/ready");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.body.at("status").as_string(), "unavailable");
  EXPECT_EQ(f.get("/live").status, 200u);
  EXPECT_EQ(f.get("/health").status, 200u);
  EXPECT_EQ(f.get("/").body.at("status").as_string(), "unavailable");
  f.api.set_ready(true);
  EXPECT_EQ(f.get("/ready").status, 200u);
}

TEST(HttpApi, UnknownRouteIs404NotFound) {
  ApiFixture f;
  for (const char* path : {"/nope", "/v1", "/v1/eventsx", "/v1/events/a/b", "/v1/subscriptions/x/y", "/v2/events",
                           "/metricsx"}) {
    const auto r = f.get(path);
    EXPECT_EQ(r.status, 404u) << path;
    EXPECT_EQ(r.error(), "not_found") << path;
  }
  EXPECT_EQ(f.post("/nope", "{}").status, 404u);
}

TEST(HttpApi, WrongMethodIs405WithAllow) {
  ApiFixture f;
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c : {Case{"POST", "/", "GET"}, Case{"DELETE", "/health", "GET"}, Case{"PUT", "/v1/events", "GET, POST"},
                        Case{"GET", "/v1/events/batch", "POST"}, Case{"DELETE", "/v1/events/evt_1", "GET"},
                        Case{"PATCH", "/v1/subscriptions", "GET, POST"},
                        Case{"POST", "/v1/subscriptions/sub_1", "GET, DELETE"},
                        Case{"POST", "/v1/subscriptions/sub_1/stream", "GET"}, Case{"POST", "/v1/ws", "GET"}}) {
    const auto r = call(f.api, make_request(c.method, c.path, "{}"));
    EXPECT_EQ(r.status, 405u) << c.method << " " << c.path;
    EXPECT_EQ(r.error(), "method_not_allowed") << c.method << " " << c.path;
    EXPECT_EQ(r.header("Allow"), c.allow) << c.method << " " << c.path;
  }
}

TEST(HttpApi, WebSocketRoutesWithoutAnUpgradeAre426) {
  ApiFixture f;
  auto r = f.get("/v1/ws");
  EXPECT_EQ(r.status, 426u);
  EXPECT_EQ(r.error(), "upgrade_required");
  EXPECT_EQ(r.header("Upgrade"), "websocket");
  const auto created = f.post("/v1/subscriptions", R"({"topic":"a.>"})");
  ASSERT_EQ(created.status, 201u);
  const std::string id(created.body.at("id").as_string());
  r = f.get("/v1/subscriptions/" + id + "/stream");
  EXPECT_EQ(r.status, 426u);
  EXPECT_EQ(r.error(), "upgrade_required");
  r = f.get("/v1/subscriptions/sub_unknown/stream");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.error(), "not_found");
}

TEST(HttpApi, TrailingSlashIsTheSameRoute) {
  ApiFixture f;
  EXPECT_EQ(f.get("/health/").status, 200u);
  EXPECT_EQ(f.get("/v1/subscriptions/").status, 200u);
}

// Unknown query parameters are refused like unknown body fields: ?limt=5
// must not silently give the default page size.
TEST(HttpApi, UnknownQueryParametersAre400NamingThem) {
  ApiFixture f;
  auto r = f.get("/v1/events?topic=a&limt=5");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error(), "bad_request");
  EXPECT_NE(r.message().find("\"limt\""), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("limit"), std::string::npos) << r.message();  // says what is allowed
  r = f.get("/v1/subscriptions?limit=5&cursr=x");
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.message().find("\"cursr\""), std::string::npos) << r.message();
  r = f.post("/v1/events?dry=1", R"({"topic":"a","data":1})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.message().find("\"dry\""), std::string::npos) << r.message();
  EXPECT_EQ(f.get("/v1/events?topic=a").status, 200u);  // nothing was published:
  EXPECT_EQ(f.get("/v1/events?topic=a").body.at("events").as_array().size(), 0u);
  EXPECT_EQ(f.get("/v1/subscriptions/sub_x?verbose=1").status, 400u);
  EXPECT_EQ(f.get("/v1/events/evt_x?x").status, 400u);
  // Every known parameter still works, percent-encoded names included.
  EXPECT_EQ(f.get("/v1/events?topic=a&key=k&limit=5&%73ince=0").status, 200u);
  EXPECT_EQ(f.get("/v1/subscriptions?limit=5").status, 200u);
  EXPECT_EQ(f.get("/health?probe=lb").status, 200u);  // probes take anything (load balancers add cache busters)
}

TEST(HttpApi, BodyOverTheLimitIs413) {
  server::ApiLimits limits;
  limits.max_body_bytes = 100;
  ApiFixture f(limits);
  const std::string big = R"({"topic":"a","data":")" + std::string(100, 'x') + "\"}";
  for (const char* path : {"/v1/events", "/v1/events/batch", "/v1/subscriptions"}) {
    const auto r = f.post(path, big);
    EXPECT_EQ(r.status, 413u) << path;
    EXPECT_EQ(r.error(), "payload_too_large") << path;
  }
  EXPECT_EQ(f.broker.published(), 0u);
  EXPECT_EQ(f.post("/v1/events", R"({"topic":"a","data":1})").status, 201u);
}

TEST(HttpApi, UnsupportedContentTypeIs415) {
  ApiFixture f;
  const std::string body = R"({"topic":"a","data":1})";
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "application/jsonx"}) {
    const auto r = f.post("/v1/events", body, {{"Content-Type", type}});
    EXPECT_EQ(r.status, 415u) << type;
    EXPECT_EQ(r.error(), "unsupported_media_type") << type;
  }
  EXPECT_EQ(f.post("/v1/subscriptions", R"({"topic":"a"})", {{"Content-Type", "text/plain"}}).status, 415u);
  EXPECT_EQ(f.broker.published(), 0u);
  // application/json with parameters, any case, or no Content-Type at all: accepted.
  EXPECT_EQ(f.post("/v1/events", body, {{"content-type", "Application/JSON; charset=utf-8"}}).status, 201u);
  EXPECT_EQ(f.post("/v1/events", body, {}).status, 201u);
}

TEST(HttpApi, RateLimitIs429WithRetryAfterPerClientIp) {
  server::ApiLimits limits;
  limits.rate_per_second = 2;
  limits.rate_burst = 3;
  ApiFixture f(limits);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.get("/v1/subscriptions", "10.0.0.1").status, 200u) << i;
  auto r = f.get("/v1/subscriptions", "10.0.0.1");
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.error(), "rate_limited");
  EXPECT_EQ(r.header("Retry-After"), "1");
  // Another client has its own bucket; probes are never limited.
  EXPECT_EQ(f.get("/v1/subscriptions", "10.0.0.2").status, 200u);
  EXPECT_EQ(f.get("/health", "10.0.0.1").status, 200u);
  // Half a second refills one token.
  f.clock.advance(500);
  EXPECT_EQ(f.get("/v1/subscriptions", "10.0.0.1").status, 200u);
  EXPECT_EQ(f.get("/v1/subscriptions", "10.0.0.1").status, 429u);
  // A long pause refills up to the burst, not beyond.
  f.clock.advance(60'000);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.get("/v1/subscriptions", "10.0.0.1").status, 200u) << i;
  EXPECT_EQ(f.get("/v1/subscriptions", "10.0.0.1").status, 429u);
}

TEST(HttpApi, RateLimitRetryAfterRoundsUpToWholeSeconds) {
  server::ApiLimits limits;
  limits.rate_per_second = 0.2;  // one request per 5 s
  ApiFixture f(limits);
  EXPECT_EQ(f.get("/", "10.0.0.9").status, 200u);
  const auto r = f.get("/", "10.0.0.9");
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.header("Retry-After"), "5");
}

TEST(HttpApi, RateLimitTracksABoundedNumberOfClients) {
  server::ApiLimits limits;
  limits.rate_per_second = 1;
  limits.max_rate_clients = 8;
  ApiFixture f(limits);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(f.get("/", "10.1.0." + std::to_string(i)).status, 200u);
}

TEST(HttpApi, HandlerAdapterCallsHandle) {
  ApiFixture f;
  auto handler = f.api.handler();
  std::optional<HttpResponse> got;
  handler(make_request("GET", "/live"), [&](HttpResponse r) { got = std::move(r); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200u);
}

// Every route at once from several threads (run under TSan): each request
// gets exactly one answer and the shared state stays consistent.
TEST(HttpApi, ConcurrentRequestsFromSeveralThreads) {
  server::ApiLimits limits;
  limits.rate_per_second = 1e6;  // exercise the limiter's lock too
  ApiFixture f(limits);
  constexpr int kThreads = 4;
  constexpr int kRounds = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string topic = "c." + std::to_string(t);
      for (int i = 0; i < kRounds; ++i) {
        auto check = [&](const Reply& r, unsigned want) {
          if (r.status != want) failures.fetch_add(1);
        };
        check(f.post("/v1/events", json::object{{"topic", topic}, {"data", i}}), 201);
        const auto keyed = f.post("/v1/events", json::object{{"topic", "shared"}, {"data", i},
                                                             {"idempotencyKey", "k" + std::to_string(i)}});
        if (keyed.status != 201 && keyed.status != 200) failures.fetch_add(1);
        check(f.post("/v1/events/batch",
                     json::object{{"events", json::array{json::object{{"topic", topic}, {"data", 1}},
                                                         json::object{{"topic", topic}, {"data", 2}}}}}),
              201);
        check(f.get("/v1/events?topic=" + topic + "&limit=5"), 200);
        const auto sub = f.post("/v1/subscriptions", json::object{{"topic", topic}});
        check(sub, 201);
        if (sub.status == 201) {
          const std::string id(sub.body.at("id").as_string());
          check(f.get("/v1/subscriptions/" + id), 200);
          check(f.del("/v1/subscriptions/" + id), 204);
        }
        check(f.get("/v1/subscriptions?limit=3"), 200);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  // Four threads used each idempotency key: each was published once.
  const auto shared = f.get("/v1/events?topic=shared&limit=1000");
  ASSERT_EQ(shared.status, 200u);
  EXPECT_EQ(shared.body.at("events").as_array().size(), static_cast<std::size_t>(kRounds));
  EXPECT_EQ(f.registry.size(), 0u);
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

// A key ring with one key per scope; the keys themselves, by name.
struct Keys {
  std::map<std::string, std::string> secret;
  auth::KeyRingSlot slot;
  Keys() {
    std::vector<auth::KeyEntry> entries;
    for (const auto& [name, scope] : {std::pair{"pub", auth::Scope::publish}, std::pair{"reader", auth::Scope::read},
                                      std::pair{"root", auth::Scope::admin}}) {
      const std::string key = *auth::generate_api_key();
      secret[name] = key;
      entries.push_back({name, auth::Scopes(scope), *auth::hash_api_key(key), 0});
    }
    slot.set(std::make_shared<const auth::KeyRing>(std::move(entries)));
  }
  std::vector<std::pair<std::string, std::string>> bearer(const std::string& name, bool json_body = false) {
    std::vector<std::pair<std::string, std::string>> h{{"Authorization", "Bearer " + secret.at(name)}};
    if (json_body) h.emplace_back("Content-Type", "application/json");
    return h;
  }
};

Reply send(ApiFixture& f, const std::string& method, const std::string& target, const std::string& body,
           std::vector<std::pair<std::string, std::string>> headers) {
  return call(f.api, make_request(method, target, body, std::move(headers)));
}

// Issue #13: with a keys file, every route but / and the probes needs a key
// with its scope; 401 says WWW-Authenticate, 403 names the missing scope,
// and no answer repeats the key.
TEST(HttpApiKeys, EachRouteNeedsItsScope) {
  Keys keys;
  ApiFixture f;
  f.api.require_keys(keys.slot);
  EXPECT_EQ(f.get("/").status, 200u);
  EXPECT_EQ(f.get("/health").status, 200u);
  auto r = f.post("/v1/events", R"({"topic":"k.t","data":1})");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.error(), "unauthorized");
  EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer");
  r = send(f, "POST", "/v1/events", R"({"topic":"k.t","data":1})", {{"Authorization", "Bearer sk_wrong"}});
  EXPECT_EQ(r.status, 401u);
  EXPECT_NE(r.header("WWW-Authenticate").find("invalid_token"), std::string::npos);
  // The right prefix and length, the wrong secret.
  std::string forged = keys.secret["root"];
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(send(f, "GET", "/v1/subscriptions", "", {{"Authorization", "Bearer " + forged}}).status, 401u);
  r = send(f, "POST", "/v1/events", R"({"topic":"k.t","data":1})", keys.bearer("reader", true));
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.error(), "forbidden");
  EXPECT_NE(r.message().find("publish scope"), std::string::npos) << r.message();
  EXPECT_EQ(r.message().find(keys.secret["reader"]), std::string::npos);
  EXPECT_EQ(f.broker.published(), 0u);  // nothing refused was published

  EXPECT_EQ(send(f, "POST", "/v1/events", R"({"topic":"k.t","data":1})", keys.bearer("pub", true)).status, 201u);
  EXPECT_EQ(send(f, "POST", "/v1/events/batch", R"({"events":[{"topic":"k.t","data":2}]})", keys.bearer("pub", true)).status,
            201u);
  EXPECT_EQ(send(f, "GET", "/v1/events?topic=k.t", "", keys.bearer("pub")).status, 403u);
  EXPECT_EQ(send(f, "GET", "/v1/events?topic=k.t", "", keys.bearer("reader")).status, 200u);
  EXPECT_EQ(send(f, "GET", "/v1/events/evt_x", "", {}).status, 401u);
  EXPECT_EQ(send(f, "GET", "/v1/subscriptions", "", keys.bearer("reader")).status, 200u);
  const std::string sub = R"({"topic":"k.>"})";
  EXPECT_EQ(send(f, "POST", "/v1/subscriptions", sub, keys.bearer("reader", true)).status, 403u);
  EXPECT_EQ(send(f, "POST", "/v1/subscriptions", sub, keys.bearer("pub", true)).status, 403u);
  r = send(f, "POST", "/v1/subscriptions", sub, keys.bearer("root", true));
  ASSERT_EQ(r.status, 201u);
  const std::string id(r.body.at("id").as_string());
  EXPECT_EQ(send(f, "GET", "/v1/subscriptions/" + id, "", keys.bearer("reader")).status, 200u);
  EXPECT_EQ(send(f, "DELETE", "/v1/subscriptions/" + id, "", keys.bearer("reader")).status, 403u);
  EXPECT_EQ(send(f, "DELETE", "/v1/subscriptions/" + id, "", {}).status, 401u);
  EXPECT_EQ(send(f, "DELETE", "/v1/subscriptions/" + id, "", keys.bearer("root")).status, 204u);
  // admin allows everything.
  EXPECT_EQ(send(f, "POST", "/v1/events", R"({"topic":"k.t","data":3})", keys.bearer("root", true)).status, 201u);
  EXPECT_EQ(send(f, "GET", "/v1/events?topic=k.t", "", keys.bearer("root")).status, 200u);
}

// A reload swaps the whole ring: a revoked key is refused from then on.
TEST(HttpApiKeys, AReloadedRingAppliesToTheNextRequest) {
  Keys keys;
  ApiFixture f;
  f.api.require_keys(keys.slot);
  EXPECT_EQ(send(f, "GET", "/v1/subscriptions", "", keys.bearer("reader")).status, 200u);
  keys.slot.set(std::make_shared<const auth::KeyRing>(std::vector<auth::KeyEntry>{}));
  EXPECT_EQ(send(f, "GET", "/v1/subscriptions", "", keys.bearer("reader")).status, 401u);
}

// Issue #13, limits per client: requests per API key, counted once the key
// is valid; 429 with Retry-After names the key, never its secret.
TEST(HttpApiKeys, KeyRateLimitIs429NamingTheKey) {
  Keys keys;
  server::ApiLimits limits;
  limits.key_rate_per_second = 1;
  limits.key_rate_burst = 2;
  ApiFixture f(limits);
  f.api.require_keys(keys.slot);
  // Bad credentials are refused before the limit and take nothing from it.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(send(f, "GET", "/v1/subscriptions", "", {}).status, 401u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(send(f, "POST", "/v1/events", R"({"topic":"k.t","data":1})", keys.bearer("pub", true)).status, 201u);
  }
  auto r = send(f, "POST", "/v1/events", R"({"topic":"k.t","data":1})", keys.bearer("pub", true));
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.error(), "rate_limited");
  EXPECT_EQ(r.header("Retry-After"), "1");
  EXPECT_NE(r.message().find("API key \"pub\""), std::string::npos) << r.message();
  EXPECT_EQ(r.message().find(keys.secret["pub"]), std::string::npos);
  EXPECT_EQ(f.broker.published(), 2u);
  EXPECT_EQ(f.api.refused_by_key_rate(), 1u);
  EXPECT_EQ(f.api.refused_by_ip_rate(), 0u);
  // Another key has its own bucket, though the client IP is the same.
  EXPECT_EQ(send(f, "GET", "/v1/subscriptions", "", keys.bearer("reader")).status, 200u);
  // A second refills one request.
  f.clock.advance(1'000);
  EXPECT_EQ(send(f, "GET", "/v1/events?topic=k.t", "", keys.bearer("root")).status, 200u);
  EXPECT_EQ(send(f, "POST", "/v1/events", R"({"topic":"k.t","data":1})", keys.bearer("pub", true)).status, 201u);
  EXPECT_EQ(send(f, "POST", "/v1/events", R"({"topic":"k.t","data":1})", keys.bearer("pub", true)).status, 429u);
  // Open routes take no key and so no token.
  EXPECT_EQ(f.get("/").status, 200u);
}

// Every authenticated request costs its key a token, one its scope does not
// allow (403) too: a key hammering the wrong route is still limited.
TEST(HttpApiKeys, KeyRateLimitCountsRequestsTheScopeRefuses) {
  Keys keys;
  server::ApiLimits limits;
  limits.key_rate_per_second = 0.5;  // burst: max(1, rate) = 1
  ApiFixture f(limits);
  f.api.require_keys(keys.slot);
  EXPECT_EQ(send(f, "POST", "/v1/subscriptions", R"({"topic":"k.>"})", keys.bearer("reader", true)).status, 403u);
  const auto r = send(f, "GET", "/v1/subscriptions", "", keys.bearer("reader"));
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.header("Retry-After"), "2");
}

// Without keys required, there is no key to count: the setting does nothing.
TEST(HttpApiKeys, KeyRateLimitNeedsKeys) {
  server::ApiLimits limits;
  limits.key_rate_per_second = 0.001;
  ApiFixture f(limits);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.get("/v1/subscriptions").status, 200u);
  EXPECT_EQ(f.api.refused_by_key_rate(), 0u);
}

// Topics per server: a publish creating a topic past the broker's limit is
// 507 too_many_topics, alone or in a batch; existing topics go on.
TEST(HttpApiLimits, PublishToANewTopicPastMaxTopicsIs507) {
  ApiFixture f;
  f.broker.set_max_topics(1);
  EXPECT_EQ(f.post("/v1/events", R"({"topic":"t.one","data":1})").status, 201u);
  auto r = f.post("/v1/events", R"({"topic":"t.two","data":1})");
  EXPECT_EQ(r.status, 507u);
  EXPECT_EQ(r.error(), "too_many_topics");
  EXPECT_NE(r.message().find("max-topics"), std::string::npos) << r.message();
  EXPECT_TRUE(r.header("Retry-After").empty());
  EXPECT_EQ(f.post("/v1/events", R"({"topic":"t.one","data":2})").status, 201u);
  r = f.post("/v1/events/batch", R"({"events":[{"topic":"t.one","data":3},{"topic":"t.three","data":1},{"topic":"t.one","data":4}]})");
  EXPECT_EQ(r.status, 507u);
  EXPECT_EQ(r.error(), "too_many_topics");
  EXPECT_NE(r.message().find("2 of 3 events were not published (events[1], events[2])"), std::string::npos)
      << r.message();
  EXPECT_EQ(f.broker.topics_refused(), 2u);
  EXPECT_EQ(f.broker.published(), 3u);
  // A refused idempotent publish is not remembered as published: the same
  // key publishes once there is room.
  const std::string keyed = R"({"topic":"t.four","data":1,"idempotencyKey":"once"})";
  EXPECT_EQ(f.post("/v1/events", keyed).status, 507u);
  f.broker.set_max_topics(2);
  EXPECT_EQ(f.post("/v1/events", keyed).status, 201u);
}

// The per-IP limit's refusals are counted for metrics.
TEST(HttpApiLimits, IpRateRefusalsAreCounted) {
  server::ApiLimits limits;
  limits.rate_per_second = 1;
  ApiFixture f(limits);
  EXPECT_EQ(f.get("/", "10.0.0.1").status, 200u);
  EXPECT_EQ(f.get("/", "10.0.0.1").status, 429u);
  EXPECT_EQ(f.get("/", "10.0.0.1").status, 429u);
  EXPECT_EQ(f.api.refused_by_ip_rate(), 2u);
}

}  // namespace
}  // namespace sluice::test
