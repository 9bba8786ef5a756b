// The one publish door (server::PublishService): HTTP and /v1/ws publishes
// follow the same limits and keep `data` as written, and a /v1/ws publish
// cannot land inside an HTTP batch.
#include <gtest/gtest.h>

#include "server/http_test_util.hpp"
#include "store/store_test_util.hpp"
#include "server/server_harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

// The event objects of a topic's history, as the HTTP API writes them.
std::string history_text(TestServer& server, const std::string& topic) {
  RawHttp c(server.server->port());
  c.write("GET /v1/events?topic=" + topic + " HTTP/1.1\r\nHost: x\r\n\r\n");
  return c.read_response();
}

// A metric's value from the server's /metrics text (-1 when absent).
double metric(TestServer& server, const std::string& name) {
  RawHttp http(server.server->port());
  http.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string text = http.read_response();
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

// The /v1/ws publishes read in one loop turn make one group commit of the
// durable store (its writer is woken when the turn ends, not by the first
// publish), as HTTP requests of one turn do: one fsync and one fan-out batch.
TEST(PublishDoor, WebSocketPublishesReadInOneTurnMakeOneGroupCommit) {
  store::testing::TempDir dir;
  auto settings = test_settings();
  settings.threads = 1;
  settings.store = "sqlite";
  settings.data_dir = dir.str();
  TestServer server(settings);
  RawWsPeer publisher(server.server->port());
  constexpr int kEvents = 20;  // ~1.4 KiB of frames: one write, read in one go
  protocol::Codec codec(protocol::Role::client);
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_FALSE(codec.send_text(R"({"op":"publish","id":)" + std::to_string(i) + R"(,"topic":"turn","data":)" +
                                 std::to_string(i) + "}"));
  }
  asio::write(publisher.socket, asio::buffer(codec.pending_output().data(), codec.pending_output().size()));
  ASSERT_TRUE(eventually([&] { return metric(server, "sluice_store_commit_events_sum") >= kEvents; }));
  EXPECT_EQ(metric(server, "sluice_store_commit_events_sum"), kEvents);
  EXPECT_EQ(metric(server, "sluice_store_commit_events_count"), 1) << "one commit for one turn's publishes";
  EXPECT_EQ(server.server->broker().published(), static_cast<std::uint64_t>(kEvents));
}

TEST(PublishDoor, WebSocketDataIsPublishedAsWrittenLikeHttp) {
  TestServer server;
  asio::io_context io;
  JsonClient client(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return client.open; }));
  // Numbers a double cannot hold, and spellings a parser would rewrite.
  (void)client.connection->send_text(R"({"op":"publish","id":1,"topic":"door.ws","data": {"big": 1e400, "n": 1.10, "i": 123456789012345678901234567890}})");
  ASSERT_TRUE(run_until(io, [&] { return client.count("ack") == 1; }));
  RawHttp http(server.server->port());
  EXPECT_EQ(http.post("/v1/events", R"({"topic":"door.http","data": {"big": 1e400, "n": 1.10, "i": 123456789012345678901234567890}})")
                .substr(0, 3),
            "201");
  const std::string written = R"("data":{"big":1e400,"n":1.10,"i":123456789012345678901234567890})";
  EXPECT_NE(history_text(server, "door.ws").find(written), std::string::npos) << history_text(server, "door.ws");
  EXPECT_NE(history_text(server, "door.http").find(written), std::string::npos) << history_text(server, "door.http");
}

TEST(PublishDoor, WebSocketFollowsTheSameLimitsAsHttp) {
  TestServer server;
  asio::io_context io;
  JsonClient client(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return client.open; }));
  const std::string long_type(257, 't');
  client.send({{"op", "publish"}, {"id", 1}, {"topic", "door.l"}, {"data", 1}, {"type", long_type}});
  client.send({{"op", "publish"}, {"id", 2}, {"topic", "door.l"}, {"data", 1}, {"key", long_type}});
  client.send({{"op", "publish"}, {"id", 3}, {"topic", "door.l"}, {"data", 1}, {"idempotencyKey", long_type}});
  client.send({{"op", "publish"}, {"id", 4}, {"topic", "door.l"}, {"data", 1}, {"tpye", "x"}});
  client.send({{"op", "publish"}, {"id", 5}, {"topic", "door.l"}, {"data", 1}, {"type", std::string(256, 't')}});
  ASSERT_TRUE(run_until(io, [&] { return client.count("error") + client.count("ack") == 5; }));
  const auto errors = client.of_type("error");
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_NE(errors[0].at("message").as_string().find("longer than 256 bytes"), std::string::npos);
  EXPECT_NE(errors[3].at("message").as_string().find("unknown field \"tpye\""), std::string::npos);
  EXPECT_EQ(client.count("ack"), 1u);  // 256 bytes is allowed, over HTTP too
  EXPECT_EQ(server.server->broker().published(), 1u);
  RawHttp http(server.server->port());
  EXPECT_EQ(http.post("/v1/events", R"({"topic":"door.l","data":1,"type":")" + long_type + "\"}").substr(0, 3), "400");
}

