// Events over HTTP (SPEC §3): POST /v1/events (validation, idempotency),
// POST /v1/events/batch (all-or-nothing validation, per-topic consecutive
// offsets), GET /v1/events (paging with cursors, key filter, patterns, the
// store behind history) and GET /v1/events/{id}.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "server/http_test_util.hpp"

namespace sluice::test {
namespace {

// Follows nextCursor from the first page to the last; returns every event.
std::vector<json::object> all_pages(ApiFixture& f, const std::string& query, int* pages = nullptr) {
  std::vector<json::object> out;
  std::string cursor;
  for (int page = 0; page < 10'000; ++page) {
    const auto r = f.get("/v1/events?" + query + (cursor.empty() ? "" : "&cursor=" + url_encode(cursor)));
    EXPECT_EQ(r.status, 200u) << json::serialize(r.body);
    if (r.status != 200) break;
    EXPECT_EQ(r.body.as_object().size(), 2u);
    for (const auto& e : r.body.at("events").as_array()) out.push_back(e.as_object());
    if (pages) ++*pages;
    const auto& next = r.body.at("nextCursor");
    if (next.is_null()) break;
    cursor = std::string(next.as_string());
  }
  return out;
}

TEST(HttpApiEvents, PublishReturns201WithIdTopicOffsetEpoch) {
  ApiFixture f;
  auto r = f.post("/v1/events", R"({"topic":"orders.eu","data":{"amount":5},"type":"created","key":"o-1"})");
  ASSERT_EQ(r.status, 201u) << json::serialize(r.body);
  const auto& o = r.body.as_object();
  EXPECT_EQ(o.size(), 4u);
  EXPECT_TRUE(o.at("id").as_string().starts_with("evt_"));
  EXPECT_EQ(o.at("topic").as_string(), "orders.eu");
  EXPECT_EQ(o.at("offset").as_int64(), 1);
  EXPECT_EQ(o.at("epoch").as_string().size(), 16u);
  EXPECT_EQ(r.header("Location"), "/v1/events/" + std::string(o.at("id").as_string()));
  r = f.post("/v1/events", R"({"topic":"orders.eu","data":null})");
  ASSERT_EQ(r.status, 201u);
  EXPECT_EQ(r.body.at("offset").as_int64(), 2);
  // The event as stored: every field, data as given.
  const auto history = f.broker.history("orders.eu", 0, 10);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]->type, "created");
  EXPECT_EQ(history[0]->key, "o-1");
  EXPECT_EQ(history[0]->data, R"({"amount":5})");
  EXPECT_EQ(history[1]->data, "null");
}

TEST(HttpApiEvents, DataMayBeAnyJson) {
  ApiFixture f;
  for (const char* data : {"0", "-1.5", "true", "\"text\"", "[1,[2,{}]]", "{\"a\":{\"b\":[null]}}",
                           "18446744073709551615"}) {
    const auto r = f.post("/v1/events", std::string(R"({"topic":"any","data":)") + data + "}");
    EXPECT_EQ(r.status, 201u) << data;
  }
  EXPECT_EQ(f.broker.published(), 7u);
}

// `data` is published as the client wrote it (whitespace aside): no rounding
// of big integers, no rewriting of decimals.
TEST(HttpApiEvents, DataIsPublishedAsWritten) {
  ApiFixture f;
  struct Case {
    std::string body;
    std::string data;
  };
  const std::vector<Case> cases = {
      {R"({"topic":"w","data":123456789012345678901234567890})", "123456789012345678901234567890"},
      {R"({"topic":"w","data":1.10})", "1.10"},
      {R"({"topic":"w","data":1e400})", "1e400"},
      {R"({"topic":"w","data":-0.0})", "-0.0"},
      {"{\n  \"data\" : { \"a b\" : [ 1 , \"x \\\" y\" , {} ] ,\n \"c\":\"\\u00e9\" } ,\n  \"topic\" : \"w\"\n}",
       R"({"a b":[1,"x \" y",{}],"c":"\u00e9"})"},
      {R"({"topic":"w","data":1,"data":{"last":"wins"}})", R"({"last":"wins"})"},
      {R"({"topic":"w","d\u0061ta":[2.50]})", "[2.50]"},
      {R"({"topic":"w","type":"a\"}","data":"}]"})", R"("}]")"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto r = f.post("/v1/events", cases[i].body);
    ASSERT_EQ(r.status, 201u) << cases[i].body;
    const auto history = f.broker.history("w", i, 1);
    ASSERT_EQ(history.size(), 1u);
    EXPECT_EQ(history[0]->data, cases[i].data) << cases[i].body;
    // The event object stays valid JSON.
    std::error_code ec;
    (void)json::parse(history[0]->json, ec);
    EXPECT_FALSE(ec) << history[0]->json;
  }
  const auto r = f.post("/v1/events/batch", std::string(R"({"events":[ {"topic":"wb","data":0.10} , {"data" : 18446744073709551616, "topic":"wb"}]})"));
  ASSERT_EQ(r.status, 201u);
  const auto history = f.broker.history("wb", 0, 10);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]->data, "0.10");
  EXPECT_EQ(history[1]->data, "18446744073709551616");
  // Idempotency compares content, not spelling: 1.10 and 1.1 are the same data.
  ASSERT_EQ(f.post("/v1/events", R"({"topic":"w","data":1.10,"idempotencyKey":"n"})").status, 201u);
  EXPECT_EQ(f.post("/v1/events", R"({"topic":"w","data":1.1,"idempotencyKey":"n"})").status, 200u);
}

