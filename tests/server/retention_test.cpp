// Store retention (SPEC §3, history bounded by count, bytes and age): the
// sqlite store keeps what history keeps, trimmed by the retention thread; old
// events disappear from it, and a resume from before the trim point says
// recovered:false, before and after a restart.
#include <gtest/gtest.h>

#include "server/server_harness.hpp"
#include "server/store_retention.hpp"
#include "store/store_test_util.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

server::ServerSettings durable_settings(const std::string& dir) {
  auto s = test_settings();
  s.store = "sqlite";
  s.data_dir = dir;
  s.durability = store::Durability::os_buffered;
  s.retention_interval = 20ms;
  return s;
}

std::vector<std::uint64_t> stored_offsets(server::SluiceServer& server, const std::string& topic) {
  std::vector<std::uint64_t> out;
  for (const auto& e : server.event_store()->read(topic, 0, 100'000)) out.push_back(e.offset);
  return out;
}

// Subscribes to `topic` from `offset` and returns the ack once every replayed event is in.
json::object resume(asio::io_context& io, JsonClient& c, const std::string& topic, std::uint64_t offset, int id) {
  c.messages.clear();
  c.send({{"op", "subscribe"}, {"id", id}, {"topic", topic}, {"since", {{"offset", offset}}}});
  EXPECT_TRUE(run_until(io, [&] { return !c.of_type("ack").empty(); }));
  const auto ack = c.of_type("ack").at(0);
  const auto replayed = static_cast<std::size_t>(ack.at("replayed").as_int64());
  EXPECT_TRUE(run_until(io, [&] { return c.events().size() == replayed; }));
  return ack;
}

TEST(StoreRetention, TheStoreKeepsWhatHistoryKeepsByCount) {
  store::testing::TempDir dir;
  auto settings = durable_settings(dir.str());
  settings.history_max_events = 10;
  {
    TestServer server(settings);
    for (int i = 0; i < 100; ++i) server.server->broker().publish({"t", std::to_string(i), "", "", ""});
    server.server->broker().publish({"other", "1", "", "", ""});
    // The retention thread trims the store to history's 10 newest (91..100).
    ASSERT_TRUE(eventually([&] { return stored_offsets(*server.server, "t").size() == 10; }));
    const auto kept = stored_offsets(*server.server, "t");
    EXPECT_EQ(kept.front(), 91u);
    EXPECT_EQ(kept.back(), 100u);
    EXPECT_FALSE(server.server->event_store()->find("evt_none").has_value());
    EXPECT_EQ(stored_offsets(*server.server, "other").size(), 1u);  // under its bound: untouched

    asio::io_context io;
    JsonClient c(io, server.url());
    ASSERT_TRUE(run_until(io, [&] { return c.open; }));
    auto ack = resume(io, c, "t", 50, 1);  // trimmed past: not recovered, from the oldest kept
    EXPECT_FALSE(ack.at("recovered").as_bool());
    ASSERT_EQ(c.events().size(), 10u);
    EXPECT_EQ(c.events().front().at("offset"), 91);
    ack = resume(io, c, "t", 95, 2);
    EXPECT_TRUE(ack.at("recovered").as_bool());
    EXPECT_EQ(c.events().size(), 5u);
  }
  // After a restart the store still holds 91..100 only, and history is the same.
  TestServer server(settings);
  EXPECT_EQ(stored_offsets(*server.server, "t").size(), 10u);
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  auto ack = resume(io, c, "t", 90, 1);
  EXPECT_TRUE(ack.at("recovered").as_bool());  // 91 is the oldest kept: nothing missed
  EXPECT_EQ(c.events().size(), 10u);
  ack = resume(io, c, "t", 89, 2);
  EXPECT_FALSE(ack.at("recovered").as_bool());
  EXPECT_EQ(server.server->broker().publish({"t", "next", "", "", ""})->offset, 101u);
}

// An idle topic ages out of history at the next sweep, and out of the store;
// its offsets continue, and a resume from before says recovered:false.
TEST(StoreRetention, OldEventsLeaveTheStoreByAge) {
  store::testing::TempDir dir;
  auto settings = durable_settings(dir.str());
  settings.history_max_age = 300ms;
  TestServer server(settings);
  for (int i = 0; i < 5; ++i) server.server->broker().publish({"aging", std::to_string(i), "", "", ""});
  ASSERT_EQ(stored_offsets(*server.server, "aging").size(), 5u);
  ASSERT_TRUE(eventually([&] { return stored_offsets(*server.server, "aging").empty(); }));
  EXPECT_TRUE(server.server->broker().history("aging", 0, 100).empty());
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  const auto ack = resume(io, c, "aging", 2, 1);
  EXPECT_FALSE(ack.at("recovered").as_bool());
  EXPECT_EQ(ack.at("replayed"), 0);
  EXPECT_EQ(server.server->broker().publish({"aging", "later", "", "", ""})->offset, 6u);
}

// The byte bound applies to the store as well (sizes of the event frames).
TEST(StoreRetention, TheStoreKeepsWhatHistoryKeepsByBytes) {
  store::testing::TempDir dir;
  auto settings = durable_settings(dir.str());
  settings.history_max_bytes = 10 * 1024;
  TestServer server(settings);
  const std::string kilobyte = "\"" + std::string(1000, 'x') + "\"";
  for (int i = 0; i < 50; ++i) server.server->broker().publish({"big", kilobyte, "", "", ""});
  const auto in_history = server.server->broker().history("big", 0, 100).size();
  EXPECT_LT(in_history, 11u);
  ASSERT_TRUE(eventually([&] { return stored_offsets(*server.server, "big").size() == in_history; }));
  EXPECT_EQ(stored_offsets(*server.server, "big").front(), 51 - in_history);
}

}  // namespace
}  // namespace sluice::test
