// Resuming from history on /v1/ws: replay, then live, with no gap and no
// duplicate, even while events are published during the replay; and a clear
// `recovered: false` when history no longer covers the resume point.
#include <gtest/gtest.h>

#include <random>

#include "server/server_harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

json::object since(std::uint64_t offset, const std::string& epoch, const char* fallback = nullptr) {
  json::object s{{"offset", offset}, {"epoch", epoch}};
  if (fallback) s["fallback"] = fallback;
  return s;
}

std::vector<std::int64_t> offsets(const JsonClient& c, std::string_view topic) {
  std::vector<std::int64_t> out;
  for (const auto& e : c.events()) {
    if (e.at("topic").as_string() == topic) out.push_back(e.at("offset").as_int64());
  }
  return out;
}

TEST(ServerReplay, ResumesFromAnOffsetThenGoesLive) {
  TestServer server;
  std::string epoch;
  for (int i = 0; i < 100; ++i) epoch = server.server->broker().publish({"r.t", std::to_string(i), "", "", ""})->epoch;
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  c.send({{"op", "subscribe"}, {"id", 1}, {"topic", "r.t"}, {"since", since(40, epoch)}});
  ASSERT_TRUE(run_until(io, [&] { return c.count("event") == 60; }));
  const auto ack = c.of_type("ack").at(0);
  EXPECT_EQ(ack.at("recovered").as_bool(), true);
  EXPECT_EQ(ack.at("replayed").as_int64(), 60);
  // The ack comes before the replayed events.
  EXPECT_EQ(c.messages.front().at("type").as_string(), "ack");
  server.server->broker().publish({"r.t", "\"live\"", "", "", ""});
  ASSERT_TRUE(run_until(io, [&] { return c.count("event") == 61; }));
  std::vector<std::int64_t> expected;
  for (int i = 41; i <= 101; ++i) expected.push_back(i);
  EXPECT_EQ(offsets(c, "r.t"), expected);
}

// The property: for random interleavings of publishing and
// resubscribing, replayed + live events are exactly the published sequence.
TEST(ServerReplay, ReplayUnderConcurrentPublishingHasNoGapAndNoDuplicate) {
  TestServer server;
  std::mt19937 rng(7);
  // History events of ~1 KiB: a replay of a few MB must pace itself on the
  // 1 MiB send queue; the live ones are small (they must fit the queue).
  const std::string big = "\"" + std::string(1000, 'h') + "\"";
  for (int round = 0; round < 6; ++round) {
    const std::string topic = "race." + std::to_string(round);
    std::string epoch;
    const int before = 1000 + static_cast<int>(rng() % 3000);
    for (int i = 0; i < before; ++i) epoch = server.server->broker().publish({topic, big, "", "", ""})->epoch;
    const std::uint64_t resume = rng() % before;
    constexpr int kDuring = 3000;
    asio::io_context io;
    JsonClient c(io, server.url());
    ASSERT_TRUE(run_until(io, [&] { return c.open; }));
    Background publisher([&](std::atomic<bool>& stop) {
      for (int i = 0; i < kDuring && !stop; ++i) server.server->broker().publish({topic, "1", "", "", ""});
    });
    c.send({{"op", "subscribe"}, {"id", 1}, {"topic", topic}, {"since", since(resume, epoch)}});
    const std::size_t total = before + kDuring - resume;
    ASSERT_TRUE(run_until(io, [&] { return c.count("event") >= total || c.closed; }, 60s)) << "round " << round;
    ASSERT_FALSE(c.closed) << "closed with " << c.close_info.code << " " << c.close_info.reason << " after "
                           << c.count("event") << " of " << total << " events";
    publisher.join();
    c.send({{"op", "ping"}, {"id", 2}});  // anything extra would arrive before this answer
    ASSERT_TRUE(run_until(io, [&] { return c.count("ack") == 2; }));
    const auto got = offsets(c, topic);
    ASSERT_EQ(got.size(), total) << "round " << round;
    for (std::size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k], static_cast<std::int64_t>(resume + 1 + k)) << "round " << round << " at " << k;
    }
    EXPECT_TRUE(c.of_type("ack").at(0).at("recovered").as_bool());
  }
}

