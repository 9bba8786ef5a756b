#include <gtest/gtest.h>

#include "sluice/engine/redis_url.hpp"

namespace sluice::engine {
namespace {

TEST(RedisUrl, HostPortAndDatabase) {
  std::string error;
  auto url = parse_redis_url("redis://127.0.0.1:6390/3", error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 6390);
  EXPECT_EQ(url->db, 3u);
  EXPECT_EQ(url->password, "");
  url = parse_redis_url("redis://cache", error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->db, 0u);
  EXPECT_FALSE(url->tls);
}

TEST(RedisUrl, TlsScheme) {
  std::string error;
  auto url = parse_redis_url("rediss://app:pw@redis.example.com:6380/2", error);
  ASSERT_TRUE(url) << error;
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "redis.example.com");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2u);
  EXPECT_EQ(url->user, "app");
  EXPECT_EQ(url->password, "pw");
  EXPECT_TRUE(url->unix_path.empty());
  url = parse_redis_url("rediss://cache", error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(mask_redis_password("rediss://:pw@cache"), "rediss://:********@cache");
}

TEST(RedisUrl, Credentials) {
  std::string error;
  auto url = parse_redis_url("redis://:s3cret@host:7000", error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->user, "");
  EXPECT_EQ(url->password, "s3cret");
  url = parse_redis_url("redis://app:pa@ss@host:7000/1", error);
  ASSERT_TRUE(url) << error;
  EXPECT_EQ(url->user, "app");
  EXPECT_EQ(url->password, "pa@ss");
  EXPECT_EQ(url->host, "host");
}

TEST(RedisUrl, RefusedWithAReasonThatNeverRepeatsThePassword) {
  std::string error;
  for (const char* bad : {"http://host", "redis://:pw@", "redis://host:0", "redis://host:99999", "redis://host/x",
                          "redis:/host", "rediss://", "rediss://:pw@"}) {
    error.clear();
    EXPECT_FALSE(parse_redis_url(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
    EXPECT_EQ(error.find("pw"), std::string::npos) << error;
  }
}

TEST(RedisUrl, MaskedPassword) {
  EXPECT_EQ(mask_redis_password("redis://:s3cret@host:7000/2"), "redis://:********@host:7000/2");
  EXPECT_EQ(mask_redis_password("redis://app:s3cret@host"), "redis://app:********@host");
  EXPECT_EQ(mask_redis_password("redis://host:7000"), "redis://host:7000");
  EXPECT_EQ(mask_redis_password(""), "");
}

}  // namespace
}  // namespace sluice::engine
