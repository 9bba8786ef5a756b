// Per-topic-pattern history bounds: parsing the override syntax (with clear
// errors), the most specific pattern winning, and the broker applying each
// topic's own bounds.
#include <gtest/gtest.h>

#include <algorithm>

#include "sluice/broker/broker.hpp"
#include "sluice/broker/history_policy.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::broker {
namespace {

using namespace std::chrono_literals;

HistoryOverride parsed(std::string_view text) {
  std::string error;
  auto o = HistoryPolicy::parse(text, error);
  EXPECT_TRUE(o) << text << ": " << error;
  return o.value_or(HistoryOverride{});
}

TEST(HistoryPolicy, ParsesCountBytesAndAgeWithUnits) {
  auto o = parsed("orders.>=count:10000,bytes:64MiB,age:24h");
  EXPECT_EQ(o.pattern, "orders.>");
  EXPECT_EQ(o.max_events, 10'000u);
  EXPECT_EQ(o.max_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(o.max_age, std::chrono::milliseconds(24h));
  o = parsed("a.*=age:90");  // plain seconds
  EXPECT_FALSE(o.max_events);
  EXPECT_FALSE(o.max_bytes);
  EXPECT_EQ(o.max_age, std::chrono::milliseconds(90s));
  EXPECT_EQ(parsed("x=bytes:512KiB").max_bytes, 512u * 1024);
  EXPECT_EQ(parsed("x=bytes:100").max_bytes, 100u);
  EXPECT_EQ(parsed("x=bytes:1GiB").max_bytes, 1024u * 1024 * 1024);
  EXPECT_EQ(parsed("x=age:500ms").max_age, 500ms);
  EXPECT_EQ(parsed("x=age:1.5m").max_age, 90s);
  EXPECT_EQ(parsed("x=age:7d").max_age, std::chrono::milliseconds(168h));
  EXPECT_EQ(parsed("x=count:0").max_events, 0u);  // keep no history for these topics
}

TEST(HistoryPolicy, BadOverridesAreClearErrors) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const auto& c : {Case{"orders.>", "expected PATTERN=count:N,bytes:SIZE,age:DURATION"},
                        Case{"orders.>=", "give at least one of"},
                        Case{"orders..x=count:1", "invalid pattern 'orders..x'"},
                        Case{"=count:1", "invalid pattern ''"},
                        Case{"a=count:-1", "count '-1' is not a whole number"},
                        Case{"a=count:1e3", "count '1e3' is not a whole number"},
                        Case{"a=bytes:64MB", "bytes '64MB' is not a size"},
                        Case{"a=age:0", "age '0' is not a duration of at least 1 ms"},
                        Case{"a=age:3w", "age '3w' is not a duration"},
                        Case{"a=count:1,count:2", "count is given twice"},
                        Case{"a=size:1", "unknown bound 'size'"},
                        Case{"a=count", "'count' is not NAME:VALUE"}}) {
    std::string error;
    EXPECT_FALSE(HistoryPolicy::parse(c.text, error)) << c.text;
    EXPECT_NE(error.find(c.says), std::string::npos) << c.text << " -> " << error;
    EXPECT_NE(error.find(std::string("'") + c.text + "'"), std::string::npos) << error;  // names the flag value
  }
}

TEST(HistoryPolicy, TheMostSpecificPatternWins) {
  HistoryLimits defaults;
  defaults.max_events = 100;
  const HistoryPolicy policy(defaults, {parsed("orders.>=count:1"), parsed("orders.*.paid=count:2"),
                                        parsed("orders.eu.*=count:3,age:1h"), parsed("orders.eu.paid=count:4"),
                                        parsed(">=bytes:1KiB"), parsed("orders.*=count:5")});
  EXPECT_EQ(policy.limits_for("orders.eu.paid").max_events, 4u);   // exact
  EXPECT_EQ(policy.limits_for("orders.eu.new").max_events, 3u);    // orders.eu.* over orders.*.paid/orders.>
  EXPECT_EQ(policy.limits_for("orders.us.paid").max_events, 2u);   // orders.*.paid over orders.>
  EXPECT_EQ(policy.limits_for("orders.us").max_events, 5u);        // orders.* over orders.>
  EXPECT_EQ(policy.limits_for("orders.us.a.b").max_events, 1u);    // only orders.> (and >)
  const auto other = policy.limits_for("billing.x");               // only >
  EXPECT_EQ(other.max_events, 100u);                               // unset bounds keep the defaults
  EXPECT_EQ(other.max_bytes, 1024u);
  EXPECT_EQ(policy.limits_for("orders.eu.new").max_age, 1h);
  EXPECT_EQ(policy.limits_for("orders.eu.new").max_bytes, defaults.max_bytes);
  const auto widest = policy.widest();
  EXPECT_EQ(widest.max_events, 100u);
  EXPECT_EQ(widest.max_age, defaults.max_age);
}

TEST(HistoryPolicy, ARepeatedPatternTakesTheLastValue) {
  const HistoryPolicy policy({}, {parsed("a.*=count:1"), parsed("a.*=count:7")});
  EXPECT_EQ(policy.limits_for("a.b").max_events, 7u);
  EXPECT_EQ(policy.overrides().size(), 1u);
}

TEST(HistoryPolicy, TheBrokerKeepsEachTopicsOwnBound) {
  HistoryLimits defaults;
  defaults.max_events = 5;
  Broker broker([](const EventPtr&) {}, HistoryPolicy(defaults, {parsed("audit.>=count:50"), parsed("ticks.*=count:0")}));
  for (int i = 0; i < 60; ++i) {
    for (const char* topic : {"audit.login", "plain", "ticks.btc"}) broker.publish({topic, "1", "", "", ""});
  }
  EXPECT_EQ(broker.history("audit.login", 0, 1000).size(), 50u);
  EXPECT_EQ(broker.history("plain", 0, 1000).size(), 5u);
  EXPECT_EQ(broker.history("ticks.btc", 0, 1000).size(), 0u);
  ReplayRequest request;
  request.pattern = "audit.login";
  request.positions["audit.login"] = Position{15, {}};
  EXPECT_TRUE(broker.replay(request).recovered);  // 11..60 are kept
  request.positions["audit.login"] = Position{5, {}};
  EXPECT_FALSE(broker.replay(request).recovered);
}

TEST(HistoryPolicy, AReloadAppliesToExistingAndNewTopics) {
  HistoryLimits defaults;
  defaults.max_events = 10;
  Broker broker([](const EventPtr&) {}, HistoryPolicy(defaults));
  for (int i = 0; i < 8; ++i) {
    for (const char* topic : {"audit.login", "plain"}) broker.publish({topic, "1", "", "", ""});
  }
  const auto before = broker.history_events();
  defaults.max_events = 3;
  broker.set_history_policy(HistoryPolicy(defaults, {parsed("audit.>=count:1")}));
  auto plain = broker.history("plain", 0, 1000);
  ASSERT_EQ(plain.size(), 3u);  // trimmed at once, the newest kept
  EXPECT_EQ(plain.front()->offset, 6u);
  EXPECT_EQ(broker.history("audit.login", 0, 1000).size(), 1u);
  EXPECT_EQ(broker.history_events(), before - 5 - 7);
  for (int i = 0; i < 5; ++i) broker.publish({"fresh", "1", "", "", ""});
  EXPECT_EQ(broker.history("fresh", 0, 1000).size(), 3u);
  // The store is told where each trimmed topic's history starts now.
  auto starts = broker.take_history_starts(unix_time_ms());
  std::sort(starts.begin(), starts.end());
  ASSERT_GE(starts.size(), 2u);
  EXPECT_EQ(starts[0], std::make_pair(std::string("audit.login"), std::uint64_t{8}));
  // Raised bounds keep what comes next; what was dropped stays dropped.
  defaults.max_events = 100;
  broker.set_history_policy(HistoryPolicy(defaults));
  for (int i = 0; i < 5; ++i) broker.publish({"plain", "1", "", "", ""});
  plain = broker.history("plain", 0, 1000);
  ASSERT_EQ(plain.size(), 8u);
  EXPECT_EQ(plain.front()->offset, 6u);
}

}  // namespace
}  // namespace sluice::broker
