// SPEC §1.5: deleting a subscription with live streams closes each attached
// stream with 4404 "subscription deleted", leaves every other connection
// untouched, and is idempotent (exactly one delete wins; later ones are 404s).
// Two threads delete at once while events are being published.
#include <gtest/gtest.h>

#include "server/subscription_test_util.hpp"
#include "server/server_harness.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

server::SubscriptionPtr create(TestServer& server, std::vector<std::string> patterns, json::value filter = nullptr) {
  server::SubscriptionSpec spec;
  spec.patterns = std::move(patterns);
  if (!filter.is_null()) {
    std::string error;
    spec.filter = topic::Filter::compile(filter, error);
    EXPECT_TRUE(spec.filter) << error;
  }
  auto result = create_now(server.server->subscriptions(), std::move(spec), 0);
  EXPECT_TRUE(result.subscription) << result.error;
  return result.subscription;
}

net::WsUrl stream_url(TestServer& server, const std::string& id, const std::string& query = "") {
  return net::WsUrl{false, "127.0.0.1", server.server->port(), "/v1/subscriptions/" + id + "/stream" + query};
}

TEST(SubscriptionStreams, DeleteClosesAttachedStreamsWith4404OthersUntouched) {
  TestServer server;
  const auto doomed = create(server, {"orders.>"});
  const auto kept = create(server, {"orders.>"});
  asio::io_context io;
  std::vector<std::unique_ptr<JsonClient>> streams, others;
  for (int i = 0; i < 40; ++i) streams.push_back(std::make_unique<JsonClient>(io, stream_url(server, doomed->id)));
  for (int i = 0; i < 10; ++i) others.push_back(std::make_unique<JsonClient>(io, stream_url(server, kept->id)));
  auto inband = std::make_unique<JsonClient>(io, server.url());
  ASSERT_TRUE(run_until(io, [&] {
    for (auto* group : {&streams, &others}) {
      for (auto& c : *group) {
        if (c->count("connected") != 1) return false;
      }
    }
    return inband->open;
  }));
  EXPECT_EQ(doomed->counters.attached_streams.load(), 40);
  inband->subscribe("orders.>");
  ASSERT_TRUE(run_until(io, [&] { return inband->count("ack") == 1; }));
  // 500 events (~115 KB per client): within every send queue, so no reader
  // here can become a slow consumer however slowly this thread reads.
  constexpr int kEvents = 500;
  Background publisher([&](std::atomic<bool>& stop) {
    for (int i = 0; !stop && i < kEvents; ++i) server.server->broker().publish({"orders.eu", std::to_string(i), "", "", ""});
  });
  ASSERT_TRUE(run_until(io, [&] { return streams[0]->count("event") >= 10; }));
  std::atomic<int> removed{0};
  Background a([&](std::atomic<bool>&) { removed += server.server->subscriptions().remove(doomed->id); });
  Background b([&](std::atomic<bool>&) { removed += server.server->subscriptions().remove(doomed->id); });
  a.join();
  b.join();
  EXPECT_EQ(removed.load(), 1);  // exactly one delete wins
  ASSERT_TRUE(run_until(io, [&] {
    for (auto& c : streams) {
      if (!c->closed) return false;
    }
    return true;
  }));
  for (auto& c : streams) {
    EXPECT_EQ(c->close_info.code, 4404);
    EXPECT_EQ(c->close_info.reason, "subscription deleted");
  }
  publisher.join();
  ASSERT_TRUE(run_until(io, [&] {
    for (auto& c : others) {
      if (c->count("event") < kEvents) return false;
    }
    return inband->count("event") >= kEvents;
  }));
  for (auto& c : others) EXPECT_FALSE(c->closed);
  EXPECT_FALSE(inband->closed);
  EXPECT_FALSE(server.server->subscriptions().remove(doomed->id));  // a later delete: not found
  ASSERT_TRUE(run_until(io, [&] { return doomed->counters.attached_streams.load() == 0; }));
  // Attaching to a deleted subscription is a 4404 too.
  JsonClient late(io, stream_url(server, doomed->id));
  ASSERT_TRUE(run_until(io, [&] { return late.closed; }));
  EXPECT_EQ(late.close_info.code, 4404);
  EXPECT_EQ(late.close_info.reason, "subscription not found");
}

TEST(SubscriptionStreams, FilterAndSinceApplyToTheStream) {
  TestServer server;
  const auto sub = create(server, {"transfers"},
                          json::parse(R"({"all":[{"field":"data.amount","op":">=","value":100},)"
                                      R"({"field":"data.ok","op":"==","value":true}]})"));
  auto& broker = server.server->broker();
  broker.publish({"transfers", R"({"amount":150,"ok":true})", "", "", ""});   // offset 1: matches
  broker.publish({"transfers", R"({"amount":50,"ok":true})", "", "", ""});    // 2: too small
  broker.publish({"transfers", R"({"amount":500,"ok":true})", "", "", ""});   // 3: matches
  asio::io_context io;
  JsonClient stream(io, stream_url(server, sub->id, "?since=1"));
  ASSERT_TRUE(run_until(io, [&] { return stream.count("event") == 1; }));
  EXPECT_EQ(stream.events()[0].at("offset").as_int64(), 3);  // after offset 1, filtered
  broker.publish({"transfers", R"({"amount":700,"ok":false})", "", "", ""});  // 4: not ok
  broker.publish({"transfers", R"({"amount":900,"ok":true})", "", "", ""});   // 5: matches
  ASSERT_TRUE(run_until(io, [&] { return stream.count("event") == 2; }));
  EXPECT_EQ(stream.events()[1].at("offset").as_int64(), 5);
  // Counted on a loop as events are delivered: there within moments, exactly.
  EXPECT_TRUE(eventually([&] { return sub->counters.events_matched.load() == 3u; }))
      << sub->counters.events_matched.load();
}

}  // namespace
}  // namespace sluice::test
