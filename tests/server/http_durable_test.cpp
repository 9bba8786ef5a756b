// The HTTP API over the durable path (SQLite store + group-commit log, as
// `sluice serve --data-dir` runs it): a publish is answered once durable,
// from the log's writer thread; a busy store is a 503, not a hang; history
// and lookups by id reach past in-memory history and across a restart;
// subscriptions persist in SQLite.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "server/subscription_test_util.hpp"
#include "server/http_test_util.hpp"
#include "server/server_harness.hpp"
#include "store/store_test_util.hpp"

namespace sluice::test {
namespace {

using store::testing::open_or_fail;
using store::testing::TempDir;

// A store, its log and a broker publishing through it, restored from the
// store as the server does at start.
struct DurableFixture {
  explicit DurableFixture(const std::string& dir, std::size_t max_pending_bytes = 64 * 1024 * 1024,
                          broker::HistoryLimits history = {})
      : store(open_or_fail(dir)),
        log(*store, max_pending_bytes),
        broker([](const broker::EventPtr&) {}, history, &log),
        subscription_store(*store),
        registry(&subscription_store),
        api(broker, registry, store.get()) {
    broker.restore(store->load_positions(), store->load_recent(history.max_events, 0));
    registry.load();
  }
  ~DurableFixture() { log.stop(); }

  Reply get(const std::string& target) { return call(api, make_request("GET", target)); }
  Reply post(const std::string& target, const json::value& body) {
    return call(api, make_request("POST", target, json::serialize(body)));
  }
  Reply post_text(const std::string& target, const std::string& body) {
    return call(api, make_request("POST", target, body));
  }

  std::unique_ptr<store::EventStore> store;
  store::GroupCommitLog log;
  broker::Broker broker;
  engine::StoreSubscriptions subscription_store;
  server::SubscriptionRegistry registry;
  server::HttpApi api;
};

TEST(HttpApiDurable, PublishIsAnsweredOnceTheEventIsStored) {
  TempDir dir;
  DurableFixture f(dir.str());
  const auto r = f.post("/v1/events", json::object{{"topic", "d.a"}, {"data", {{"n", 1}}}, {"key", "k"}});
  ASSERT_EQ(r.status, 201u) << json::serialize(r.body);
  const std::string id(r.body.at("id").as_string());
  const auto stored = f.store->find(id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->topic, "d.a");
  EXPECT_EQ(stored->offset, 1u);
  EXPECT_EQ(stored->key, "k");
  EXPECT_EQ(stored->data, R"({"n":1})");
  EXPECT_EQ(f.get("/v1/events/" + id).status, 200u);
}

TEST(HttpApiDurable, BatchIsStoredInRequestOrder) {
  TempDir dir;
  DurableFixture f(dir.str());
  json::array events;
  for (int i = 0; i < 50; ++i) events.push_back(event_body(i % 2 ? "b.odd" : "b.even", i));
  const auto r = f.post("/v1/events/batch", json::object{{"events", events}});
  ASSERT_EQ(r.status, 201u) << json::serialize(r.body);
  for (const char* topic : {"b.odd", "b.even"}) {
    const auto stored = f.store->read(topic, 0, 100);
    ASSERT_EQ(stored.size(), 25u);
    for (std::size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i].offset, i + 1);
  }
  const auto& results = r.body.at("events").as_array();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(results[i].at("offset").as_int64(), i / 2 + 1);
}

// Publishers on several threads, single and batch, keyed and not: each gets
// one answer, from whichever thread completes it (TSan).
TEST(HttpApiDurable, ConcurrentPublishersEachGetOneAnswer) {
  TempDir dir;
  DurableFixture f(dir.str());
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const auto a = f.post("/v1/events", json::object{{"topic", "c.x"}, {"data", i}, {"idempotencyKey", "k" + std::to_string(i)}});
        if (a.status != 201 && a.status != 200) bad.fetch_add(1);
        const auto b = f.post("/v1/events/batch", json::object{{"events", json::array{event_body("c." + std::to_string(t), i),
                                                                                       event_body("c." + std::to_string(t), i)}}});
        if (b.status != 201) bad.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(f.store->read("c.x", 0, 1000).size(), 40u);  // one per key
  for (int t = 0; t < 4; ++t) EXPECT_EQ(f.store->read("c." + std::to_string(t), 0, 1000).size(), 80u);
}

TEST(HttpApiDurable, BusyStoreIs503WithRetryAfterAndReleasesTheKey) {
  TempDir dir;
  DurableFixture f(dir.str(), /*max_pending_bytes=*/1);  // the log refuses every event
  auto r = f.post("/v1/events", event_body("busy", 1));
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.error(), "store_busy");
  EXPECT_EQ(r.header("Retry-After"), "1");
  const json::object keyed{{"topic", "busy"}, {"data", 1}, {"idempotencyKey", "k"}};
  EXPECT_EQ(f.post("/v1/events", keyed).status, 503u);
  EXPECT_EQ(f.post("/v1/events", keyed).status, 503u);  // not "in flight" forever, not a 200
  r = f.post("/v1/events/batch", json::object{{"events", json::array{event_body("busy", 1), keyed, event_body("busy", 3)}}});
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.error(), "store_busy");
  EXPECT_NE(r.message().find("3 of 3 events were not published (events[0], events[1], events[2])"), std::string::npos)
      << r.message();
  EXPECT_EQ(f.post("/v1/events", keyed).status, 503u);
  EXPECT_TRUE(f.get("/v1/events?topic=busy").body.at("events").as_array().empty());
}

