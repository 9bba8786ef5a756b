// HTTP on the server's connections: keep-alive, pipelined requests answered in
// order, Connection: close, body and head limits, and an upgrade after plain
// requests on the same connection.
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "server/server_harness.hpp"

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

}  // namespace
}  // namespace sluice::test
