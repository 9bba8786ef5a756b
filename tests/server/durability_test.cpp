// SPEC §3 storage: `sluice serve` killed with SIGKILL at random moments while
// publishing loses no acknowledged event: after each restart every event that
// was acked is in history, with its offset, exactly once.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>

#include "server/server_harness.hpp"
#include "server/server_process.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

TEST(ServerDurability, AcknowledgedEventsSurviveSigkill) {
  const auto dir = std::filesystem::temp_directory_path() / ("sluice-durability-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::mt19937 rng(2026);
  std::map<std::int64_t, std::int64_t> acked;  // offset -> the publish's sequence number
  std::int64_t sequence = 0;
  for (int round = 0; round < 3; ++round) {
    ServerProcess server(dir.string());
    ASSERT_NE(server.port(), 0) << "server did not start";
    asio::io_context io;
    JsonClient c(io, net::WsUrl{false, "127.0.0.1", server.port(), "/v1/ws"});
    ASSERT_TRUE(run_until(io, [&] { return c.open; }));
    // First: everything acknowledged so far is in history, once, in order.
    c.send({{"op", "subscribe"}, {"id", "replay"}, {"topic", "durable"}, {"since", json::object{{"offset", 0}}}});
    // The ack says how many events the replay holds (acked ones, and perhaps
    // some stored just before the kill whose ack never left).
    ASSERT_TRUE(run_until(io, [&] { return c.count("ack") == 1; }));
    const auto replayed = static_cast<std::size_t>(c.of_type("ack")[0].at("replayed").as_int64());
    EXPECT_TRUE(c.of_type("ack")[0].at("recovered").as_bool());
    ASSERT_TRUE(run_until(io, [&] { return c.count("event") == replayed; }));
    std::map<std::int64_t, std::int64_t> stored;
    std::int64_t expected_offset = 1;
    for (const auto& e : c.events()) {
      const auto offset = e.at("offset").as_int64();
      ASSERT_EQ(offset, expected_offset++) << "gap or duplicate in history";
      stored[offset] = e.at("data").as_int64();
    }
    for (const auto& [offset, seq] : acked) {
      ASSERT_TRUE(stored.contains(offset)) << "acknowledged offset " << offset << " lost (round " << round << ")";
      EXPECT_EQ(stored[offset], seq);
    }
    // Then publish, and kill the server after a random number of acks.
    // Keep the commit pipeline busy (200 publishes in flight, one more per
    // ack), so the kill lands while events are between "received" and "stored".
    const std::size_t kill_after = 300 + rng() % 2000;
    std::size_t acks_this_round = 0;
    auto publish_next = [&] {
      c.publish("durable", sequence, static_cast<int>(sequence));
      ++sequence;
    };
    for (int i = 0; i < 200; ++i) publish_next();
    ASSERT_TRUE(run_until(io, [&] {
      for (const auto& m : c.messages) {
        if (m.at("type").as_string() != "ack" || !m.contains("offset")) continue;
        const auto seq = m.at("id").as_int64();
        if (acked.emplace(m.at("offset").as_int64(), seq).second) ++acks_this_round;
        publish_next();
      }
      c.messages.clear();
      return acks_this_round >= kill_after;
    }));
    server.kill_now();
  }
  std::filesystem::remove_all(dir);
  EXPECT_GT(acked.size(), 150u);
}

}  // namespace
}  // namespace sluice::test