TEST(HttpApiEvents, PublishErrorsNameTheField) {
  ApiFixture f;
  struct Case {
    const char* body;
    unsigned status;
    const char* error;
    const char* mentions;
  };
  for (const Case& c : {
           Case{"", 400, "invalid_json", "empty"},
           Case{"{\"topic\":", 400, "invalid_json", "not valid JSON"},
           Case{"{\"topic\":\"a\",\"data\":1}}", 400, "invalid_json", "not valid JSON"},
           Case{"[1]", 400, "bad_request", "JSON object"},
           Case{"{\"data\":1}", 400, "bad_request", "\"topic\" is required"},
           Case{"{\"topic\":5,\"data\":1}", 400, "bad_request", "\"topic\" must be a string"},
           Case{"{\"topic\":\"a\"}", 400, "bad_request", "\"data\" is required"},
           Case{"{\"topic\":\"a\",\"data\":1,\"type\":1}", 400, "bad_request", "\"type\" must be a string"},
           Case{"{\"topic\":\"a\",\"data\":1,\"key\":{}}", 400, "bad_request", "\"key\" must be a string"},
           Case{"{\"topic\":\"a\",\"data\":1,\"idempotencyKey\":[]}", 400, "bad_request", "\"idempotencyKey\""},
           Case{"{\"topic\":\"a\",\"data\":1,\"dat\":1}", 400, "bad_request", "unknown field \"dat\""},
           Case{"{\"topic\":\"a..b\",\"data\":1}", 400, "invalid_topic", "a..b"},
           Case{"{\"topic\":\"a.*\",\"data\":1}", 400, "invalid_topic", "a.*"},
           Case{"{\"topic\":\"\",\"data\":1}", 400, "invalid_topic", "topic"},
       }) {
    const auto r = f.post("/v1/events", c.body);
    EXPECT_EQ(r.status, c.status) << c.body;
    EXPECT_EQ(r.error(), c.error) << c.body;
    EXPECT_NE(r.message().find(c.mentions), std::string::npos) << c.body << " -> " << r.message();
  }
  const std::string long_key(300, 'k');
  EXPECT_EQ(f.post("/v1/events", json::object{{"topic", "a"}, {"data", 1}, {"key", long_key}}).status, 400u);
  EXPECT_EQ(f.broker.published(), 0u);
}

