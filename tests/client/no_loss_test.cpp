// SPEC §4 / issue 5: a publisher sends 10,000 numbered events while a proxy
// cuts the subscriber's connection at random points (between frames and in
// the middle of one) and the server (durable store) is restarted once; the
// subscriber's application sees 1..10,000 exactly once, in order.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <random>
#include <thread>
#include <unistd.h>

#include "client/fault_proxy.hpp"
#include "client/topic_support.hpp"
#include "server/server_harness.hpp"

namespace sluice::test {
namespace {

namespace json = boost::json;
constexpr std::int64_t kEventsThroughFaults = 10'000;
constexpr std::int64_t kWindow = 200;  // publishes in flight at most
// The publisher may run this far ahead of the fault loop's next cut point, so
// events are still flowing when the cut comes, yet a fast server cannot
// deliver everything between two cuts (each cut is at most 1,200 + kAhead
// events after the previous one: at least six cuts happen).
constexpr std::int64_t kAhead = 200;

TEST(TopicClientNoLoss, TenThousandEventsThroughCutsAndARestartArriveOnceInOrder) {
  const auto dir = std::filesystem::temp_directory_path() / ("sluice-noloss-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto settings = test_settings();
  settings.store = "sqlite";
  settings.data_dir = dir.string();
  auto server = std::make_unique<TestServer>(settings);
  FaultProxy sub_proxy(server->server->port());
  FaultProxy pub_proxy(server->server->port());

  // The application: what the subscriber's handler saw, in order.
  std::mutex mutex;
  Signal seen_signal;
  std::vector<std::int64_t> seen;
  std::vector<client::SubscriptionStatus> statuses;
  auto seen_count = [&] {
    std::lock_guard lock(mutex);
    return static_cast<std::int64_t>(seen.size());
  };
  client::TopicClient subscriber(sub_proxy.url("/v1/ws"), fast_topic_options());
  client::SubscribeOptions so;
  std::atomic<bool> subscribed{false};
  so.on_status = [&](const client::SubscriptionStatus& s) {
    {
      std::lock_guard lock(mutex);
      statuses.push_back(s);
    }
    subscribed = true;
    seen_signal.notify();
  };
  subscriber.subscribe(
      "numbers",
      [&](const client::TopicEvent& e) {
        {
          std::lock_guard lock(mutex);
          seen.push_back(e.data.at("n").as_int64());
        }
        seen_signal.notify();
      },
      so);
  subscriber.connect();
  ASSERT_TRUE(seen_signal.wait([&] { return subscribed.load(); }));

  // The publisher: a window of publishes in flight, each acknowledged once.
  client::TopicClient publisher(pub_proxy.url("/v1/ws"), fast_topic_options());
  publisher.connect();
  std::atomic<std::int64_t> acked{0}, in_flight{0}, failures{0}, duplicates{0};
  std::atomic<std::int64_t> allowed{0};  // the publisher's gate, raised by the fault loop
  std::atomic<bool> gate_timed_out{false};
  Signal ack_signal;
  auto allow_up_to = [&](std::int64_t n) {
    allowed = std::min(kEventsThroughFaults, n);
    ack_signal.notify();
  };
  std::string first_failure;
  std::thread publishing([&] {
    for (std::int64_t n = 1; n <= kEventsThroughFaults; ++n) {
      if (failures.load() != 0) return;
      if (!ack_signal.wait([&] { return in_flight.load() < kWindow && n <= allowed.load(); }, 60s)) {
        gate_timed_out = true;
        return;
      }
      ++in_flight;
      const auto status = publisher.publish(
          "numbers", json::object{{"n", n}}, {.type = "", .key = "", .idempotency_key = "n-" + std::to_string(n)},
          [&](const client::PublishResult& r) {
            if (!r.ok && failures++ == 0) first_failure = r.code + ": " + r.message;
            if (r.duplicate) ++duplicates;
            ++acked;
            --in_flight;
            ack_signal.notify();
          });
      if (!client::accepted(status)) {
        ++failures;
        return;
      }
    }
  });

  // The faults: cut the subscriber every few hundred events it receives,
  // sometimes in the middle of a frame; restart the server once, halfway.
  std::mt19937 rng(5);
  int cuts = 0;
  bool restarted = false;
  while (seen_count() < kEventsThroughFaults && failures.load() == 0) {
    const std::int64_t target = std::min(kEventsThroughFaults, seen_count() + std::uniform_int_distribution<std::int64_t>(150, 1200)(rng));
    allow_up_to(target + kAhead);
    if (!seen_signal.wait([&] { return seen_count() >= target || failures.load() != 0; }, 60s)) break;
    if (seen_count() >= kEventsThroughFaults) break;
    if (!restarted && acked.load() >= kEventsThroughFaults / 2) {
      restarted = true;
      server.reset();  // both clients lose their connections; events in flight are resent
      server = std::make_unique<TestServer>(settings);
      sub_proxy.set_target(server->server->port());
      pub_proxy.set_target(server->server->port());
      continue;
    }
    ++cuts;
    if (rng() % 3 == 0) {
      sub_proxy.cut_mid_frame(1 + rng() % 40);
    } else {
      sub_proxy.cut_all();
    }
  }
  allow_up_to(kEventsThroughFaults);  // whatever stopped the fault loop, the publisher must not wait on it
  EXPECT_TRUE(seen_signal.wait([&] { return seen_count() >= kEventsThroughFaults || failures.load() != 0; }, 60s))
      << "seen " << seen_count() << ", acked " << acked.load() << ", in flight " << in_flight.load()
      << ", pending " << publisher.pending_publishes() << ", cuts " << cuts << ", restarted " << restarted
      << ", subscriber " << client::to_string(subscriber.client().state()) << ", publisher "
      << client::to_string(publisher.client().state()) << ", sub proxy active " << sub_proxy.active()
      << ", pub proxy active " << pub_proxy.active() << ", duplicates " << duplicates.load();
  publishing.join();
  subscriber.close();
  publisher.close();

  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_FALSE(gate_timed_out) << "the publisher waited 60 s for room or for the fault loop";
  EXPECT_TRUE(restarted);
  EXPECT_GE(cuts, 5);
  std::lock_guard lock(mutex);
  for (const auto& s : statuses) EXPECT_TRUE(s.recovered) << s.message;
  EXPECT_EQ(static_cast<std::int64_t>(seen.size()), kEventsThroughFaults);
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(seen.size()); ++i) {
    ASSERT_EQ(seen[static_cast<std::size_t>(i)], i + 1) << "at position " << i;
  }

  server.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice::test
