// HTTP on the server's connections: keep-alive, pipelined requests answered in
// order, Connection: close, body and head limits, and an upgrade after plain
// requests on the same connection; durable publishes answered from the store's
// writer thread through each loop's reply inbox.
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <set>

#include "server/server_harness.hpp"
#include "store/store_test_util.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

TEST(ServerHttp, KeepAliveAndPipelinedRequestsAreAnsweredInOrder) {
  TestServer server;
  RawHttp c(server.server->port());
  c.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response(), "200 {\"status\":\"ok\"}");
  EXPECT_EQ(c.read_response(), "404 {\"error\":\"not_found\",\"message\":\"no route for /nope\"}");
  EXPECT_EQ(c.read_response().substr(0, 25), "200 {\"service\":\"sluice\",\"");
  // Still open: one more request on the same connection.
  c.write("GET /live HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response(), "200 {\"status\":\"ok\"}");
  c.write("GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(c.read_response(), "200 {\"status\":\"ok\"}");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(ServerHttp, LimitsGiveTheirStatus) {
  auto settings = test_settings();
  settings.max_body_bytes = 100;
  TestServer server(settings);
  {
    RawHttp c(server.server->port());
    c.write("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + std::string(101, 'x'));
    EXPECT_EQ(c.read_response().substr(0, 3), "413");
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    RawHttp c(server.server->port());
    c.write("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'y') + "\r\n\r\n");
    EXPECT_EQ(c.read_response().substr(0, 3), "431");
  }
  {
    RawHttp c(server.server->port());
    c.write("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(c.read_response().substr(0, 3), "400");
  }
  {
    RawHttp c(server.server->port());
    c.write("GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.read_response().substr(0, 3), "426");
  }
  {
    RawHttp c(server.server->port());
    c.write("GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    EXPECT_EQ(c.read_response().substr(0, 3), "404");
  }
}

TEST(ServerHttp, UpgradeAfterPlainRequestsOnOneConnection) {
  TestServer server;
  RawHttp c(server.server->port());
  c.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  EXPECT_EQ(c.read_response(), "200 {\"status\":\"ok\"}");
  asio::read_until(c.socket, c.in, "\r\n\r\n");
  std::string head(asio::buffers_begin(c.in.data()), asio::buffers_end(c.in.data()));
  EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 101");
  EXPECT_NE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos);
}

// With the durable store every publish is answered after its group commit,
// from the writer thread, through the connection's loop: each request gets
// exactly one answer, in order on its connection, and every offset is given once.
TEST(ServerHttp, DurablePublishesOnManyConnectionsAreEachAnsweredOnce) {
  store::testing::TempDir dir;
  auto settings = test_settings();  // two loops
  settings.store = "sqlite";
  settings.data_dir = dir.str();
  TestServer server(settings);
  constexpr int kConnections = 8, kPerConnection = 25;
  std::vector<std::unique_ptr<RawHttp>> clients;
  for (int c = 0; c < kConnections; ++c) clients.push_back(std::make_unique<RawHttp>(server.server->port()));
  for (int c = 0; c < kConnections; ++c) {
    std::string pipelined;
    for (int i = 0; i < kPerConnection; ++i) {
      const std::string body = R"({"topic":"durable.http","data":{"c":)" + std::to_string(c) + ",\"i\":" + std::to_string(i) + "}}";
      pipelined += "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    clients[c]->write(pipelined);
  }
  std::set<std::int64_t> offsets;
  std::string last_id;
  std::int64_t last_offset = 0;
  for (int c = 0; c < kConnections; ++c) {
    std::int64_t previous = 0;
    for (int i = 0; i < kPerConnection; ++i) {
      const std::string response = clients[c]->read_response();
      ASSERT_EQ(response.substr(0, 4), "201 ") << response;
      const auto body = json::parse(response.substr(4)).as_object();
      const auto offset = body.at("offset").as_int64();
      EXPECT_GT(offset, previous) << "answers out of order on connection " << c;
      previous = offset;
      EXPECT_TRUE(offsets.insert(offset).second) << "offset " << offset << " given twice";
      last_id = std::string(body.at("id").as_string());
      last_offset = offset;
    }
  }
  EXPECT_EQ(offsets.size(), static_cast<std::size_t>(kConnections * kPerConnection));
  EXPECT_EQ(*offsets.begin(), 1);
  EXPECT_EQ(*offsets.rbegin(), kConnections * kPerConnection);
  // Acknowledged means stored: the store finds the last one by id.
  RawHttp get(server.server->port());
  get.write("GET /v1/events/" + last_id + " HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string found = get.read_response();
  ASSERT_EQ(found.substr(0, 4), "200 ") << found;
  EXPECT_EQ(json::parse(found.substr(4)).at("offset").as_int64(), last_offset);
  const auto stored = server.server->event_store()->read("durable.http", 0, 1000);
  EXPECT_EQ(stored.size(), offsets.size());
}

}  // namespace
}  // namespace sluice::test