TEST(HttpApiEvents, SameIdempotencyKeyPublishesOnceAndReturnsTheSameResult) {
  ApiFixture f;
  const json::object body{{"topic", "pay"}, {"data", {{"amount", 10}}}, {"idempotencyKey", "req-1"}};
  const auto first = f.post("/v1/events", body);
  ASSERT_EQ(first.status, 201u);
  EXPECT_FALSE(first.has_header("Idempotent-Replayed"));
  const auto second = f.post("/v1/events", body);
  ASSERT_EQ(second.status, 200u);
  EXPECT_EQ(second.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(f.broker.published(), 1u);
  EXPECT_EQ(f.get("/v1/events?topic=pay").body.at("events").as_array().size(), 1u);
}

TEST(HttpApiEvents, DifferentIdempotencyKeysPublishTwice) {
  ApiFixture f;
  const auto a = f.post("/v1/events", json::object{{"topic", "pay"}, {"data", 1}, {"idempotencyKey", "a"}});
  const auto b = f.post("/v1/events", json::object{{"topic", "pay"}, {"data", 1}, {"idempotencyKey", "b"}});
  EXPECT_EQ(a.status, 201u);
  EXPECT_EQ(b.status, 201u);
  EXPECT_NE(a.body.at("id"), b.body.at("id"));
  EXPECT_EQ(f.broker.published(), 2u);
  // No key at all: every request publishes.
  EXPECT_EQ(f.post("/v1/events", event_body("pay", 1)).status, 201u);
  EXPECT_EQ(f.post("/v1/events", event_body("pay", 1)).status, 201u);
  EXPECT_EQ(f.broker.published(), 4u);
}

TEST(HttpApiEvents, IdempotencyKeyReusedForOtherContentIs409) {
  ApiFixture f;
  ASSERT_EQ(f.post("/v1/events", json::object{{"topic", "pay"}, {"data", 1}, {"idempotencyKey", "k"}}).status, 201u);
  for (const json::object& other : {json::object{{"topic", "pay"}, {"data", 2}, {"idempotencyKey", "k"}},
                                    json::object{{"topic", "pay2"}, {"data", 1}, {"idempotencyKey", "k"}},
                                    json::object{{"topic", "pay"}, {"data", 1}, {"type", "t"}, {"idempotencyKey", "k"}}}) {
    const auto r = f.post("/v1/events", other);
    EXPECT_EQ(r.status, 409u);
    EXPECT_EQ(r.error(), "idempotency_conflict");
  }
  EXPECT_EQ(f.broker.published(), 1u);
  // Same content written differently is the same request.
  EXPECT_EQ(f.post("/v1/events", R"({ "idempotencyKey" : "k", "data" : 1, "topic" : "pay" })").status, 200u);
}

TEST(HttpApiEvents, IdempotencyKeyIsForgottenAfterTheWindow) {
  server::ApiLimits limits;
  limits.idempotency_window = std::chrono::minutes(10);
  ApiFixture f(limits);
  const json::object body{{"topic", "pay"}, {"data", 1}, {"idempotencyKey", "k"}};
  ASSERT_EQ(f.post("/v1/events", body).status, 201u);
  f.clock.advance(9 * 60'000);
  EXPECT_EQ(f.post("/v1/events", body).status, 200u);
  f.clock.advance(2 * 60'000);
  const auto again = f.post("/v1/events", body);
  EXPECT_EQ(again.status, 201u);
  EXPECT_EQ(again.body.at("offset").as_int64(), 2);
  EXPECT_EQ(f.broker.published(), 2u);
}

TEST(HttpApiEvents, IdempotencyKeysBeyondTheCountBoundAreForgottenOldestFirst) {
  server::ApiLimits limits;
  limits.max_idempotency_keys = 3;
  ApiFixture f(limits);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(f.post("/v1/events", json::object{{"topic", "p"}, {"data", i}, {"idempotencyKey", std::to_string(i)}})
                  .status,
              201u);
  }
  EXPECT_EQ(f.post("/v1/events", json::object{{"topic", "p"}, {"data", 4}, {"idempotencyKey", "4"}}).status, 200u);
  EXPECT_EQ(f.post("/v1/events", json::object{{"topic", "p"}, {"data", 0}, {"idempotencyKey", "0"}}).status, 201u);
}

TEST(HttpApiEvents, IdempotencyKeyFoundInTheStoreIsNotPublishedAgain) {
  MemoryStore store;
  store::StoredEvent stored;
  stored.id = "evt_fromstore";
  stored.topic = "pay";
  stored.offset = 41;
  stored.epoch = "00000000000000aa";
  stored.time_ms = 1'800'000'000'000 - 1000;
  stored.data = "{ \"amount\" : 10 }";  // formatted differently from what the API serializes
  stored.idempotency_key = "req-9";
  ASSERT_FALSE(store.append(std::span(&stored, 1)));
  ApiFixture f({}, &store);
  const auto r = f.post("/v1/events", json::object{{"topic", "pay"}, {"data", {{"amount", 10}}}, {"idempotencyKey", "req-9"}});
  ASSERT_EQ(r.status, 200u) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("id").as_string(), "evt_fromstore");
  EXPECT_EQ(r.body.at("offset").as_int64(), 41);
  EXPECT_EQ(r.body.at("epoch").as_string(), "00000000000000aa");
  EXPECT_EQ(f.broker.published(), 0u);
  // Other content under that key: 409. Outside the window, the store's answer does not count.
  EXPECT_EQ(f.post("/v1/events", json::object{{"topic", "pay"}, {"data", 11}, {"idempotencyKey", "req-9"}}).status,
            409u);
  ApiFixture later({}, &store);
  later.clock.advance(std::chrono::milliseconds(std::chrono::hours(25)).count());
  EXPECT_EQ(
      later.post("/v1/events", json::object{{"topic", "pay"}, {"data", {{"amount", 10}}}, {"idempotencyKey", "req-9"}})
          .status,
      201u);
}

// Many threads race with one key: one event, every answer the same.
TEST(HttpApiEvents, ConcurrentRequestsWithOneKeyPublishOnce) {
  ApiFixture f;
  constexpr int kThreads = 8;
  std::vector<Reply> replies(kThreads);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      replies[t] = f.post("/v1/events", json::object{{"topic", "race"}, {"data", "x"}, {"idempotencyKey", "same"}});
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(f.broker.published(), 1u);
  int created = 0;
  for (const auto& r : replies) {
    EXPECT_TRUE(r.status == 201 || r.status == 200) << r.status;
    created += r.status == 201;
    EXPECT_EQ(r.body, replies[0].body);
  }
  EXPECT_EQ(created, 1);
}

TEST(HttpApiEvents, BatchReturnsEveryResultInRequestOrder) {
  ApiFixture f;
  const auto r = f.post("/v1/events/batch", json::object{{"events", json::array{event_body("a", 1), event_body("b", 2), event_body("a", 3)}}});
  ASSERT_EQ(r.status, 201u) << json::serialize(r.body);
  ASSERT_EQ(r.body.as_object().size(), 1u);
  const auto& results = r.body.at("events").as_array();
  ASSERT_EQ(results.size(), 3u);
  const char* topics[] = {"a", "b", "a"};
  const int offsets[] = {1, 1, 2};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& o = results[i].as_object();
    EXPECT_EQ(o.size(), 4u);
    EXPECT_EQ(o.at("topic").as_string(), topics[i]);
    EXPECT_EQ(o.at("offset").as_int64(), offsets[i]);
    EXPECT_TRUE(o.at("id").as_string().starts_with("evt_"));
    EXPECT_EQ(o.at("epoch").as_string().size(), 16u);
  }
  const auto history = f.broker.history("a", 0, 10);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]->data, "1");
  EXPECT_EQ(history[1]->data, "3");
}

