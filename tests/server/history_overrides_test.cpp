// Per-topic-pattern history bounds in the server: settings validation with
// clear errors, `sluice serve --history` (flag and help), and each topic's
// own bound applied to history and to the store, across a restart.
#include <gtest/gtest.h>

#include <cstdio>
#include <sys/wait.h>

#include "server/server_harness.hpp"
#include "store/store_test_util.hpp"

namespace sluice::test {
namespace {

// Runs the real binary with `args`; returns its exit code and output (stdout + stderr).
std::pair<int, std::string> run_sluice(const std::string& args) {
  const std::string command = std::string(SLUICE_BINARY) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(HistoryOverrides, InvalidOverridesAreClearStartupErrors) {
  auto settings = test_settings();
  settings.history_overrides = {"orders.>=count:10", "orders.*=bytes:64MB"};
  EXPECT_EQ(settings.validate(), "history override 'orders.*=bytes:64MB': bytes '64MB' is not a size "
                                 "(e.g. 65536, 512KiB, 64MiB, 1GiB)");
  settings.history_overrides = {"orders.>=count:10,age:15m"};
  EXPECT_EQ(settings.validate(), "");
  const auto policy = settings.history_policy();
  EXPECT_EQ(policy.limits_for("orders.eu").max_events, 10u);
  EXPECT_EQ(policy.limits_for("orders.eu").max_age, std::chrono::minutes(15));
  EXPECT_EQ(policy.limits_for("other").max_events, settings.history_max_events);

  const auto [code, output] = run_sluice("serve --store memory --port 0 --history 'a.>=count:1' --history 'b..c=count:1'");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("history override 'b..c=count:1': invalid pattern 'b..c'"), std::string::npos) << output;
  const auto [help_code, help] = run_sluice("serve --help");
  EXPECT_EQ(help_code, 0);
  EXPECT_NE(help.find("--history"), std::string::npos);
  EXPECT_NE(help.find("PATTERN=count:N,bytes:SIZE,age:DURATION"), std::string::npos) << help;
}

std::size_t stored(server::SluiceServer& server, const std::string& topic) {
  return server.event_store()->read(topic, 0, 100'000).size();
}

TEST(HistoryOverrides, EachTopicKeepsItsOwnBoundInHistoryAndTheStore) {
  store::testing::TempDir dir;
  auto settings = test_settings();
  settings.store = "sqlite";
  settings.data_dir = dir.str();
  settings.durability = store::Durability::os_buffered;
  settings.retention_interval = 20ms;
  settings.history_max_events = 5;
  settings.history_overrides = {"audit.>=count:50", "audit.noisy=count:2", "ticks.*=age:200ms"};
  {
    TestServer server(settings);
    auto& broker = server.server->broker();
    for (int i = 0; i < 60; ++i) {
      for (const char* topic : {"audit.login", "audit.noisy", "plain", "ticks.btc"}) {
        broker.publish({topic, std::to_string(i), "", "", ""});
      }
    }
    EXPECT_EQ(broker.history("audit.login", 0, 1000).size(), 50u);
    EXPECT_EQ(broker.history("audit.noisy", 0, 1000).size(), 2u);  // the exact topic beats audit.>
    EXPECT_EQ(broker.history("plain", 0, 1000).size(), 5u);
    EXPECT_LE(broker.history("ticks.btc", 0, 1000).size(), 5u);     // the default count; and its own age bound:
    ASSERT_TRUE(eventually([&] {
      return stored(*server.server, "audit.login") == 50 && stored(*server.server, "audit.noisy") == 2 &&
             stored(*server.server, "plain") == 5 && stored(*server.server, "ticks.btc") == 0;
    })) << stored(*server.server, "audit.login") << " " << stored(*server.server, "audit.noisy") << " "
        << stored(*server.server, "plain") << " " << stored(*server.server, "ticks.btc");
  }
  // After a restart each topic's history is refilled to its own bound.
  TestServer server(settings);
  auto& broker = server.server->broker();
  EXPECT_EQ(broker.history("audit.login", 0, 1000).size(), 50u);
  EXPECT_EQ(broker.history("audit.noisy", 0, 1000).size(), 2u);
  EXPECT_EQ(broker.history("plain", 0, 1000).size(), 5u);
  EXPECT_EQ(broker.publish({"audit.login", "next", "", "", ""})->offset, 61u);
}

}  // namespace
}  // namespace sluice::test