// While the first publish with a key waits for its commit, handle() has
// already returned; repeats of the key wait for it and get its answer: the
// same result (other content: 409), or the same 503 if it failed.
TEST(HttpApiDurable, RepeatWhileTheFirstIsBeingStoredGetsItsAnswer) {
  for (const bool fail : {false, true}) {
    SCOPED_TRACE(fail ? "the commit fails" : "the commit succeeds");
    store::testing::ScriptedStore store;
    store::testing::Gate gate;
    store.on_append = [&](std::span<const store::StoredEvent>) {
      gate.arrive_and_wait();
      return fail ? std::make_error_code(std::errc::io_error) : std::error_code{};
    };
    store::GroupCommitLog log(store);
    broker::Broker broker([](const broker::EventPtr&) {}, {}, &log);
    server::SubscriptionRegistry registry(nullptr);
    server::HttpApi api(broker, registry, &store);
    const std::string body = R"({"topic":"w","data":1,"idempotencyKey":"k"})";
    std::promise<HttpResponse> first, repeat, other;
    api.handle(make_request("POST", "/v1/events", body), [&](HttpResponse r) { first.set_value(std::move(r)); });
    gate.wait_arrived();  // the writer holds the first event
    api.handle(make_request("POST", "/v1/events", body), [&](HttpResponse r) { repeat.set_value(std::move(r)); });
    api.handle(make_request("POST", "/v1/events", R"({"topic":"w","data":2,"idempotencyKey":"k"})"),
               [&](HttpResponse r) { other.set_value(std::move(r)); });
    auto f1 = first.get_future(), f2 = repeat.get_future(), f3 = other.get_future();
    EXPECT_EQ(f1.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
    EXPECT_EQ(f2.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
    gate.open();
    const Reply a = to_reply(f1.get()), b = to_reply(f2.get()), c = to_reply(f3.get());
    if (!fail) {
      EXPECT_EQ(a.status, 201u);
      EXPECT_EQ(b.status, 200u);
      EXPECT_EQ(b.body, a.body);
      EXPECT_EQ(c.status, 409u);
      EXPECT_EQ(c.error(), "idempotency_conflict");
      EXPECT_EQ(store.appended().size(), 1u);
    } else {
      for (const Reply* r : {&a, &b, &c}) {
        EXPECT_EQ(r->status, 503u);
        EXPECT_EQ(r->error(), "store_unavailable");
      }
    }
    log.stop();
  }
}

TEST(HttpApiDurable, HistoryAndLookupsReachPastMemoryAndAcrossARestart) {
  TempDir dir;
  broker::HistoryLimits history;
  history.max_events = 5;
  std::string first_id;
  {
    DurableFixture f(dir.str(), 64 * 1024 * 1024, history);
    for (int i = 0; i < 30; ++i) {
      const auto r = f.post("/v1/events", json::object{{"topic", "r.t"}, {"data", i}, {"key", i % 2 ? "odd" : "even"}});
      ASSERT_EQ(r.status, 201u);
      if (i == 0) first_id = std::string(r.body.at("id").as_string());
    }
  }
  DurableFixture f(dir.str(), 64 * 1024 * 1024, history);  // a restart over the same directory
  ASSERT_EQ(f.broker.history("r.t", 0, 100).size(), 5u);
  std::vector<std::int64_t> offsets;
  std::string cursor;
  for (int page = 0; page < 20; ++page) {
    const auto r = f.get("/v1/events?topic=r.t&limit=7" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200u);
    for (const auto& e : r.body.at("events").as_array()) offsets.push_back(e.at("offset").as_int64());
    if (r.body.at("nextCursor").is_null()) break;
    cursor = std::string(r.body.at("nextCursor").as_string());
  }
  ASSERT_EQ(offsets.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(offsets[i], i + 1);
  // By key, by pattern: the store too.
  auto r = f.get("/v1/events?topic=r.%3E&key=even&limit=100");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.body.at("events").as_array().size(), 15u);
  // The first event is long out of memory: found in the store.
  r = f.get("/v1/events/" + first_id);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.body.at("offset").as_int64(), 1);
  EXPECT_EQ(r.body.at("data").as_int64(), 0);
  // Offsets continue.
  r = f.post("/v1/events", event_body("r.t", 30));
  ASSERT_EQ(r.status, 201u);
  EXPECT_EQ(r.body.at("offset").as_int64(), 31);
}

TEST(HttpApiDurable, SubscriptionsSurviveARestartInSqlite) {
  TempDir dir;
  std::string kept_json, kept_id, deleted_id;
  {
    DurableFixture f(dir.str());
    auto r = f.post("/v1/subscriptions",
                    json::parse(R"({"topics":["p.*"],"filter":[{"field":"data.n","op":">=","value":2}],
                                    "webhook":{"url":"https://h.test/x"}})"));
    ASSERT_EQ(r.status, 201u);
    kept_id = std::string(r.body.at("id").as_string());
    json::value shown = r.body;
    shown.as_object()["webhook"].as_object().erase("secret");  // generated, shown in the 201 only
    kept_json = json::serialize(shown);
    r = f.post("/v1/subscriptions", json::object{{"topic", "q"}});
    ASSERT_EQ(r.status, 201u);
    deleted_id = std::string(r.body.at("id").as_string());
    ASSERT_EQ(call(f.api, make_request("DELETE", "/v1/subscriptions/" + deleted_id)).status, 204u);
  }
  DurableFixture f(dir.str());
  EXPECT_EQ(f.registry.size(), 1u);
  const auto r = f.get("/v1/subscriptions/" + kept_id);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(json::serialize(r.body), kept_json);
  EXPECT_EQ(f.get("/v1/subscriptions/" + deleted_id).status, 404u);
  EXPECT_EQ(f.registry.matching("p.1", "", "", json::parse(R"({"n":3})")).size(), 1u);
  EXPECT_EQ(f.registry.matching("p.1", "", "", json::parse(R"({"n":1})")).size(), 0u);
}

// A number a double cannot hold was acknowledged (201 with -Infinity, not
// JSON), then lost on restart; 1e-400 came back as 0 and matched x == 0.
TEST(HttpApiDurable, FilterNumbersADoubleCannotHoldAreRefusedAndTheOthersSurviveARestart) {
  TempDir dir;
  std::string kept_json, kept_id;
  {
    DurableFixture f(dir.str());
    for (const std::string value : {"1E400", "-1e400", "1e-400", "[1,2e999]"}) {
      const auto r = f.post_text("/v1/subscriptions",
                                 R"({"topic":"m.>","filter":[{"field":"data.x","op":"==","value":)" + value + "}]}");
      EXPECT_EQ(r.status, 400u) << value;
      EXPECT_EQ(r.error(), "invalid_filter") << value;
      EXPECT_NE(r.message().find("beyond the range of a double"), std::string::npos) << r.message();
    }
    const auto hook = f.post_text("/v1/subscriptions", R"({"topic":"m.>","webhook":{"url":"https://h.test","n":1e400}})");
    EXPECT_EQ(hook.status, 400u);
    // A string that looks like such a number is a string.
    auto r = f.post_text("/v1/subscriptions", R"({"topic":"m.>","filter":{"any":[
        {"field":"data.x","op":"==","value":1e-300},{"field":"data.s","op":"==","value":"1e-400"}]}})");
    ASSERT_EQ(r.status, 201u) << json::serialize(r.body);
    kept_id = std::string(r.body.at("id").as_string());
    kept_json = json::serialize(r.body);
    EXPECT_EQ(f.store->load_subscriptions().size(), 1u);
  }
  DurableFixture f(dir.str());
  EXPECT_EQ(f.registry.size(), 1u);
  const auto r = f.get("/v1/subscriptions/" + kept_id);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(json::serialize(r.body), kept_json);
  EXPECT_EQ(f.registry.matching("m.a", "", "", json::parse(R"({"x":0})")).size(), 0u);
  EXPECT_EQ(f.registry.matching("m.a", "", "", json::parse(R"({"x":1e-300})")).size(), 1u);
  EXPECT_EQ(f.registry.matching("m.a", "", "", json::parse(R"({"s":"1e-400"})")).size(), 1u);
}

// A stored subscription that cannot be loaded is reported by the server (and
// logged by `sluice serve`), and stays in the store.
TEST(HttpApiDurable, AStoredSubscriptionThatCannotBeLoadedIsReportedAtStart) {
  TempDir dir;
  {
    auto store = open_or_fail(dir.str());
    ASSERT_FALSE(store->put_subscription({"sub_bad", R"({"id":"sub_bad","topics":["m.>"],)"
                                                     R"("filter":{"all":[{"field":"data.x","op":"==","value":-Infinity}]},"createdMs":1})"}));
    ASSERT_FALSE(store->put_subscription({"sub_good", R"({"id":"sub_good","topics":["m.>"],"createdMs":1})"}));
  }
  auto settings = test_settings();
  settings.store = "sqlite";
  settings.data_dir = dir.str();
  TestServer server(settings);
  ASSERT_EQ(server.server->load_errors().size(), 1u);
  EXPECT_NE(server.server->load_errors()[0].find("sub_bad"), std::string::npos) << server.server->load_errors()[0];
  EXPECT_TRUE(server.server->subscriptions().get("sub_good"));
  EXPECT_EQ(server.server->event_store()->load_subscriptions().size(), 2u);
}

}  // namespace
}  // namespace sluice::test