// Batches publish while other threads publish single events to the same
// topics: each batch's events of one topic still get consecutive offsets.
TEST(HttpApiEvents, BatchOffsetsAreConsecutivePerTopicUnderConcurrentPublishes) {
  ApiFixture f;
  std::atomic<bool> stop{false};
  std::vector<std::thread> singles;
  for (const char* topic : {"t.a", "t.b"}) {
    singles.emplace_back([&f, &stop, topic] {
      while (!stop.load()) f.post("/v1/events", event_body(topic, 0));
    });
  }
  for (int round = 0; round < 40; ++round) {
    json::array events;
    for (int i = 0; i < 20; ++i) events.push_back(event_body(i % 2 ? "t.a" : "t.b", i));
    const auto r = f.post("/v1/events/batch", json::object{{"events", events}});
    ASSERT_EQ(r.status, 201u);
    std::map<std::string, std::vector<std::int64_t>> offsets;
    for (const auto& e : r.body.at("events").as_array()) {
      offsets[std::string(e.at("topic").as_string())].push_back(e.at("offset").as_int64());
    }
    for (const auto& [topic, list] : offsets) {
      ASSERT_EQ(list.size(), 10u);
      for (std::size_t i = 1; i < list.size(); ++i) EXPECT_EQ(list[i], list[i - 1] + 1) << topic << " round " << round;
    }
  }
  stop = true;
  for (auto& th : singles) th.join();
}

TEST(HttpApiEvents, BatchIsValidatedWholeBeforeAnythingIsPublished) {
  ApiFixture f;
  auto r = f.post("/v1/events/batch",
                  json::object{{"events", json::array{event_body("a", 1), event_body("b", 2), json::object{{"topic", "c"}}}}});
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error(), "bad_request");
  EXPECT_NE(r.message().find("events[2].data"), std::string::npos) << r.message();
  r = f.post("/v1/events/batch", json::object{{"events", json::array{event_body("a", 1), event_body("b c", 2)}}});
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error(), "invalid_topic");
  EXPECT_NE(r.message().find("events[1].topic"), std::string::npos) << r.message();
  EXPECT_EQ(f.broker.published(), 0u);
}