TEST(ServerReplay, UncoveredResumePointSaysRecoveredFalseAndFollowsTheFallback) {
  auto settings = test_settings();
  settings.history_max_events = 10;
  TestServer server(settings);
  std::string epoch;
  for (int i = 0; i < 50; ++i) epoch = server.server->broker().publish({"trim", std::to_string(i), "", "", ""})->epoch;
  asio::io_context io;
  JsonClient oldest(io, server.url()), latest(io, server.url()), wrong_epoch(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return oldest.open && latest.open && wrong_epoch.open; }));
  oldest.send({{"op", "subscribe"}, {"id", 1}, {"topic", "trim"}, {"since", since(5, epoch)}});
  latest.send({{"op", "subscribe"}, {"id", 1}, {"topic", "trim"}, {"since", since(5, epoch, "latest")}});
  wrong_epoch.send({{"op", "subscribe"}, {"id", 1}, {"topic", "trim"}, {"since", since(45, "not-the-epoch")}});
  ASSERT_TRUE(run_until(io, [&] {
    return oldest.count("ack") == 1 && latest.count("ack") == 1 && wrong_epoch.count("ack") == 1 &&
           oldest.count("event") == 10 && wrong_epoch.count("event") == 10;
  }));
  EXPECT_FALSE(oldest.of_type("ack")[0].at("recovered").as_bool());
  EXPECT_EQ(offsets(oldest, "trim").front(), 41);  // the oldest still in history
  EXPECT_FALSE(latest.of_type("ack")[0].at("recovered").as_bool());
  EXPECT_EQ(latest.count("event"), 0u);
  EXPECT_FALSE(wrong_epoch.of_type("ack")[0].at("recovered").as_bool());
  // An offset still covered is recovered.
  JsonClient covered(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return covered.open; }));
  covered.send({{"op", "subscribe"}, {"id", 1}, {"topic", "trim"}, {"since", since(45, epoch)}});
  ASSERT_TRUE(run_until(io, [&] { return covered.count("event") == 5; }));
  EXPECT_TRUE(covered.of_type("ack")[0].at("recovered").as_bool());
}

TEST(ServerReplay, PatternResumesPerTopicAndByTimeForNewTopics) {
  TestServer server;
  auto& broker = server.server->broker();
  std::string epoch_a;
  for (int i = 0; i < 5; ++i) epoch_a = broker.publish({"p.a", std::to_string(i), "", "", ""})->epoch;
  const auto t0 = broker.publish({"p.b", "0", "", "", ""})->time_ms;
  broker.publish({"p.b", "1", "", "", ""});
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  json::object s{{"topics", json::object{{"p.a", since(3, epoch_a)}}}, {"time", t0}};
  c.send({{"op", "subscribe"}, {"id", 1}, {"topic", "p.*"}, {"since", s}});
  ASSERT_TRUE(run_until(io, [&] { return c.count("event") == 4; }));
  EXPECT_EQ(offsets(c, "p.a"), (std::vector<std::int64_t>{4, 5}));
  EXPECT_EQ(offsets(c, "p.b"), (std::vector<std::int64_t>{1, 2}));
}

TEST(ServerReplay, BadSinceIsAClearError) {
  TestServer server;
  asio::io_context io;
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.open; }));
  c.send({{"op", "subscribe"}, {"id", 1}, {"topic", "x.*"}, {"since", json::object{{"offset", 3}}}});
  c.send({{"op", "subscribe"}, {"id", 2}, {"topic", "x"}, {"since", json::object{{"offset", -1}}}});
  c.send({{"op", "subscribe"}, {"id", 3}, {"topic", "x"}, {"since", json::object{{"offset", 1}, {"fallback", "never"}}}});
  ASSERT_TRUE(run_until(io, [&] { return c.count("error") == 3; }));
  const auto errors = c.of_type("error");
  EXPECT_EQ(errors[0].at("message").as_string(), "since.offset needs an exact topic; for a pattern use since.topics and since.time");
  EXPECT_EQ(errors[1].at("message").as_string(), "since.offset must be a number >= 0");
  EXPECT_EQ(errors[2].at("message").as_string(), "since.fallback must be \"oldest\" or \"latest\"");
  EXPECT_EQ(c.count("ack"), 0u);
}

}  // namespace
}  // namespace sluice::test