// A batch takes the door alone: its events of one topic get consecutive
// offsets even while /v1/ws publishes the same topic (they used to bypass
// the batch's lock).
TEST(PublishDoor, AWebSocketPublishNeverLandsInsideAnHttpBatch) {
  TestServer server;
  asio::io_context io;
  JsonClient client(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return client.open; }));
  std::atomic<bool> stop{false};
  std::thread ws_publisher([&] {
    asio::io_context own;
    JsonClient flood(own, server.url());
    run_until(own, [&] { return flood.open; });
    int n = 0;
    while (!stop.load()) {
      flood.publish("door.b", n++);
      own.run_for(std::chrono::microseconds(200));
    }
  });
  std::string body = R"({"events":[)";
  for (int i = 0; i < 50; ++i) body += std::string(i ? "," : "") + R"({"topic":"door.b","data":"batch"})";
  body += "]}";
  for (int round = 0; round < 20; ++round) {
    RawHttp http(server.server->port());
    const std::string r = http.post("/v1/events/batch", body);
    ASSERT_EQ(r.substr(0, 3), "201") << r;
    const auto events = json::parse(r.substr(4)).at("events").as_array();
    for (std::size_t i = 1; i < events.size(); ++i) {
      EXPECT_EQ(events[i].at("offset").as_int64(), events[i - 1].at("offset").as_int64() + 1) << "round " << round;
    }
  }
  stop = true;
  ws_publisher.join();
}

// GET /v1/events/{id} finds events from every front door, also without a
// store (the id index lived in the HTTP API and knew only its own publishes).
TEST(PublishDoor, EventsPublishedOverWebSocketAreFoundByIdWithoutAStore) {
  TestServer server;  // memory store
  asio::io_context io;
  JsonClient client(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return client.open; }));
  client.publish("door.id", json::value{{"n", 7}});
  ASSERT_TRUE(run_until(io, [&] { return client.count("ack") == 1; }));
  const std::string id(client.of_type("ack")[0].at("eventId").as_string());
  RawHttp http(server.server->port());
  http.write("GET /v1/events/" + id + " HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string r = http.read_response();
  ASSERT_EQ(r.substr(0, 4), "200 ") << r;
  const auto event = json::parse(r.substr(4)).as_object();
  EXPECT_EQ(event.at("id").as_string(), id);
  EXPECT_EQ(event.at("topic").as_string(), "door.id");
  EXPECT_EQ(event.at("data").at("n").as_int64(), 7);
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

// Topics per server over /v1/ws: a publish that would create a topic past
// the limit gets an error reply with code too_many_topics; the connection
// stays open and existing topics go on.
TEST(PublishDoor, WebSocketPublishPastMaxTopicsIsTooManyTopics) {
  TestServer server;
  server.server->broker().set_max_topics(1);
  asio::io_context io;
  JsonClient client(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return client.open; }));
  client.publish("lim.one", 1, 1);
  ASSERT_TRUE(run_until(io, [&] { return client.count("ack") == 1; }));
  client.publish("lim.two", 1, 2);
  ASSERT_TRUE(run_until(io, [&] { return client.count("error") == 1; }));
  const auto error = client.of_type("error").at(0);
  EXPECT_EQ(error.at("code").as_string(), "too_many_topics");
  EXPECT_EQ(error.at("id").as_int64(), 2);
  EXPECT_NE(error.at("message").as_string().find("max-topics"), std::string::npos);
  client.publish("lim.one", 2, 3);
  ASSERT_TRUE(run_until(io, [&] { return client.count("ack") == 2; }));
  EXPECT_TRUE(client.open);
  EXPECT_EQ(server.server->broker().topics_refused(), 1u);
  EXPECT_EQ(server.server->broker().topic_count(), 1u);
}

}  // namespace
}  // namespace sluice::test