TEST(HttpApiEvents, BatchErrors) {
  server::ApiLimits limits;
  limits.max_batch = 3;
  ApiFixture f(limits);
  struct Case {
    std::string body;
    const char* error;
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"{", "invalid_json", "JSON"},
      {"[]", "bad_request", "object"},
      {"{}", "bad_request", "\"events\" is required"},
      {R"({"events":{}})", "bad_request", "\"events\" is required"},
      {R"({"events":[]})", "bad_request", "must not be empty"},
      {R"({"events":[1]})", "bad_request", "events[0] must be a JSON object"},
      {R"({"events":[{"topic":"a","data":1}],"x":1})", "bad_request", "unknown field \"x\""},
      {R"({"events":[{"topic":"a","data":1},{"topic":"a","data":1},{"topic":"a","data":1},{"topic":"a","data":1}]})",
       "bad_request", "at most 3"},
      {R"({"events":[{"topic":"a","data":1,"idempotencyKey":"k"},{"topic":"b","data":1,"idempotencyKey":"k"}]})",
       "bad_request", "events[1].idempotencyKey repeats events[0]"},
  };
  for (const auto& c : cases) {
    const auto r = f.post("/v1/events/batch", c.body);
    EXPECT_EQ(r.status, 400u) << c.body;
    EXPECT_EQ(r.error(), c.error) << c.body;
    EXPECT_NE(r.message().find(c.mentions), std::string::npos) << c.body << " -> " << r.message();
  }
  EXPECT_EQ(f.broker.published(), 0u);
}

TEST(HttpApiEvents, BatchHonoursIdempotencyKeys) {
  ApiFixture f;
  ASSERT_EQ(f.post("/v1/events", json::object{{"topic", "a"}, {"data", 0}, {"idempotencyKey", "k0"}}).status, 201u);
  const json::object batch{{"events", json::array{json::object{{"topic", "a"}, {"data", 0}, {"idempotencyKey", "k0"}},
                                                 json::object{{"topic", "a"}, {"data", 1}, {"idempotencyKey", "k1"}},
                                                 event_body("a", 2)}}};
  const auto first = f.post("/v1/events/batch", batch);
  ASSERT_EQ(first.status, 201u);
  EXPECT_EQ(f.broker.published(), 3u);  // k0 was not published again
  const auto& results = first.body.at("events").as_array();
  EXPECT_EQ(results[0].at("offset").as_int64(), 1);
  EXPECT_EQ(results[1].at("offset").as_int64(), 2);
  EXPECT_EQ(results[2].at("offset").as_int64(), 3);
  // The keyed events of a repeated batch are answered from memory; the unkeyed one publishes again.
  const auto second = f.post("/v1/events/batch", batch);
  ASSERT_EQ(second.status, 201u);
  EXPECT_EQ(second.body.at("events").at(0), results[0]);
  EXPECT_EQ(second.body.at("events").at(1), results[1]);
  EXPECT_EQ(second.body.at("events").at(2).at("offset").as_int64(), 4);
  // A batch made only of repeats publishes nothing: 200.
  const auto repeat = f.post("/v1/events/batch", json::object{{"events", json::array{batch.at("events").at(1)}}});
  EXPECT_EQ(repeat.status, 200u);
  EXPECT_EQ(repeat.body.at("events").at(0), results[1]);
  // A key reused for other content fails the whole batch.
  const auto conflict = f.post(
      "/v1/events/batch",
      json::object{{"events", json::array{event_body("a", 9), json::object{{"topic", "a"}, {"data", 5}, {"idempotencyKey", "k1"}}}}});
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(conflict.error(), "idempotency_conflict");
  EXPECT_EQ(f.broker.published(), 4u);
}

