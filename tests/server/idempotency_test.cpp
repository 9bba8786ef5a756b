// Idempotent publish (SPEC §3) everywhere: the shared IdempotencyIndex, the
// in-band /v1/ws publish with an idempotencyKey (repeat, conflict, a repeat
// while the first is still being stored), keys shared between HTTP and
// /v1/ws, and a repeat after a restart of the real binary over its store.
#include <gtest/gtest.h>

#include <filesystem>

#include "server/http_test_util.hpp"
#include "server/server_harness.hpp"
#include "server/server_process.hpp"
#include "store/store_test_util.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
using server::IdempotencyIndex;
using Kind = IdempotencyIndex::Answer::Kind;
using Claim = IdempotencyIndex::Claim;

// --- the index on its own ---

TEST(IdempotencyIndex, FirstClaimOwnsRepeatsGetItsResultOrAConflict) {
  IdempotencyIndex index(nullptr);
  IdempotencyIndex::Answer answer;
  ASSERT_EQ(index.claim("k", 1, answer), Claim::owned);
  EXPECT_EQ(index.claim("k", 1, answer), Claim::in_flight);  // no waiter given
  std::vector<IdempotencyIndex::Answer> waited;
  EXPECT_EQ(index.claim("k", 1, answer, [&](const IdempotencyIndex::Answer& a) { waited.push_back(a); }),
            Claim::waiting);
  EXPECT_EQ(index.claim("k", 2, answer, [&](const IdempotencyIndex::Answer& a) { waited.push_back(a); }),
            Claim::waiting);
  EXPECT_TRUE(waited.empty());
  index.complete("k", {"evt_1", "t", 7, "ep"});
  ASSERT_EQ(waited.size(), 2u);
  EXPECT_EQ(waited[0].kind, Kind::duplicate);
  EXPECT_EQ(waited[0].event.id, "evt_1");
  EXPECT_EQ(waited[0].event.offset, 7u);
  EXPECT_EQ(waited[1].kind, Kind::conflict);
  ASSERT_EQ(index.claim("k", 1, answer), Claim::answered);
  EXPECT_EQ(answer.kind, Kind::duplicate);
  EXPECT_EQ(answer.event.epoch, "ep");
  ASSERT_EQ(index.claim("k", 3, answer), Claim::answered);
  EXPECT_EQ(answer.kind, Kind::conflict);
}

TEST(IdempotencyIndex, AnAbandonedKeyTellsItsWaitersAndIsFree) {
  IdempotencyIndex index(nullptr);
  IdempotencyIndex::Answer answer;
  ASSERT_EQ(index.claim("k", 1, answer), Claim::owned);
  std::optional<IdempotencyIndex::Answer> waited;
  ASSERT_EQ(index.claim("k", 1, answer, [&](const IdempotencyIndex::Answer& a) { waited = a; }), Claim::waiting);
  index.abandon("k", std::make_error_code(std::errc::io_error));
  ASSERT_TRUE(waited);
  EXPECT_EQ(waited->kind, Kind::failed);
  EXPECT_EQ(waited->error, std::errc::io_error);
  EXPECT_EQ(index.claim("k", 1, answer), Claim::owned);  // nothing was published: free again
}

TEST(IdempotencyIndex, KeysExpireAfterTheWindowAndBeyondTheCount) {
  FakeClock clock;
  IdempotencyIndex index(nullptr, {std::chrono::minutes(10), 2}, clock.clock());
  IdempotencyIndex::Answer answer;
  for (const char* key : {"a", "b", "c"}) {
    ASSERT_EQ(index.claim(key, 1, answer), Claim::owned);
    index.complete(key, {std::string("evt_") + key, "t", 1, "ep"});
  }
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.claim("a", 1, answer), Claim::owned);  // the oldest went first
  index.abandon("a", std::make_error_code(std::errc::io_error));
  EXPECT_EQ(index.claim("c", 1, answer), Claim::answered);
  clock.advance(11 * 60'000);
  EXPECT_EQ(index.claim("c", 1, answer), Claim::owned);
}

