// Subscriptions (SPEC §3, §1.5): the HTTP resource (create, list, get with
// counters, delete then 404), the registry behind it (matching, counters,
// persistence through the EventStore, the on_removed hook), and its behaviour
// under concurrent create/delete and a delete racing record_match.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "server/subscription_test_util.hpp"
#include "server/http_test_util.hpp"
#include "sluice/topic/topic.hpp"

namespace sluice::test {
namespace {

std::string create(ApiFixture& f, const json::value& body) {
  const auto r = f.post("/v1/subscriptions", body);
  EXPECT_EQ(r.status, 201u) << json::serialize(r.body);
  return r.status == 201 ? std::string(r.body.at("id").as_string()) : std::string();
}

TEST(Subscriptions, CreateReturns201WithTheResource) {
  ApiFixture f;
  const auto r = f.post("/v1/subscriptions", R"({
      "topics": ["payments.*", "refunds.>", "payments.*"],
      "filter": [{"field": "data.amount", "op": ">", "value": 100}],
      "webhook": {"url": "https://example.com/hook"}})");
  ASSERT_EQ(r.status, 201u) << json::serialize(r.body);
  const auto& o = r.body.as_object();
  const std::string id(o.at("id").as_string());
  EXPECT_TRUE(id.starts_with("sub_"));
  EXPECT_EQ(id.size(), 28u);
  EXPECT_EQ(r.header("Location"), "/v1/subscriptions/" + id);
  EXPECT_EQ(json::serialize(o.at("topics")), R"(["payments.*","refunds.>"])");  // deduplicated
  // The filter in its canonical form (docs/filters.md).
  EXPECT_EQ(json::serialize(o.at("filter")), R"({"all":[{"field":"data.amount","op":">","value":100}]})");
  // No secret was given: one is generated and shown in this answer only.
  const std::string secret(o.at("webhook").at("secret").as_string());
  EXPECT_TRUE(secret.starts_with("whsec_")) << secret;
  EXPECT_EQ(secret.size(), 6u + 44u);  // base64 of 32 bytes
  json::value without_secret = r.body;
  without_secret.as_object()["webhook"].as_object().erase("secret");
  EXPECT_EQ(json::serialize(without_secret.at("webhook")), R"({"url":"https://example.com/hook"})");
  EXPECT_TRUE(o.at("createdAt").as_string().ends_with("Z"));
  EXPECT_EQ(o.at("createdAt").as_string(), "2027-01-15T08:00:00.000Z");  // the fake clock
  const auto& counters = o.at("counters").as_object();
  EXPECT_EQ(counters.at("eventsMatched").as_int64(), 0);
  EXPECT_TRUE(counters.at("lastEventAt").is_null());
  EXPECT_EQ(counters.at("attachedStreams").as_int64(), 0);
  EXPECT_EQ(o.at("links").at("stream").as_string(), "/v1/subscriptions/" + id + "/stream");
  EXPECT_EQ(o.at("links").at("self").as_string(), "/v1/subscriptions/" + id);
  // GET gives the same resource, without the secret.
  const auto got = f.get("/v1/subscriptions/" + id);
  ASSERT_EQ(got.status, 200u);
  EXPECT_EQ(got.body, without_secret);
}

TEST(Subscriptions, OneTopicAndNoFilter) {
  ApiFixture f;
  const auto r = f.post("/v1/subscriptions", R"({"topic":"orders.eu","filter":null})");
  ASSERT_EQ(r.status, 201u);
  EXPECT_EQ(json::serialize(r.body.at("topics")), R"(["orders.eu"])");
  EXPECT_TRUE(r.body.at("filter").is_null());
  EXPECT_TRUE(r.body.at("webhook").is_null());
}

TEST(Subscriptions, WebhookSecretIsWriteOnly) {
  MemoryStore store;
  ApiFixture f({}, &store);
  const auto r = f.post("/v1/subscriptions", R"({"topic":"a","webhook":{"url":"https://x.test/h","secret":"s3cr3t"}})");
  ASSERT_EQ(r.status, 201u);
  EXPECT_EQ(r.body.at("webhook").as_object().size(), 1u);
  EXPECT_EQ(f.get("/v1/subscriptions/" + std::string(r.body.at("id").as_string())).body.at("webhook").as_object().count("secret"), 0u);
  // ...but it is stored, for the webhook sender.
  const auto stored = store.load_subscriptions();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_NE(stored[0].json.find("s3cr3t"), std::string::npos);
}

TEST(Subscriptions, CreateErrors) {
  ApiFixture f;
  struct Case {
    const char* body;
    const char* error;
    const char* mentions;
  };
  for (const Case& c : {
           Case{"", "invalid_json", "empty"},
           Case{"{\"topic\":", "invalid_json", "JSON"},
           Case{"[]", "bad_request", "object"},
           Case{"{}", "bad_request", "\"topics\" is required"},
           Case{R"({"topic":"a","topics":["b"]})", "bad_request", "not both"},
           Case{R"({"topics":"a"})", "bad_request", "\"topics\" must be an array"},
           Case{R"({"topics":[]})", "bad_request", "must not be empty"},
           Case{R"({"topics":["a",7]})", "bad_request", "topics[1] must be a string"},
           Case{R"({"topic":7})", "bad_request", "\"topic\" must be a string"},
           Case{R"({"topics":["a","b..c"]})", "invalid_topic", "topics[1]"},
           Case{R"({"topic":"a.>.b"})", "invalid_topic", "a.>.b"},
           Case{R"({"topic":"a","filter":{"all":[{"field":"type","op":"=>","value":"x"}]}})", "invalid_filter",
                "filter.all[0].op: unknown operator \"=>\""},
           Case{R"({"topic":"a","filter":"type == x"})", "invalid_filter", "filter"},
           Case{R"({"topic":"a","webhook":"https://x"})", "bad_request", "\"webhook\" must be an object"},
           Case{R"({"topic":"a","hook":{}})", "bad_request", "unknown field \"hook\""},
           // Webhooks (issue #14): checked at creation, with clear messages.
           Case{R"({"topic":"a","webhook":{}})", "invalid_webhook", "webhook.url is required"},
           Case{R"({"topic":"a","webhook":{"url":"ftp://x.test/h"}})", "invalid_webhook", "webhook.url"},
           Case{R"({"topic":"a","webhook":{"url":"http://127.0.0.1:9/h"}})", "invalid_webhook", "loopback"},
           Case{R"({"topic":"a","webhook":{"url":"http://169.254.169.254/latest"}})", "invalid_webhook", "link-local"},
           Case{R"({"topic":"a","webhook":{"url":"http://[::ffff:10.0.0.1]/"}})", "invalid_webhook", "10.0.0.1"},
           Case{R"({"topic":"a","webhook":{"url":"http://localhost/"}})", "invalid_webhook", "loopback"},
           Case{R"({"topic":"a","webhook":{"url":"https://x.test/","secret":""}})", "invalid_webhook", "webhook.secret"},
           Case{R"({"topic":"a","webhook":{"url":"https://x.test/","secret":"whsec_!!"}})", "invalid_webhook",
                "webhook.secret"},
           Case{R"({"topic":"a","webhook":{"url":"https://x.test/","maxAttempts":0}})", "invalid_webhook", "maxAttempts"},
           Case{R"({"topic":"a","webhook":{"url":"https://x.test/","maxAge":0.5}})", "invalid_webhook", "maxAge"},
           Case{R"({"topic":"a","webhook":{"url":"https://x.test/","timeout":"5s"}})", "invalid_webhook", "timeout"},
           Case{R"({"topic":"a","webhook":{"url":"https://x.test/","retries":3}})", "invalid_webhook",
                "unknown webhook field \"retries\""},
       }) {
    const auto r = f.post("/v1/subscriptions", c.body);
    EXPECT_EQ(r.status, 400u) << c.body;
    EXPECT_EQ(r.error(), c.error) << c.body;
    EXPECT_NE(r.message().find(c.mentions), std::string::npos) << c.body << " -> " << r.message();
  }
  json::array many;
  for (int i = 0; i < 65; ++i) many.push_back(json::string("t" + std::to_string(i)));
  EXPECT_EQ(f.post("/v1/subscriptions", json::object{{"topics", many}}).status, 400u);
  EXPECT_EQ(f.registry.size(), 0u);
}

TEST(Subscriptions, WebhookErrorsNeverRepeatTheSecretOrTheQuery) {
  ApiFixture f;
  const auto r = f.post("/v1/subscriptions",
                        R"({"topic":"a","webhook":{"url":"http://10.1.2.3/h?token=TOPSECRETQ","secret":"whsec_TOPSECRET!"}})");
  EXPECT_EQ(r.status, 400u);
  const std::string text = json::serialize(r.body);
  EXPECT_EQ(text.find("TOPSECRET"), std::string::npos) << text;
  const auto bad_secret = f.post("/v1/subscriptions", R"({"topic":"a","webhook":{"url":"https://x.test/","secret":"whsec_TOPSECRET!"}})");
  EXPECT_EQ(bad_secret.status, 400u);
  EXPECT_EQ(json::serialize(bad_secret.body).find("TOPSECRET"), std::string::npos);
}

TEST(Subscriptions, GetShowsLiveCounters) {
  ApiFixture f;
  const std::string id = create(f, json::object{{"topic", "c.>"}});
  ASSERT_TRUE(f.registry.record_match(id, 1'800'000'000'500));
  ASSERT_TRUE(f.registry.record_match(id, 1'800'000'000'250));  // late: lastEventAt keeps the newest
  auto stream = f.registry.attach_stream(id);
  ASSERT_TRUE(stream);
  auto r = f.get("/v1/subscriptions/" + id);
  ASSERT_EQ(r.status, 200u);
  const auto& counters = r.body.at("counters");
  EXPECT_EQ(counters.at("eventsMatched").as_int64(), 2);
  EXPECT_EQ(counters.at("lastEventAt").as_string(), "2027-01-15T08:00:00.500Z");
  EXPECT_EQ(counters.at("attachedStreams").as_int64(), 1);
  server::SubscriptionRegistry::detach_stream(*stream);
  EXPECT_EQ(f.get("/v1/subscriptions/" + id).body.at("counters").at("attachedStreams").as_int64(), 0);
  EXPECT_FALSE(f.registry.attach_stream("sub_nope"));
  EXPECT_FALSE(f.registry.record_match("sub_nope", 1));
}

TEST(Subscriptions, UnknownIdIs404) {
  ApiFixture f;
  for (const char* id : {"sub_000000000000000000000000", "nope"}) {
    auto r = f.get(std::string("/v1/subscriptions/") + id);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.error(), "not_found");
    r = f.del(std::string("/v1/subscriptions/") + id);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.error(), "not_found");
  }
}

TEST(Subscriptions, ListPagesInIdOrderCoverEachOnce) {
  ApiFixture f;
  std::set<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    ids.insert(create(f, json::object{{"topic", "l." + std::to_string(i)}}));
    f.clock.advance(1);
  }
  std::vector<std::string> listed;
  std::string cursor;
  int pages = 0;
  for (;;) {
    const auto r = f.get("/v1/subscriptions?limit=10" + (cursor.empty() ? "" : "&cursor=" + url_encode(cursor)));
    ASSERT_EQ(r.status, 200u);
    ASSERT_EQ(r.body.as_object().size(), 2u);
    ++pages;
    for (const auto& s : r.body.at("subscriptions").as_array()) {
      listed.emplace_back(s.at("id").as_string());
      EXPECT_TRUE(s.as_object().contains("counters"));
    }
    if (r.body.at("nextCursor").is_null()) break;
    cursor = std::string(r.body.at("nextCursor").as_string());
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(listed, std::vector<std::string>(ids.begin(), ids.end()));
  // Ids sort in creation order (they start with the creation time).
  EXPECT_EQ(f.get("/v1/subscriptions?limit=1").body.at("subscriptions").at(0).at("topics").at(0).as_string(), "l.0");
  // Errors and the empty list.
  EXPECT_EQ(f.get("/v1/subscriptions?limit=0").error(), "bad_request");
  EXPECT_EQ(f.get("/v1/subscriptions?limit=1001").error(), "bad_request");
  EXPECT_EQ(f.get("/v1/subscriptions?cursor=").error(), "bad_request");
  ApiFixture empty;
  const auto r = empty.get("/v1/subscriptions");
  EXPECT_EQ(json::serialize(r.body), R"({"subscriptions":[],"nextCursor":null})");
}

TEST(Subscriptions, DeleteIs204ThenEverythingIs404) {
  ApiFixture f;
  std::vector<std::string> removed;
  f.registry.set_on_removed([&](const std::string& id) { removed.push_back(id); });
  const std::string id = create(f, json::object{{"topic", "d.>"}});
  const std::string other = create(f, json::object{{"topic", "d.>"}});
  auto r = f.del("/v1/subscriptions/" + id);
  EXPECT_EQ(r.status, 204u);
  EXPECT_TRUE(r.raw.body.empty());
  EXPECT_EQ(removed, std::vector<std::string>{id});
  r = f.del("/v1/subscriptions/" + id);
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.error(), "not_found");
  EXPECT_EQ(f.get("/v1/subscriptions/" + id).status, 404u);
  EXPECT_EQ(f.get("/v1/subscriptions/" + id + "/stream").status, 404u);
  EXPECT_EQ(removed.size(), 1u);  // the listener ran once
  // The other subscription is untouched.
  EXPECT_EQ(f.get("/v1/subscriptions/" + other).status, 200u);
  EXPECT_EQ(f.registry.matching("d.x", "", "", nullptr).size(), 1u);
}

// The answer waits for the store: a store that no longer holds the
// subscription (another node's delete reached it first) makes this one a 404;
// a store that fails leaves it deleted here (204), counted as a store error.
TEST(Subscriptions, DeleteIsAnsweredByTheStoresOutcome) {
  MemoryStore store;
  ApiFixture f({}, &store);
  const std::string first = create(f, json::object{{"topic", "d.>"}});
  const std::string second = create(f, json::object{{"topic", "d.>"}});
  ASSERT_FALSE(store.delete_subscription(first));  // another node's delete, before its announcement came
  auto r = f.del("/v1/subscriptions/" + first);
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.error(), "not_found");
  EXPECT_EQ(f.get("/v1/subscriptions/" + first).status, 404u);  // gone here too
  EXPECT_EQ(f.registry.store_errors(), 0u);

  store.fail_subscription_writes = true;
  r = f.del("/v1/subscriptions/" + second);
  EXPECT_EQ(r.status, 204u);
  EXPECT_EQ(f.get("/v1/subscriptions/" + second).status, 404u);
  EXPECT_EQ(f.registry.store_errors(), 1u);
  EXPECT_EQ(store.load_subscriptions().size(), 1u);  // still stored: told again by a shared store's resync
}

TEST(Subscriptions, MatchingUsesPatternsAndFilter) {
  server::SubscriptionRegistry registry(nullptr);
  const auto all = create_now(registry, spec({"pay.*", "pay.>"}), 1).subscription;  // two patterns matching one topic
  const auto big = create_now(registry, spec({"pay.>"}, R"([{"field":"data.amount","op":">","value":100}])"), 1).subscription;
  const auto typed = create_now(registry, spec({"pay.eu"}, R"({"any":[{"field":"type","op":"==","value":"refund"}]})"), 1)
                         .subscription;
  const auto other = create_now(registry, spec({"orders.*"}), 1).subscription;
  ASSERT_TRUE(all && big && typed && other);
  auto ids = [&](std::string_view topic, std::string_view type, const char* data) {
    std::set<std::string> out;
    for (const auto& s : registry.matching(topic, type, "", json::parse(data))) {
      EXPECT_TRUE(out.insert(s->id).second) << "matched twice: " << s->id;
    }
    return out;
  };
  EXPECT_EQ(ids("pay.eu", "created", R"({"amount":5})"), (std::set<std::string>{all->id}));
  EXPECT_EQ(ids("pay.eu", "refund", R"({"amount":500})"), (std::set<std::string>{all->id, big->id, typed->id}));
  EXPECT_EQ(ids("pay.us.east", "", R"({"amount":101})"), (std::set<std::string>{all->id, big->id}));
  EXPECT_EQ(ids("pay.us.east", "", R"({"amount":100})"), (std::set<std::string>{all->id}));
  EXPECT_EQ(ids("orders.1", "", "null"), (std::set<std::string>{other->id}));
  EXPECT_TRUE(ids("nothing", "", "null").empty());
  EXPECT_TRUE(all->matches("pay.x", "", "", nullptr));
  EXPECT_FALSE(big->matches("pay.x", "", "", json::parse(R"({"amount":1})")));
  // After remove, it matches nothing.
  ASSERT_TRUE(registry.remove(all->id));
  EXPECT_EQ(ids("pay.eu", "created", R"({"amount":5})"), std::set<std::string>{});
}

TEST(Subscriptions, SurviveARestartThroughTheStore) {
  MemoryStore store;
  std::string kept, deleted;
  {
    ApiFixture f({}, &store);
    kept = create(f, json::parse(R"({"topics":["a.*","b.>"],"filter":{"any":[{"field":"key","op":"in","value":["x","y"]}]},
                                     "webhook":{"url":"https://h.test/","secret":"z"}})"));
    deleted = create(f, json::object{{"topic", "gone"}});
    ASSERT_EQ(f.del("/v1/subscriptions/" + deleted).status, 204u);
    f.registry.record_match(kept, 5);
  }
  // A new registry over the same store: as it was (counters start again).
  ApiFixture f({}, &store);
  const auto loaded = f.registry.load();
  EXPECT_EQ(loaded.loaded, 1u);
  EXPECT_TRUE(loaded.errors.empty());
  const auto r = f.get("/v1/subscriptions/" + kept);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(json::serialize(r.body.at("topics")), R"(["a.*","b.>"])");
  EXPECT_EQ(json::serialize(r.body.at("filter")), R"({"any":[{"field":"key","op":"in","value":["x","y"]}]})");
  EXPECT_EQ(json::serialize(r.body.at("webhook")), R"({"url":"https://h.test/"})");
  EXPECT_EQ(r.body.at("createdAt").as_string(), "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(r.body.at("counters").at("eventsMatched").as_int64(), 0);
  EXPECT_EQ(f.get("/v1/subscriptions/" + deleted).status, 404u);
  EXPECT_EQ(f.registry.matching("a.1", "", "y", nullptr).size(), 1u);
  EXPECT_EQ(f.registry.matching("a.1", "", "z", nullptr).size(), 0u);
  // Loading twice adds nothing.
  EXPECT_EQ(f.registry.load().loaded, 0u);
  EXPECT_EQ(f.registry.size(), 1u);
}

TEST(Subscriptions, LoadSkipsUnreadableEntriesAndSaysWhy) {
  MemoryStore store;
  store.put_raw_subscription("sub_bad_json", "{not json");
  store.put_raw_subscription("sub_bad_topic", R"({"id":"sub_bad_topic","topics":["a..b"],"createdMs":1})");
  store.put_raw_subscription("sub_bad_filter",
                             R"({"id":"sub_bad_filter","topics":["a"],"filter":{"all":[{"op":"?"}]},"createdMs":1})");
  store.put_raw_subscription("sub_mismatch", R"({"id":"sub_other","topics":["a"],"createdMs":1})");
  store.put_raw_subscription("sub_good", R"({"id":"sub_good","topics":["a"],"filter":null,"webhook":null,"createdMs":1})");
  engine::StoreSubscriptions subscription_store(store);
  server::SubscriptionRegistry registry(&subscription_store);
  const auto result = registry.load();
  EXPECT_EQ(result.loaded, 1u);
  ASSERT_EQ(result.errors.size(), 4u);
  for (const auto& e : result.errors) EXPECT_NE(e.find("skipped"), std::string::npos) << e;
  EXPECT_TRUE(registry.get("sub_good"));
}

TEST(Subscriptions, StoreFailureIs503AndCreatesNothing) {
  MemoryStore store;
  ApiFixture f({}, &store);
  store.fail_subscription_writes = true;
  const auto r = f.post("/v1/subscriptions", R"({"topic":"a"})");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.error(), "store_unavailable");
  EXPECT_NE(r.message().find("disk on fire"), std::string::npos);
  EXPECT_EQ(f.registry.size(), 0u);
  store.fail_subscription_writes = false;
  EXPECT_EQ(f.post("/v1/subscriptions", R"({"topic":"a"})").status, 201u);
}

TEST(Subscriptions, TooManyIs409) {
  server::SubscriptionRegistry registry(nullptr, server::RegistryLimits{2});
  broker::Broker broker([](const broker::EventPtr&) {});
  server::HttpApi api(broker, registry, nullptr);
  auto post = [&] { return call(api, make_request("POST", "/v1/subscriptions", R"({"topic":"a"})")); };
  EXPECT_EQ(post().status, 201u);
  const auto second = post();
  EXPECT_EQ(second.status, 201u);
  const auto r = post();
  EXPECT_EQ(r.status, 409u);
  EXPECT_EQ(r.error(), "too_many_subscriptions");
  ASSERT_TRUE(registry.remove(std::string(second.body.at("id").as_string())));
  EXPECT_EQ(post().status, 201u);
}

TEST(Subscriptions, OnRemovedRunsWithoutTheLockAndMayCallTheRegistry) {
  MemoryStore store;
  engine::StoreSubscriptions subscription_store(store);
  server::SubscriptionRegistry registry(&subscription_store);
  const auto a = create_now(registry, spec({"a"}), 1).subscription;
  const auto b = create_now(registry, spec({"b"}), 1).subscription;
  std::vector<std::string> seen;
  registry.set_on_removed([&](const std::string& id) {
    seen.push_back(id);
    EXPECT_FALSE(registry.get(id));   // already gone
    EXPECT_FALSE(registry.remove(id));  // and a second remove is a no-op
    (void)registry.list(10, "");
    if (id == a->id) registry.remove(b->id);  // cascading remove from the listener
  });
  EXPECT_TRUE(registry.remove(a->id));
  EXPECT_EQ(seen, (std::vector<std::string>{a->id, b->id}));
  EXPECT_EQ(registry.size(), 0u);
  subscription_store.stop();  // the store's deletes are asynchronous: let them land
  EXPECT_EQ(store.subscription_count(), 0u);
}

// Four threads create and delete at once (TSan): every delete of a live id
// succeeds exactly once, and what is left is what was not deleted.
TEST(Subscriptions, ConcurrentCreateAndDeleteFromFourThreads) {
  MemoryStore store;
  ApiFixture f({}, &store);
  std::atomic<int> removed_calls{0};
  f.registry.set_on_removed([&](const std::string&) { removed_calls.fetch_add(1); });
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::vector<std::string>> kept(kThreads);
  std::atomic<int> deletes_ok{0}, deletes_404{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const auto r = f.post("/v1/subscriptions", json::object{{"topic", "x." + std::to_string(t)}});
        if (r.status != 201) {
          ADD_FAILURE() << r.status;
          continue;
        }
        const std::string id(r.body.at("id").as_string());
        if (i % 2) {
          kept[t].push_back(id);
          continue;
        }
        (f.del("/v1/subscriptions/" + id).status == 204 ? deletes_ok : deletes_404).fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::size_t expected = 0;
  for (const auto& k : kept) expected += k.size();
  EXPECT_EQ(deletes_ok.load(), kThreads * kPerThread / 2);
  EXPECT_EQ(deletes_404.load(), 0);
  EXPECT_EQ(removed_calls.load(), kThreads * kPerThread / 2);
  EXPECT_EQ(f.registry.size(), expected);
  wait_applied(*f.subscription_store);
  EXPECT_EQ(store.subscription_count(), expected);
  // Then all four threads delete every remaining id at once: each id is
  // deleted exactly once, the rest are 404s.
  std::vector<std::string> remaining;
  for (const auto& k : kept) remaining.insert(remaining.end(), k.begin(), k.end());
  std::atomic<int> ok{0}, missing{0};
  threads.clear();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (const auto& id : remaining) {
        const auto r = f.del("/v1/subscriptions/" + id);
        (r.status == 204 ? ok : missing).fetch_add(1);
        if (r.status != 204 && r.status != 404) ADD_FAILURE() << r.status;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), static_cast<int>(remaining.size()));
  EXPECT_EQ(missing.load(), static_cast<int>(remaining.size()) * (kThreads - 1));
  EXPECT_EQ(f.registry.size(), 0u);
  wait_applied(*f.subscription_store);
  EXPECT_EQ(store.subscription_count(), 0u);
}

// A DELETE while many threads match events and record them (the server's
// delivery path): nothing crashes, counters after the delete go nowhere,
// and matching stops returning the subscription once remove() returned.
TEST(Subscriptions, DeleteRacingManyRecordMatchCalls) {
  ApiFixture f;
  for (int round = 0; round < 20; ++round) {
    const std::string id = create(f, json::object{{"topic", "r.>"}});
    std::atomic<bool> removed{false};
    std::atomic<int> after_remove_matches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 300; ++i) {
          const bool was_removed = removed.load();
          const auto subs = f.registry.matching("r.x", "", "", nullptr);
          if (was_removed && !subs.empty()) after_remove_matches.fetch_add(1);
          for (const auto& s : subs) s->record_match(i + 1);
          f.registry.record_match(id, i + 1);
          if (auto s = f.registry.attach_stream(id)) server::SubscriptionRegistry::detach_stream(*s);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (round % 5)));
    const auto r = f.del("/v1/subscriptions/" + id);
    removed = true;
    EXPECT_EQ(r.status, 204u);
    for (auto& th : threads) th.join();
    EXPECT_EQ(after_remove_matches.load(), 0);
    EXPECT_EQ(f.del("/v1/subscriptions/" + id).status, 404u);
    EXPECT_FALSE(f.registry.record_match(id, 1));
  }
}

TEST(Subscriptions, StoredJsonRoundTrips) {
  server::SubscriptionRegistry registry(nullptr);
  auto s = spec({"a.*"}, R"([{"field":"data.x","op":"exists"}])");
  s.webhook = json::parse(R"({"url":"https://w.test","secret":"k"})");
  const auto sub = create_now(registry, std::move(s), 1'700'000'000'123).subscription;
  std::string error;
  const auto back = server::subscription_from_stored_json(sub->to_stored_json(), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->id, sub->id);
  EXPECT_EQ(back->patterns, sub->patterns);
  EXPECT_EQ(back->filter->spec(), sub->filter->spec());
  EXPECT_EQ(back->webhook, sub->webhook);
  EXPECT_EQ(back->created_ms, 1'700'000'000'123);
}

}  // namespace
}  // namespace sluice::test
