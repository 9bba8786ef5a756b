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

#include "server/subscription_test_util.hpp"
#include "server/server_harness.hpp"
#include "sluice/auth/key_file_edit.hpp"
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

// Every status line carries its own reason phrase (409 said "Bad Request").
TEST(ServerHttp, StatusLinesCarryTheirStandardReasonPhrase) {
  TestServer server;
  RawHttp c(server.server->port());
  c.post("/v1/events", R"({"topic":"r.p","idempotencyKey":"k1","data":1})");
  EXPECT_EQ(c.post("/v1/events", R"({"topic":"r.p","idempotencyKey":"k1","data":2})").substr(0, 3), "409");
  EXPECT_TRUE(c.head.starts_with("HTTP/1.1 409 Conflict\r\n")) << c.head;
  c.write("DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().substr(0, 3), "405");
  EXPECT_TRUE(c.head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << c.head;
  c.write("GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().substr(0, 3), "426");
  EXPECT_TRUE(c.head.starts_with("HTTP/1.1 426 Upgrade Required\r\n")) << c.head;
}

// RFC 9112 §3.2: an HTTP/1.1 request without Host, or with two, is a 400.
TEST(ServerHttp, Http11RequestWithoutExactlyOneHostIs400) {
  TestServer server;
  {
    RawHttp c(server.server->port());
    c.write("GET /health HTTP/1.1\r\n\r\n");
    const std::string r = c.read_response();
    EXPECT_EQ(r.substr(0, 3), "400") << r;
    EXPECT_NE(r.find("Host"), std::string::npos) << r;
    EXPECT_TRUE(c.head.starts_with("HTTP/1.1 400 Bad Request\r\n")) << c.head;
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    RawHttp c(server.server->port());
    c.write("GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    EXPECT_EQ(c.read_response().substr(0, 3), "400");
  }
  {
    RawHttp c(server.server->port());  // HTTP/1.0 has no such rule
    c.write("GET /health HTTP/1.0\r\n\r\n");
    EXPECT_EQ(c.read_response(), "200 {\"status\":\"ok\"}");
  }
  {
    RawHttp c(server.server->port());  // nor does the upgrade get past it
    c.write("GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    EXPECT_EQ(c.read_response().substr(0, 3), "400");
  }
}

// At --max-connections, upgrades get 503 but probes and the API are still
// answered (one request per such connection), so a liveness probe never fails
// a healthy server.
TEST(ServerHttp, AtMaxConnectionsProbesAreAnsweredAndUpgradesGet503) {
  auto settings = test_settings();
  settings.max_connections = 2;
  TestServer server(settings);
  std::vector<std::unique_ptr<RawHttp>> holders;
  for (int i = 0; i < 2; ++i) {
    holders.push_back(std::make_unique<RawHttp>(server.server->port()));
    holders.back()->upgrade("/v1/ws");
    EXPECT_TRUE(holders.back()->read_status_line().starts_with("HTTP/1.1 101")) << holders.back()->head;
  }
  {
    RawHttp probe(server.server->port());
    probe.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(probe.read_response(), "200 {\"status\":\"ok\"}");
    EXPECT_NE(probe.head.find("Connection: close"), std::string::npos) << probe.head;
    EXPECT_TRUE(probe.closed_by_peer());  // it cannot hold a place beyond the limit
  }
  {
    RawHttp api(server.server->port());
    EXPECT_EQ(api.post("/v1/events", R"({"topic":"m.c","data":1})").substr(0, 3), "201");
  }
  {
    RawHttp over(server.server->port());
    over.upgrade("/v1/ws");
    EXPECT_TRUE(over.read_status_line().starts_with("HTTP/1.1 503 Service Unavailable")) << over.head;
  }
}

// A bad query parameter on a subscription stream is a 400 before the upgrade,
// not a `connected` message followed by a close.
TEST(ServerHttp, StreamWithABadParameterIs400BeforeTheUpgrade) {
  TestServer server;
  server::SubscriptionSpec spec;
  spec.patterns = {"s.one"};
  const auto created = create_now(server.server->subscriptions(), std::move(spec), 0);
  ASSERT_TRUE(created.subscription) << created.error;
  const std::string stream = "/v1/subscriptions/" + created.subscription->id + "/stream";
  for (const std::string query : {"?since=abc", "?since=", "?since=-1", "?sincex=1", "?since=1&limit=2"}) {
    RawHttp c(server.server->port());
    c.upgrade(stream + query);
    EXPECT_TRUE(c.read_status_line().starts_with("HTTP/1.1 400 Bad Request")) << query << "\n" << c.head;
  }
  for (const std::string query : {"", "?since=0", "?since=%33"}) {
    RawHttp c(server.server->port());
    c.upgrade(stream + query);
    EXPECT_TRUE(c.read_status_line().starts_with("HTTP/1.1 101")) << query << "\n" << c.head;
  }
}

// The per-IP request limit, off by default, is turned on by a setting
// (`--rate-limit`, `--rate-burst`); health probes are exempt.
TEST(ServerHttp, RateLimitSettingGives429WithRetryAfter) {
  auto settings = test_settings();
  settings.rate_limit = 0.5;
  settings.rate_burst = 2;
  TestServer server(settings);
  RawHttp c(server.server->port());
  for (int i = 0; i < 2; ++i) {
    c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.read_response().substr(0, 3), "200");
  }
  c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().substr(0, 3), "429");
  EXPECT_NE(c.head.find("Retry-After: "), std::string::npos) << c.head;
  c.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().substr(0, 3), "200");
}

// With --keys-file a subscription stream needs a read key on its upgrade,
// and SIGHUP's reload_keys() makes a revoked key fail from then on.
TEST(ServerHttp, KeysFileGuardsStreamsAndReloads) {
  store::testing::TempDir dir;
  const std::string keys = dir.str() + "/keys";
  std::string error;
  const auto reader = auth::create_key(keys, "reader", auth::Scopes(auth::Scope::read), error);
  ASSERT_TRUE(reader) << error;
  auto settings = test_settings();
  settings.keys_file = keys;
  TestServer server(settings);
  server::SubscriptionSpec spec;
  spec.patterns = {"k.one"};
  const auto created = create_now(server.server->subscriptions(), std::move(spec), 0);
  ASSERT_TRUE(created.subscription);
  const std::string stream = "/v1/subscriptions/" + created.subscription->id + "/stream";
  auto upgrade = [&](const std::string& authorization) {
    RawHttp c(server.server->port());
    c.write("GET " + stream + " HTTP/1.1\r\nHost: x\r\n" + authorization + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    const std::string line = c.read_status_line();
    return line + (c.head.find("WWW-Authenticate: Bearer") != std::string::npos ? " +challenge" : "");
  };
  EXPECT_EQ(upgrade(""), "HTTP/1.1 401 Unauthorized +challenge");
  EXPECT_EQ(upgrade("Authorization: Bearer " + *reader + "\r\n"), "HTTP/1.1 101 Switching Protocols");
  RawHttp api(server.server->port());
  EXPECT_EQ(api.post("/v1/events", R"({"topic":"k.one","data":1})").substr(0, 3), "401");
  ASSERT_TRUE(auth::revoke_key(keys, "reader", error)) << error;
  std::size_t count = 99;
  ASSERT_TRUE(server.server->reload_keys(count, error)) << error;
  EXPECT_EQ(count, 0u);
  EXPECT_EQ(upgrade("Authorization: Bearer " + *reader + "\r\n"), "HTTP/1.1 401 Unauthorized +challenge");
  std::filesystem::remove(keys);
  EXPECT_FALSE(server.server->reload_keys(count, error));  // a missing file keeps the keys in force
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace sluice::test