TEST(HttpApiEvents, HistoryPagesCoverEveryEventExactlyOnce) {
  ApiFixture f;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(f.post("/v1/events", event_body("h.t", i)).status, 201u);
  f.post("/v1/events", event_body("h.other", 0));
  int pages = 0;
  const auto events = all_pages(f, "topic=h.t&limit=7", &pages);
  EXPECT_EQ(pages, 8);  // 7 x 7 + 1
  ASSERT_EQ(events.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(events[i].at("offset").as_int64(), i + 1);
    EXPECT_EQ(events[i].at("data").as_int64(), i);
    EXPECT_EQ(events[i].at("topic").as_string(), "h.t");
  }
  // An exact multiple of the page size: the last page says there is no next one.
  pages = 0;
  EXPECT_EQ(all_pages(f, "topic=h.t&limit=10", &pages).size(), 50u);
  EXPECT_EQ(pages, 5);
}

TEST(HttpApiEvents, HistoryEventObjectsHaveEveryField) {
  ApiFixture f;
  ASSERT_EQ(f.post("/v1/events", R"({"topic":"e.f","data":{"x":[1]},"type":"t","key":"k"})").status, 201u);
  const auto r = f.get("/v1/events?topic=e.f");
  ASSERT_EQ(r.status, 200u);
  const auto& e = r.body.at("events").at(0).as_object();
  for (const char* field : {"id", "topic", "offset", "epoch", "type", "key", "time", "data"}) {
    EXPECT_TRUE(e.contains(field)) << field;
  }
  EXPECT_EQ(json::serialize(e.at("data")), R"({"x":[1]})");
  EXPECT_TRUE(r.body.at("nextCursor").is_null());
  EXPECT_TRUE(f.get("/v1/events?topic=no.such").body.at("events").as_array().empty());
}

TEST(HttpApiEvents, HistorySinceAndKeyFilter) {
  ApiFixture f;
  for (int i = 0; i < 30; ++i) {
    f.post("/v1/events", json::object{{"topic", "k.t"}, {"data", i}, {"key", i % 3 == 0 ? "three" : "other"}});
  }
  auto r = f.get("/v1/events?topic=k.t&since=25");
  ASSERT_EQ(r.status, 200u);
  ASSERT_EQ(r.body.at("events").as_array().size(), 5u);
  EXPECT_EQ(r.body.at("events").at(0).at("offset").as_int64(), 26);
  const auto keyed = all_pages(f, "topic=k.t&key=three&limit=3");
  ASSERT_EQ(keyed.size(), 10u);
  for (std::size_t i = 0; i < keyed.size(); ++i) {
    EXPECT_EQ(keyed[i].at("key").as_string(), "three");
    EXPECT_EQ(keyed[i].at("data").as_int64(), static_cast<std::int64_t>(3 * i));
  }
  EXPECT_EQ(all_pages(f, "topic=k.t&key=three&since=15&limit=100").size(), 5u);
  EXPECT_TRUE(f.get("/v1/events?topic=k.t&since=30").body.at("events").as_array().empty());
  EXPECT_TRUE(f.get("/v1/events?topic=k.t&since=18446744073709551615").body.at("events").as_array().empty());
}

TEST(HttpApiEvents, HistoryByPatternOrKeyAcrossTopics) {
  ApiFixture f;
  std::map<std::string, int> per_topic;
  for (int i = 0; i < 60; ++i) {
    const std::string topic = "p." + std::to_string(i % 4) + (i % 5 == 0 ? ".deep" : "");
    per_topic[topic]++;
    f.post("/v1/events", json::object{{"topic", topic}, {"data", i}, {"key", i % 2 ? "odd" : "even"}});
  }
  f.post("/v1/events", event_body("q.0", 0));
  const auto events = all_pages(f, "topic=" + url_encode("p.*") + "&limit=4");
  std::map<std::string, std::vector<std::int64_t>> seen;
  for (const auto& e : events) seen[std::string(e.at("topic").as_string())].push_back(e.at("offset").as_int64());
  std::size_t expected = 0;
  for (const auto& [topic, n] : per_topic) {
    if (topic.ends_with(".deep")) continue;
    expected += n;
    ASSERT_EQ(seen[topic].size(), static_cast<std::size_t>(n)) << topic;
    for (int i = 0; i < n; ++i) EXPECT_EQ(seen[topic][i], i + 1) << topic;  // oldest first, once each
  }
  EXPECT_EQ(events.size(), expected);
  // Topics come in byte order.
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_LE(events[i - 1].at("topic").as_string(), events[i].at("topic").as_string());
  }
  EXPECT_EQ(all_pages(f, "topic=" + url_encode("p.>") + "&limit=7").size(), 60u);
  // A key alone searches every topic.
  const auto odd = all_pages(f, "key=odd&limit=6");
  EXPECT_EQ(odd.size(), 30u);
  for (const auto& e : odd) EXPECT_EQ(e.at("key").as_string(), "odd");
}

