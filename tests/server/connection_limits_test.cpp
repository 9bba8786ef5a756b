// Per-IP WebSocket limits and the topic bound, through a running server
// (issue #13 "Limits per client"; SPEC §3 close 4429).
#include "server_harness.hpp"

namespace sluice::test {
namespace {

server::ServerSettings limited() {
  auto s = test_settings();
  s.limit_loopback = true;  // the tests connect from 127.0.0.1
  s.new_connections_per_ip_per_second = 0;
  s.max_connections_per_ip = 0;
  return s;
}

TEST(ConnectionLimits, OverTheOpenConnectionsPerIpTheNextIsClosedWith4429UntilOneLeaves) {
  auto s = limited();
  s.max_connections_per_ip = 2;
  TestServer server(s);
  boost::asio::io_context io;
  auto a = std::make_unique<JsonClient>(io, server.url());
  JsonClient b(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return a->open && b.open; }));
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  EXPECT_EQ(c.close_info.code, 4429);
  EXPECT_EQ(c.close_info.reason, "too many connections from 127.0.0.1");
  a->connection->close();
  ASSERT_TRUE(run_until(io, [&] { return a->closed; }));
  // The server let go of a's place once it closed: a new one gets in.
  std::unique_ptr<JsonClient> d;
  ASSERT_TRUE(run_until(io, [&] {
    if (d && d->closed) d.reset();  // raced the server's release: try again
    if (!d) d = std::make_unique<JsonClient>(io, server.url());
    return d->open;
  }));
  EXPECT_FALSE(b.closed);
}

TEST(ConnectionLimits, OverTheNewConnectionRateTheNextIsClosedWith4429) {
  auto s = limited();
  s.new_connections_per_ip_per_second = 0.01;  // nothing refills during the test
  s.new_connections_per_ip_burst = 2;
  TestServer server(s);
  boost::asio::io_context io;
  JsonClient a(io, server.url()), b(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return a.open && b.open; }));
  JsonClient c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  EXPECT_EQ(c.close_info.code, 4429);
  EXPECT_NE(c.close_info.reason.find("too many new connections"), std::string::npos);
}

TEST(ConnectionLimits, LoopbackIsExemptByDefault) {
  auto s = test_settings();
  s.max_connections_per_ip = 1;
  s.new_connections_per_ip_per_second = 0.01;
  s.new_connections_per_ip_burst = 1;
  TestServer server(s);
  boost::asio::io_context io;
  JsonClient a(io, server.url()), b(io, server.url()), c(io, server.url());
  ASSERT_TRUE(run_until(io, [&] { return a.open && b.open && c.open; }));
}

TEST(ConnectionLimits, APublishCreatingOneTopicTooManyIsRefusedWith507) {
  auto s = test_settings();
  s.max_topics = 2;
  TestServer server(s);
  RawHttp http(server.server->port());
  EXPECT_EQ(http.post("/v1/events", R"({"topic":"t.one","data":1})").substr(0, 3), "201");
  EXPECT_EQ(http.post("/v1/events", R"({"topic":"t.two","data":1})").substr(0, 3), "201");
  const auto refused = http.post("/v1/events", R"({"topic":"t.three","data":1})");
  EXPECT_EQ(refused.substr(0, 3), "507");
  EXPECT_NE(refused.find("too_many_topics"), std::string::npos);
  // A 5xx answer closes its connection: the next publish comes on a new one.
  RawHttp again(server.server->port());
  EXPECT_EQ(again.post("/v1/events", R"({"topic":"t.one","data":2})").substr(0, 3), "201");
}

}  // namespace
}  // namespace sluice::test
