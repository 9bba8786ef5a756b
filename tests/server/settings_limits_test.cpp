// The per-client limit settings (issue #13): documented defaults, clear
// start-up errors for invalid values, and the `sluice serve` flags.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <sys/wait.h>

#include "server/server_process.hpp"
#include "sluice/server/settings.hpp"
#include "temp_dir.hpp"

namespace sluice::test {
namespace {

TEST(LimitSettings, DefaultsAreValidAndAsDocumented) {
  const server::ServerSettings s;
  EXPECT_EQ(s.validate(), "");
  EXPECT_EQ(s.key_rate_limit, 0);
  EXPECT_EQ(s.key_rate_burst, 0);
  EXPECT_EQ(s.max_topics, 100'000u);
  EXPECT_EQ(s.max_connections_per_ip, 1000u);
  EXPECT_EQ(s.new_connections_per_ip_per_second, 50);
  EXPECT_EQ(s.new_connections_per_ip_burst, 200);
  EXPECT_FALSE(s.limit_loopback);
}

TEST(LimitSettings, InvalidRatesAndBurstsAreNamed) {
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    double server::ServerSettings::*field;
    double value;
    const char* named;
  };
  const Case cases[] = {
      {&server::ServerSettings::rate_limit, -1, "rate-limit"},
      {&server::ServerSettings::rate_limit, nan, "rate-limit"},
      {&server::ServerSettings::rate_burst, 0.5, "rate-burst"},
      {&server::ServerSettings::key_rate_limit, -0.1, "key-rate-limit"},
      {&server::ServerSettings::key_rate_limit, inf, "key-rate-limit"},
      {&server::ServerSettings::key_rate_burst, 0.9, "key-rate-burst"},
      {&server::ServerSettings::key_rate_burst, nan, "key-rate-burst"},
      {&server::ServerSettings::new_connections_per_ip_per_second, -5, "new-connections-per-ip-per-second"},
      {&server::ServerSettings::new_connections_per_ip_burst, 0.5, "new-connections-per-ip-burst"},
      {&server::ServerSettings::new_connections_per_ip_burst, inf, "new-connections-per-ip-burst"},
  };
  for (const auto& c : cases) {
    server::ServerSettings s;
    s.*c.field = c.value;
    const std::string why = s.validate();
    EXPECT_EQ(why.rfind(c.named, 0), 0u) << c.named << " = " << c.value << ": " << why;
  }
  // 0 turns each off; a burst of exactly one request is fine.
  server::ServerSettings off;
  off.rate_limit = off.key_rate_limit = off.new_connections_per_ip_per_second = 0;
  off.max_topics = off.max_connections_per_ip = 0;
  off.rate_burst = off.key_rate_burst = off.new_connections_per_ip_burst = 1;
  EXPECT_EQ(off.validate(), "");
}

// The flags reach the settings: valid values start the server, an invalid
// one is the start-up error (exit status 2) before anything listens.
TEST(LimitSettings, ServeTakesTheLimitFlags) {
  TempDir dir;
  {
    ServerProcess ok(dir.str(), {"--store", "memory", "--key-rate-limit", "5", "--key-rate-burst", "10",
                                 "--max-topics", "50", "--max-connections-per-ip", "20",
                                 "--new-connections-per-ip-per-second", "3", "--new-connections-per-ip-burst", "6",
                                 "--limit-loopback"});
    EXPECT_NE(ok.port(), 0);
    EXPECT_EQ(ok.terminate(), 0);
  }
  ServerProcess bad(dir.str(), {"--store", "memory", "--key-rate-burst", "0.5"});
  EXPECT_EQ(bad.port(), 0);
  const int status = bad.terminate();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace sluice::test