TEST(HttpApiEvents, HistoryScanBoundEndsAPageEarlyButLosesNothing) {
  server::ApiLimits limits;
  limits.max_scan = 20;
  ApiFixture f(limits);
  for (int i = 0; i < 200; ++i) {
    f.post("/v1/events", json::object{{"topic", "s." + std::to_string(i % 3)}, {"data", i}, {"key", i % 50 ? "no" : "yes"}});
  }
  int pages = 0;
  const auto found = all_pages(f, "key=yes&limit=2", &pages);
  EXPECT_EQ(found.size(), 4u);
  EXPECT_GT(pages, 5);  // many pages came back short (even empty) with a cursor
  std::set<std::int64_t> data;
  for (const auto& e : found) data.insert(e.at("data").as_int64());
  EXPECT_EQ(data, (std::set<std::int64_t>{0, 50, 100, 150}));
}

TEST(HttpApiEvents, HistoryReadsTheStoreForWhatHistoryNoLongerHolds) {
  MemoryStore store;
  broker::HistoryLimits history;
  history.max_events = 5;
  ApiFixture f({}, &store, history);
  // The broker keeps the last 5; the store has them all (as the server's
  // durable path would have written them).
  for (int i = 0; i < 20; ++i) {
    const auto e = f.broker.publish({"d.t", std::to_string(i), "", "", ""});
    store::StoredEvent s{std::string(e->id), e->topic, e->offset, std::string(e->epoch), "", "", e->time_ms, std::string(e->data), ""};
    ASSERT_FALSE(store.append(std::span(&s, 1)));
  }
  ASSERT_EQ(f.broker.history("d.t", 0, 100).size(), 5u);
  const auto events = all_pages(f, "topic=d.t&limit=6");
  ASSERT_EQ(events.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(events[i].at("offset").as_int64(), i + 1);
  EXPECT_EQ(all_pages(f, "topic=d.t&since=12&limit=3").size(), 8u);
  EXPECT_EQ(all_pages(f, "topic=d.%3E&limit=4").size(), 20u);
  // Without a store, history is what there is.
  ApiFixture memory({}, nullptr, history);
  for (int i = 0; i < 20; ++i) memory.broker.publish({"d.t", std::to_string(i), "", "", ""});
  const auto recent = all_pages(memory, "topic=d.t");
  ASSERT_EQ(recent.size(), 5u);
  EXPECT_EQ(recent[0].at("offset").as_int64(), 16);
}

TEST(HttpApiEvents, HistoryErrors) {
  server::ApiLimits limits;
  limits.max_page = 50;
  ApiFixture f(limits);
  f.post("/v1/events", event_body("a.b", 1));
  const std::string other_cursor = [&] {
    for (int i = 0; i < 3; ++i) f.post("/v1/events", event_body("z.z", i));
    return std::string(f.get("/v1/events?topic=z.z&limit=1").body.at("nextCursor").as_string());
  }();
  struct Case {
    std::string query;
    const char* error;
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"", "bad_request", "topic"},
      {"limit=5", "bad_request", "topic"},
      {"topic=a..b", "invalid_topic", "a..b"},
      {"topic=a.b&limit=0", "bad_request", "limit"},
      {"topic=a.b&limit=51", "bad_request", "1 to 50"},
      {"topic=a.b&limit=ten", "bad_request", "limit"},
      {"topic=a.b&limit=-1", "bad_request", "limit"},
      {"topic=a.b&since=x", "bad_request", "since"},
      {"topic=a.b&since=-3", "bad_request", "since"},
      {"topic=a.b&since=99999999999999999999999", "bad_request", "since"},
      {"topic=a.*&since=3", "bad_request", "exact topic"},
      {"topic=a.b&key=", "bad_request", "key"},
      {"topic=a.b&cursor=%%%", "bad_request", "cursor"},
      {"topic=a.b&cursor=bm90LWEtY3Vyc29y", "bad_request", "cursor"},
      {"topic=a.b&cursor=" + other_cursor, "bad_request", "cursor does not belong"},
      {"topic=" + url_encode("a.*") + "&cursor=" + other_cursor, "bad_request", "cursor does not belong"},
  };
  for (const auto& c : cases) {
    const auto r = f.get("/v1/events?" + c.query);
    EXPECT_EQ(r.status, 400u) << c.query;
    EXPECT_EQ(r.error(), c.error) << c.query;
    EXPECT_NE(r.message().find(c.mentions), std::string::npos) << c.query << " -> " << r.message();
  }
}

