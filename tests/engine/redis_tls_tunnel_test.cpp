// rediss:// through RedisTlsTunnel, against a real redis-server listening for
// TLS only (skipped where it is not installed): commands and AUTH pass
// through; a server whose certificate is not trusted, or not for the host,
// is refused; a Redis that asks for a client certificate gets one; the Redis
// engine numbers and announces events through it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "engine/redis_test_server.hpp"
#include "net/test_tls.hpp"
#include "sluice/broker/broker.hpp"
#include "sluice/engine/redis_engine.hpp"
#include "sluice/engine/redis_link.hpp"
#include "sluice/engine/redis_tls_tunnel.hpp"

namespace sluice::engine {
namespace {

using test_support::kRedisServer;
using test_support::RedisServer;
using test_support::RedisTls;

class RedisTlsTunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0) GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh)";
  }

  // A redis-server on TLS with `server_` (self-signed: its own CA), `extra` flags.
  void start_redis(bool auth_clients = false, std::vector<std::string> extra = {}) {
    RedisTls tls{server_.cert_file, server_.key_file, client_.cert_file, auth_clients};
    redis_ = std::make_unique<RedisServer>(&tls, std::move(extra));
    ASSERT_TRUE(redis_->started());
  }

  std::unique_ptr<RedisTlsTunnel> tunnel(const std::string& ca_file, bool with_client_cert = false,
                                         const std::string& host = "127.0.0.1") {
    RedisTlsOptions options;
    options.host = host;
    options.port = redis_->port();
    options.tls.ca_file = ca_file;
    if (with_client_cert) {
      options.tls.cert_file = client_.cert_file;
      options.tls.key_file = client_.key_file;
    }
    std::string error;
    auto t = RedisTlsTunnel::start(options, error);
    EXPECT_TRUE(t) << error;
    return t;
  }

  static RedisUrl through(const RedisTlsTunnel& t, const std::string& password = "") {
    RedisUrl url;
    url.host = "127.0.0.1";
    url.tls = true;
    url.unix_path = t.path();
    url.password = password;
    return url;
  }

  // PING until PONG or `timeout` (redis-server is still starting): the last reply's text.
  static std::string ping_until_pong(RedisLink& link, std::chrono::seconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = link.command({"PING"});
      last = r ? std::string(reply_text(r.get())) : "(failed: " + link.error() + ")";
      if (last == "PONG") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return last;
  }

  test::SelfSignedCert server_;                                   // localhost and 127.0.0.1
  test::SelfSignedCert client_{"DNS:sluice-node"};                // a client certificate (its own CA)
  test::SelfSignedCert stranger_;                                 // trusted by nobody here
  test::SelfSignedCert elsewhere_{"DNS:localhost"};                // a name, not 127.0.0.1
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(RedisTlsTunnelTest, CarriesCommandsAndAuthOverTls) {
  start_redis(false, {"--requirepass", "s3cret"});
  auto t = tunnel(server_.cert_file);
  ASSERT_TRUE(t);
  EXPECT_TRUE(std::filesystem::is_socket(t->path()));
  EXPECT_EQ((std::filesystem::status(std::filesystem::path(t->path()).parent_path()).permissions() &
             std::filesystem::perms::all),
            std::filesystem::perms::owner_all);
  RedisLink link(through(*t, "s3cret"), std::chrono::milliseconds(2000));
  ASSERT_EQ(ping_until_pong(link), "PONG");
  auto set = link.command({"SET", "k", std::string("binary\r\n\0value", 15)});
  ASSERT_TRUE(set) << link.error();
  auto get = link.command({"GET", "k"});
  ASSERT_TRUE(get) << link.error();
  EXPECT_EQ(reply_text(get.get()), std::string_view("binary\r\n\0value", 15));
  // Without the password the same tunnel carries Redis' refusal.
  RedisLink anonymous(through(*t), std::chrono::milliseconds(2000));
  auto r = anonymous.command({"GET", "k"});
  ASSERT_TRUE(r) << anonymous.error();
  EXPECT_NE(reply_text(r.get()).find("NOAUTH"), std::string_view::npos) << reply_text(r.get());
  const std::string path = t->path();
  t->stop();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(path).parent_path()));
}

