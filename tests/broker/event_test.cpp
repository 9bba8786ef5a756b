// An event's serialized forms (SPEC §3 event shape): the JSON, the WebSocket
// frame that carries it, the time format, and data parsed once on demand.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdio>
#include <ctime>
#include <thread>
#include <vector>

#include "sluice/broker/event.hpp"
#include "sluice/protocol/frame.hpp"

namespace sluice::broker {
namespace {

namespace json = boost::json;

// Views: `topic` and `data` must outlive the make_event call.
EventFields fields(std::string_view topic, std::string_view data) {
  EventFields e;
  e.id = "evt_0123456789abcdef01234567";
  e.topic = topic;
  e.offset = 42;
  e.epoch = "00000000000000aa";
  e.time_ms = 1'795'000'000'123;
  e.data = data;
  return e;
}

// What format_time must give, computed independently of its per-second cache.
std::string reference_time(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buffer;
}

TEST(Event, TimeIsIsoWithMillisecondsAcrossSecondsAndDays) {
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time(1'795'000'000'123), "2026-11-18T11:06:40.123Z");
  // Within one second, across a second, back again, across midnight and a year.
  for (std::int64_t ms : {1'795'000'000'123LL, 1'795'000'000'999LL, 1'795'000'001'000LL, 1'795'000'000'001LL,
                          1'795'046'399'999LL, 1'795'046'400'000LL, 1'798'761'599'999LL, 1'798'761'600'000LL, 7LL}) {
    EXPECT_EQ(format_time(ms), reference_time(ms)) << ms;
  }
}

TEST(Event, JsonIsTheFramesPayloadMinusTheEnvelope) {
  for (const std::size_t size : {10u, 200u, 70'000u}) {  // 2-, 4- and 10-byte frame headers
    const std::string data = "{\"pad\":\"" + std::string(size, 'x') + "\"}";
    const auto e = make_event(fields("orders.eu", data));
    const auto object = json::parse(e->json).as_object();
    EXPECT_EQ(object.at("id").as_string(), "evt_0123456789abcdef01234567");
    EXPECT_EQ(object.at("topic").as_string(), "orders.eu");
    EXPECT_EQ(object.at("offset").as_int64(), 42);
    EXPECT_EQ(object.at("epoch").as_string(), "00000000000000aa");
    EXPECT_FALSE(object.contains("type"));
    EXPECT_FALSE(object.contains("key"));
    EXPECT_EQ(object.at("time").as_string(), "2026-11-18T11:06:40.123Z");
    EXPECT_EQ(json::serialize(object.at("data")), data);

    const std::string payload = "{\"type\":\"event\",\"event\":" + std::string(e->json) + "}";
    const auto header = protocol::make_server_header(protocol::Opcode::text, payload.size());
    const std::string expected =
        std::string(reinterpret_cast<const char*>(header.bytes.data()), header.size) + payload;
    EXPECT_EQ(*e->frame, expected) << size;
  }
}

TEST(Event, TextThatNeedsEscapingIsEscapedAsBoostJsonDoes) {
  EventFields in = fields("t", "1");
  in.type = "say \"hi\"\\\n";
  const std::string key = std::string("k\x01", 2) + "\xc3\xa9";
  in.key = key;
  const auto e = make_event(in);
  const auto object = json::parse(e->json).as_object();
  EXPECT_EQ(object.at("type").as_string(), "say \"hi\"\\\n");
  EXPECT_EQ(object.at("key").as_string(), std::string("k\x01", 2) + "\xc3\xa9");
  EXPECT_NE(e->json.find(json::serialize(json::string("say \"hi\"\\\n"))), std::string_view::npos);
}

TEST(Event, DataIsParsedOnceForEveryThread) {
  const auto e = make_event(fields("t", R"({"amount":150,"ok":true})"));
  std::vector<const json::value*> seen(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) threads.emplace_back([&, i] { seen[i] = &e->parsed_data(); });
  for (auto& t : threads) t.join();
  for (const auto* v : seen) EXPECT_EQ(v, seen[0]);  // one value, shared
  EXPECT_EQ(seen[0]->at("amount").as_int64(), 150);
  EXPECT_TRUE(make_event(fields("t", "not json"))->parsed_data().is_null());
}

TEST(Event, ParsedDataCacheMovesWithIt) {
  Event::ParsedData a;
  Event::ParsedData b(std::move(a));  // an empty cache moves
  EXPECT_EQ(b.get("[2]").as_array().at(0).as_int64(), 2);
  Event::ParsedData c(std::move(b));  // a filled one moves its value
  EXPECT_EQ(c.get("ignored: cached").as_array().at(0).as_int64(), 2);
  a = std::move(c);
  EXPECT_EQ(a.get("ignored: cached").as_array().at(0).as_int64(), 2);
}

}  // namespace
}  // namespace sluice::broker