TEST(HttpApiEvents, GetEventById) {
  ApiFixture f;
  const auto published = f.post("/v1/events", R"({"topic":"g.t","data":[1,2],"key":"k"})");
  const std::string id(published.body.at("id").as_string());
  auto r = f.get("/v1/events/" + id);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.body.at("id").as_string(), id);
  EXPECT_EQ(r.body.at("topic").as_string(), "g.t");
  EXPECT_EQ(r.body.at("offset").as_int64(), 1);
  EXPECT_EQ(r.body.at("key").as_string(), "k");
  EXPECT_EQ(json::serialize(r.body.at("data")), "[1,2]");
  const auto batch = f.post("/v1/events/batch", json::object{{"events", json::array{event_body("g.u", 7)}}});
  EXPECT_EQ(f.get("/v1/events/" + std::string(batch.body.at("events").at(0).at("id").as_string())).status, 200u);
  for (const std::string& unknown : {std::string("evt_nope"), std::string(500, 'x'), std::string("batchx")}) {
    r = f.get("/v1/events/" + unknown);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.error(), "not_found");
  }
}

TEST(HttpApiEvents, GetEventByIdIsForgottenOnceOutOfHistoryWithoutAStore) {
  broker::HistoryLimits history;
  history.max_events = 2;
  ApiFixture f({}, nullptr, history);
  const std::string first(f.post("/v1/events", event_body("g", 1)).body.at("id").as_string());
  EXPECT_EQ(f.get("/v1/events/" + first).status, 200u);
  f.post("/v1/events", event_body("g", 2));
  f.post("/v1/events", event_body("g", 3));
  EXPECT_EQ(f.get("/v1/events/" + first).status, 404u);
}

// Without a store the broker's id index remembers the last id_index_size
// events published (a ring by id sequence): an older id is no longer found
// even while history still holds its event; a newer one is.
TEST(HttpApiEvents, GetEventByIdRemembersTheLastIndexSizeEvents) {
  ApiFixture f({}, nullptr, {}, /*id_index_size=*/3);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.emplace_back(f.post("/v1/events", event_body("ring.t" + std::to_string(i % 2), i)).body.at("id").as_string());
  EXPECT_EQ(f.broker.history("ring.t0", 0, 10).size(), 3u);  // history still has the first event
  EXPECT_EQ(f.get("/v1/events/" + ids[0]).status, 404u);
  EXPECT_EQ(f.get("/v1/events/" + ids[1]).status, 404u);
  for (int i = 2; i < 5; ++i) {
    const auto r = f.get("/v1/events/" + ids[i]);
    ASSERT_EQ(r.status, 200u) << i;
    EXPECT_EQ(r.body.at("id").as_string(), ids[i]);
    EXPECT_EQ(r.body.at("topic").as_string(), "ring.t" + std::to_string(i % 2));
    EXPECT_EQ(r.body.at("data").as_int64(), i);
  }
  // An id of the right shape with a sequence never published here, and one with another prefix.
  std::string unused = ids[4];
  unused.back() = unused.back() == 'f' ? 'e' : 'f';
  EXPECT_EQ(f.get("/v1/events/" + unused).status, 404u);
  std::string other = ids[4];
  other[4] = other[4] == 'a' ? 'b' : 'a';
  EXPECT_EQ(f.get("/v1/events/" + other).status, 404u);
}

TEST(HttpApiEvents, GetEventByIdFromTheStore) {
  MemoryStore store;
  store::StoredEvent s{"evt_old", "old.t", 3, "00000000000000bb", "created", "", 1'700'000'000'000, "{\"v\":1}", ""};
  ASSERT_FALSE(store.append(std::span(&s, 1)));
  ApiFixture f({}, &store);
  const auto r = f.get("/v1/events/evt_old");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.body.at("topic").as_string(), "old.t");
  EXPECT_EQ(r.body.at("offset").as_int64(), 3);
  EXPECT_EQ(r.body.at("type").as_string(), "created");
  EXPECT_FALSE(r.body.as_object().contains("key"));
  EXPECT_EQ(r.body.at("time").as_string(), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(f.get("/v1/events/evt_missing").status, 404u);
}

}  // namespace
}  // namespace sluice::test