TEST_F(RedisTlsTunnelTest, RefusesARedisWhoseCertificateItDoesNotTrust) {
  start_redis();
  // Redis answers through a trusting tunnel (it is up) but not through one trusting another CA.
  auto trusting = tunnel(server_.cert_file);
  RedisLink ok(through(*trusting), std::chrono::milliseconds(2000));
  ASSERT_EQ(ping_until_pong(ok), "PONG");
  auto t = tunnel(stranger_.cert_file);
  RedisLink link(through(*t), std::chrono::milliseconds(2000));
  EXPECT_FALSE(link.command({"PING"}));
  EXPECT_FALSE(link.error().empty());
}

TEST_F(RedisTlsTunnelTest, RefusesACertificateForAnotherHost) {
  // Trusted, and issued for localhost, but not for 127.0.0.1.
  RedisTls tls{elsewhere_.cert_file, elsewhere_.key_file, client_.cert_file, false};
  redis_ = std::make_unique<RedisServer>(&tls);
  ASSERT_TRUE(redis_->started());
  auto by_name = tunnel(elsewhere_.cert_file, false, "localhost");
  RedisLink ok(through(*by_name), std::chrono::milliseconds(2000));
  ASSERT_EQ(ping_until_pong(ok), "PONG");
  auto by_address = tunnel(elsewhere_.cert_file, false, "127.0.0.1");
  RedisLink link(through(*by_address), std::chrono::milliseconds(2000));
  EXPECT_FALSE(link.command({"PING"}));
}

TEST_F(RedisTlsTunnelTest, PresentsAClientCertificateWhenRedisAsksForOne) {
  start_redis(/*auth_clients=*/true);
  auto with = tunnel(server_.cert_file, /*with_client_cert=*/true);
  RedisLink link(through(*with), std::chrono::milliseconds(2000));
  ASSERT_EQ(ping_until_pong(link), "PONG");
  auto without = tunnel(server_.cert_file);
  RedisLink refused(through(*without), std::chrono::milliseconds(2000));
  EXPECT_FALSE(refused.command({"PING"}));
}

TEST_F(RedisTlsTunnelTest, BadTlsFilesFailAtStartWithTheFileNamed) {
  RedisTlsOptions options;
  options.host = "127.0.0.1";
  options.tls.ca_file = server_.key_file;  // a key, not certificates
  std::string error;
  EXPECT_FALSE(RedisTlsTunnel::start(options, error));
  EXPECT_NE(error.find(server_.key_file), std::string::npos) << error;
  options.tls.ca_file.clear();
  options.tls.cert_file = client_.cert_file;  // without its key
  error.clear();
  EXPECT_FALSE(RedisTlsTunnel::start(options, error));
  EXPECT_FALSE(error.empty());
}

TEST_F(RedisTlsTunnelTest, TheRedisEngineNumbersEventsThroughIt) {
  start_redis();
  auto t = tunnel(server_.cert_file);
  RedisSettings settings;
  settings.shards = {through(*t)};
  settings.backoff_min = std::chrono::milliseconds(20);
  settings.backoff_max = std::chrono::milliseconds(100);
  RedisEngine engine(std::move(settings));
  std::promise<broker::EventPtr> delivered;
  bool first = true;
  broker::Broker broker(
      [&](const broker::EventPtr& e) {
        if (std::exchange(first, false)) delivered.set_value(e);
      },
      broker::HistoryPolicy{}, &engine);
  engine.start(broker);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!engine.available() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(engine.available()) << "the engine did not connect through the tunnel";
  broker::PublishRequest request;
  request.topic = "orders";
  request.data = R"({"n":1})";
  broker::EventPtr published = broker.publish(std::move(request));
  ASSERT_TRUE(published);
  EXPECT_EQ(published->offset, 1u);
  auto future = delivered.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(future.get()->offset, 1u);  // announced over pub/sub through the tunnel, then dispatched
  engine.stop();
}

}  // namespace
}  // namespace sluice::engine