// A key memory does not have is looked up in the store, within the window.
TEST(IdempotencyIndex, FindsKeysInTheStore) {
  MemoryStore store;
  store::StoredEvent stored;
  stored.id = "evt_s";
  stored.topic = "t";
  stored.offset = 3;
  stored.epoch = "ep";
  stored.time_ms = 1'800'000'000'000 - 60'000;
  stored.data = R"({ "a" : 1 })";  // spelled differently from boost::json's form
  stored.idempotency_key = "k";
  ASSERT_FALSE(store.append(std::span(&stored, 1)));
  FakeClock clock;
  IdempotencyIndex index(&store, {std::chrono::minutes(10), 100}, clock.clock());
  const auto print = IdempotencyIndex::fingerprint("t", "", "", R"({"a":1})");
  IdempotencyIndex::Answer answer;
  ASSERT_EQ(index.claim("k", print, answer), Claim::answered);
  EXPECT_EQ(answer.kind, Kind::duplicate);
  EXPECT_EQ(answer.event.id, "evt_s");
  EXPECT_EQ(answer.event.offset, 3u);
  ASSERT_EQ(index.claim("k", print + 1, answer), Claim::answered);
  EXPECT_EQ(answer.kind, Kind::conflict);
  // The event's own time counts: ten minutes after it, the key is free.
  clock.advance(9 * 60'000 + 1);
  EXPECT_EQ(index.claim("k", print, answer), Claim::owned);
}

// A store that says when its newest keyed event is (nullopt: none).
class KeyedStore : public MemoryStore {
 public:
  explicit KeyedStore(std::optional<std::int64_t> newest) : newest_(newest) {}
  std::optional<std::int64_t> newest_idempotent_time() override { return newest_; }

 private:
  std::optional<std::int64_t> newest_;
};

// The store is asked about a key memory does not have only while it may know
// one: keys stored before the index started, or forgotten early, still in the window.
TEST(IdempotencyIndex, AsksTheStoreOnlyWhileItMayKnowMoreThanMemory) {
  FakeClock clock;
  IdempotencyIndex::Answer answer;
  {
    KeyedStore none(std::nullopt);  // no keyed events: memory knows every key
    IdempotencyIndex index(&none, {std::chrono::minutes(10), 2}, clock.clock());
    for (const char* key : {"a", "b", "c"}) {
      ASSERT_EQ(index.claim(key, 1, answer), Claim::owned);
      index.complete(key, {std::string("evt_") + key, "t", 1, "ep"});
    }
    EXPECT_EQ(index.store_lookups(), 0u);
    // "a" was forgotten early (count bound), inside the window: misses ask the store again.
    EXPECT_EQ(index.claim("d", 1, answer), Claim::owned);
    EXPECT_EQ(index.store_lookups(), 1u);
    index.abandon("d", std::make_error_code(std::errc::io_error));
    clock.advance(10 * 60'000 + 1);  // ... until that key is out of the window
    EXPECT_EQ(index.claim("e", 1, answer), Claim::owned);
    EXPECT_EQ(index.store_lookups(), 1u);
  }
  {
    KeyedStore recent(clock.now->load() - 60'000);  // a key stored a minute ago
    IdempotencyIndex index(&recent, {std::chrono::minutes(10), 100}, clock.clock());
    EXPECT_EQ(index.claim("x", 1, answer), Claim::owned);
    EXPECT_EQ(index.store_lookups(), 1u);
    index.abandon("x", std::make_error_code(std::errc::io_error));
    clock.advance(9 * 60'000 + 1);  // that key is out of the window now
    EXPECT_EQ(index.claim("y", 1, answer), Claim::owned);
    EXPECT_EQ(index.store_lookups(), 1u);
  }
}

// --- in-band /v1/ws ---

json::object keyed_publish(int id, const std::string& topic, json::value data, const std::string& key) {
  return {{"op", "publish"}, {"id", id}, {"topic", topic}, {"data", std::move(data)}, {"idempotencyKey", key}};
}

// The acks and errors with this request id.
std::vector<json::object> replies_to(const JsonClient& c, int id) {
  std::vector<json::object> out;
  for (const auto& m : c.messages) {
    if (m.at("type") != "event" && m.contains("id") && m.at("id") == id) out.push_back(m);
  }
  return out;
}

void expect_same_event(const json::object& a, const json::object& b) {
  for (const char* field : {"eventId", "topic", "offset", "epoch"}) EXPECT_EQ(a.at(field), b.at(field)) << field;
}

TEST(InbandIdempotency, RepeatIsAckedWithTheFirstEventAndPublishesNothing) {
  TestServer server;
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  c.subscribe("pay");
  ASSERT_TRUE(run_until(io, [&] { return c.count("ack") == 1; }));
  c.send(keyed_publish(2, "pay", {{"amount", 10}}, "req-1"));
  ASSERT_TRUE(run_until(io, [&] { return replies_to(c, 2).size() == 1; }));
  // Same content, spelled another way (key order), under the same key.
  c.send({{"op", "publish"}, {"id", 3}, {"idempotencyKey", "req-1"}, {"data", {{"amount", 10}}}, {"topic", "pay"}});
  ASSERT_TRUE(run_until(io, [&] { return replies_to(c, 3).size() == 1; }));
  const auto first = replies_to(c, 2)[0], repeat = replies_to(c, 3)[0];
  EXPECT_EQ(first.at("type"), "ack");
  EXPECT_FALSE(first.contains("duplicate"));
  EXPECT_EQ(repeat.at("type"), "ack");
  EXPECT_EQ(repeat.at("op"), "publish");
  EXPECT_EQ(repeat.at("duplicate"), true);
  expect_same_event(first, repeat);
  EXPECT_EQ(first.at("offset"), 1);
  // One event published, one delivered.
  EXPECT_EQ(server.server->broker().published(), 1u);
  c.publish("pay", "marker", 4);
  ASSERT_TRUE(run_until(io, [&] { return c.count("event") == 2; }));
  EXPECT_EQ(c.events()[0].at("data").at("amount"), 10);
  EXPECT_EQ(c.events()[1].at("data"), "marker");
}

TEST(InbandIdempotency, KeyReusedForOtherContentIsAConflict) {
  TestServer server;
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  c.send(keyed_publish(1, "pay", 1, "k"));
  ASSERT_TRUE(run_until(io, [&] { return replies_to(c, 1).size() == 1; }));
  c.send(keyed_publish(2, "pay", 2, "k"));              // other data
  c.send(keyed_publish(3, "pay.other", 1, "k"));        // other topic
  auto typed = keyed_publish(4, "pay", 1, "k");
  typed["type"] = "refund";                             // other type
  c.send(typed);
  c.send({{"op", "publish"}, {"id", 5}, {"topic", "pay"}, {"data", 1}, {"idempotencyKey", 7}});  // not a string
  ASSERT_TRUE(run_until(io, [&] { return c.count("error") == 4; }));
  for (int id : {2, 3, 4}) {
    const auto r = replies_to(c, id);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].at("type"), "error");
    EXPECT_EQ(r[0].at("code"), "idempotency_conflict") << id;
  }
  EXPECT_EQ(replies_to(c, 5)[0].at("code"), "bad_request");
  EXPECT_EQ(server.server->broker().published(), 1u);
  EXPECT_TRUE(c.open && !c.closed);
}

// With the durable store the first publish is still being committed when the
// repeat arrives (or just done): either way the repeat gets the first's event.
TEST(InbandIdempotency, RepeatWhileTheFirstIsBeingStoredGetsItsEvent) {
  store::testing::TempDir dir;
  auto settings = test_settings();
  settings.store = "sqlite";
  settings.data_dir = dir.str();
  TestServer server(settings);
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  constexpr int kKeys = 50;
  for (int k = 0; k < kKeys; ++k) {
    for (int repeat = 0; repeat < 3; ++repeat) c.send(keyed_publish(k * 3 + repeat, "d", k, "key-" + std::to_string(k)));
  }
  ASSERT_TRUE(run_until(io, [&] { return c.count("ack") == 3 * kKeys; })) << c.count("ack") << " acks, "
                                                                         << c.count("error") << " errors";
  // On one connection the first publish of a key is acked before its repeats.
  std::map<std::int64_t, std::size_t> position;  // request id -> where its ack came
  for (std::size_t i = 0; i < c.messages.size(); ++i) position[c.messages[i].at("id").as_int64()] = i;
  for (int k = 0; k < kKeys; ++k) {
    const auto first = replies_to(c, k * 3)[0];
    EXPECT_FALSE(first.contains("duplicate"));
    EXPECT_LT(position[k * 3], position[k * 3 + 1]);
    EXPECT_LT(position[k * 3], position[k * 3 + 2]);
    for (int repeat = 1; repeat < 3; ++repeat) {
      const auto r = replies_to(c, k * 3 + repeat)[0];
      EXPECT_EQ(r.at("duplicate"), true);
      expect_same_event(first, r);
    }
  }
  EXPECT_EQ(server.server->event_store()->read("d", 0, 1000).size(), static_cast<std::size_t>(kKeys));
}

TEST(InbandIdempotency, HttpAndWebSocketShareKeys) {
  TestServer server;
  RawHttp http(server.server->port());
  const std::string created = http.post("/v1/events", R"({"topic":"x","data":{"n":1},"idempotencyKey":"via-http"})");
  ASSERT_EQ(created.substr(0, 4), "201 ") << created;
  const auto posted = json::parse(created.substr(4)).as_object();
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  c.send(keyed_publish(1, "x", {{"n", 1}}, "via-http"));
  c.send(keyed_publish(2, "x", {{"n", 2}}, "via-ws"));
  ASSERT_TRUE(run_until(io, [&] { return c.count("ack") == 2; }));
  const auto repeat = replies_to(c, 1)[0];
  EXPECT_EQ(repeat.at("duplicate"), true);
  EXPECT_EQ(repeat.at("eventId"), posted.at("id"));
  EXPECT_EQ(repeat.at("offset"), posted.at("offset"));
  const auto ws = replies_to(c, 2)[0];
  const std::string replayed = http.post("/v1/events", R"({"topic":"x","data":{"n":2},"idempotencyKey":"via-ws"})");
  ASSERT_EQ(replayed.substr(0, 4), "200 ") << replayed;
  EXPECT_EQ(json::parse(replayed.substr(4)).at("id"), ws.at("eventId"));
  EXPECT_EQ(http.post("/v1/events", R"({"topic":"x","data":3,"idempotencyKey":"via-ws"})").substr(0, 4), "409 ");
  EXPECT_EQ(server.server->broker().published(), 2u);
}

// The real binary over its SQLite store, killed with SIGKILL after the acks:
// after a restart, repeats of keys used over /v1/ws and HTTP return the
// original {eventId, offset, epoch} and publish nothing.
TEST(InbandIdempotency, RepeatAfterARestartReturnsTheOriginal) {
  store::testing::TempDir dir;
  json::object ws_first;
  json::value http_first;
  {
    ServerProcess sluice(dir.str());
    ASSERT_NE(sluice.port(), 0) << "server did not start";
    asio::io_context io;
    JsonClient c(io, net::WsUrl{false, "127.0.0.1", sluice.port(), "/v1/ws"});
    ASSERT_TRUE(run_until(io, [&] { return c.open; }));
    c.send(keyed_publish(1, "orders", {{"n", 1}}, "order-1"));
    ASSERT_TRUE(run_until(io, [&] { return c.count("ack") == 1; }));
    ws_first = replies_to(c, 1)[0];
    RawHttp http(sluice.port());
    const std::string r = http.post("/v1/events", R"({"topic":"orders","data":{"n":2},"idempotencyKey":"order-2"})");
    ASSERT_EQ(r.substr(0, 4), "201 ") << r;
    http_first = json::parse(r.substr(4));
    sluice.kill_now();
  }
  ServerProcess sluice(dir.str());
  ASSERT_NE(sluice.port(), 0) << "server did not restart";
  asio::io_context io;
  JsonClient c(io, net::WsUrl{false, "127.0.0.1", sluice.port(), "/v1/ws"});
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  c.send(keyed_publish(1, "orders", {{"n", 1}}, "order-1"));
  c.send(keyed_publish(2, "orders", {{"n", 2}}, "order-2"));
  c.send(keyed_publish(3, "orders", {{"n", 99}}, "order-1"));
  ASSERT_TRUE(run_until(io, [&] { return c.count("ack") + c.count("error") == 3; }));
  const auto a = replies_to(c, 1)[0], b = replies_to(c, 2)[0], conflict = replies_to(c, 3)[0];
  EXPECT_EQ(a.at("duplicate"), true);
  expect_same_event(ws_first, a);
  EXPECT_EQ(b.at("duplicate"), true);
  EXPECT_EQ(b.at("eventId"), http_first.at("id"));
  EXPECT_EQ(b.at("offset"), http_first.at("offset"));
  EXPECT_EQ(b.at("epoch"), http_first.at("epoch"));
  EXPECT_EQ(conflict.at("code"), "idempotency_conflict");
  RawHttp http(sluice.port());
  const std::string r = http.post("/v1/events", R"({"topic":"orders","data":{"n":1},"idempotencyKey":"order-1"})");
  ASSERT_EQ(r.substr(0, 4), "200 ") << r;
  EXPECT_EQ(json::parse(r.substr(4)).at("id"), ws_first.at("eventId"));
  // Nothing was published again: history holds the two events, and the next
  // publish takes offset 3.
  c.send({{"op", "subscribe"}, {"id", 10}, {"topic", "orders"}, {"since", {{"offset", 0}}}});
  ASSERT_TRUE(run_until(io, [&] { return c.count("event") == 2; }));
  c.send(keyed_publish(11, "orders", {{"n", 3}}, "order-3"));
  ASSERT_TRUE(run_until(io, [&] { return replies_to(c, 11).size() == 1; }));
  EXPECT_EQ(replies_to(c, 11)[0].at("offset"), 3);
  EXPECT_EQ(replies_to(c, 10)[0].at("replayed"), 2);
}

}  // namespace
}  // namespace sluice::test
