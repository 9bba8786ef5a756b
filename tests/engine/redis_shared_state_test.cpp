// What nodes share in Redis beside events (issue #17), against a real
// redis-server this test starts (skipped where it is not installed):
// subscription documents (put, load, delete with the webhook state), the
// webhook leases (one holder; renewed; taken when free or released) and the
// fenced webhook state writes (refused for a node without the lease).
#include <gtest/gtest.h>

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/redis_test_server.hpp"
#include "sluice/engine/redis_shared_state.hpp"

namespace sluice::engine {
namespace {

using test_support::kRedisServer;
using test_support::RedisServer;
using Kind = store::WebhookStateChange::Kind;

class RedisSharedState : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0) GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh)";
    redis_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(redis_->started());
    url_.host = "127.0.0.1";
    url_.port = redis_->port();
    raw_ = std::make_unique<RedisLink>(url_, std::chrono::milliseconds(1000));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto r = raw_->command({"PING"}); r && reply_text(r.get()) == "PONG") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "redis-server did not answer PING";
  }

  RedisSharedSettings node(const std::string& id) const {
    RedisSharedSettings s;
    s.url = url_;
    s.node = id;
    s.lease_ttl = std::chrono::milliseconds(60'000);
    return s;
  }

  std::string text(const std::vector<std::string>& command) {
    auto r = raw_->command(command);
    if (!r) return "(no reply)";
    if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
    if (r->type == REDIS_REPLY_NIL) return "(nil)";
    return std::string(reply_text(r.get()));
  }

  static store::WebhookStateChange position(const std::string& sub, const std::string& topic, std::uint64_t offset) {
    store::WebhookStateChange c;
    c.kind = Kind::position;
    c.subscription = sub;
    c.key = topic;
    c.offset = offset;
    return c;
  }

  std::unique_ptr<RedisServer> redis_;
  RedisUrl url_;
  std::unique_ptr<RedisLink> raw_;  // the test's own look at Redis
};

TEST_F(RedisSharedState, SubscriptionsArePutLoadedAndDeletedWithTheirWebhookState) {
  RedisSubscriptionTable table(node("a"));
  ASSERT_FALSE(table.put_subscription({"sub_1", R"({"id":"sub_1"})"}));
  ASSERT_FALSE(table.put_subscription({"sub_2", R"({"id":"sub_2"})"}));
  auto all = table.load_subscriptions();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(table.last_error(), "");

  RedisWebhookState state(node("a"), nullptr);
  ASSERT_FALSE(state.write_webhook_state(std::vector{position("sub_1", "t", 7)}));
  EXPECT_EQ(text({"HGET", "sluice:0:wp:sub_1", "t"}), "7");
  EXPECT_EQ(text({"GET", "sluice:0:wl:sub_1"}), "a");  // the free lease was taken by the write

  EXPECT_FALSE(table.delete_subscription("sub_1"));
  EXPECT_EQ(table.delete_subscription("sub_1"), std::errc::no_such_file_or_directory);  // gone already
  all = table.load_subscriptions();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, "sub_2");
  EXPECT_EQ(text({"EXISTS", "sluice:0:wp:sub_1", "sluice:0:wl:sub_1", "sluice:0:wd:sub_1"}), "0");

  // A deleted id is never stored again (a node putting back what it thinks Redis lost).
  EXPECT_EQ(table.put_subscription({"sub_1", R"({"id":"sub_1"})"}), std::make_error_code(std::errc::identifier_removed));
  EXPECT_EQ(table.last_error(), kSubscriptionDeleted);
  EXPECT_EQ(table.load_subscriptions().size(), 1u);
}

TEST_F(RedisSharedState, ADocumentRedisLostIsReportedAndItsLeaseStillHeld) {
  RedisSubscriptionTable table(node("a"));
  ASSERT_FALSE(table.put_subscription({"sub_1", "{}"}));
  RedisWebhookLeases a(node("a"));
  const std::vector<std::string> ids{"sub_1"};
  auto before = a.renew(ids);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_TRUE(before[0].stored);
  ASSERT_EQ(text({"FLUSHALL"}), "OK");  // Redis lost everything (restarted without persistence)
  RedisWebhookLeases b(node("b"));
  auto elsewhere = b.renew(ids);  // b was not delivering it: it does not take it (it would start over)
  ASSERT_EQ(elsewhere.size(), 1u);
  EXPECT_FALSE(elsewhere[0].held);
  auto after = a.renew(ids, {true});
  ASSERT_EQ(after.size(), 1u);
  EXPECT_TRUE(after[0].held);  // the node delivering it goes on...
  EXPECT_FALSE(after[0].stored);  // ...and is told to store the document again
  ASSERT_FALSE(table.put_subscription({"sub_1", "{}"}));
  EXPECT_TRUE(a.renew(ids)[0].stored);
}

TEST_F(RedisSharedState, OneNodeHoldsALeaseUntilItReleasesIt) {
  RedisSubscriptionTable table(node("a"));
  ASSERT_FALSE(table.put_subscription({"sub_1", "{}"}));
  ASSERT_FALSE(table.put_subscription({"sub_deleted", "{}"}));
  ASSERT_FALSE(table.delete_subscription("sub_deleted"));
  RedisWebhookLeases a(node("a")), b(node("b"));
  const std::vector<std::string> ids{"sub_1", "sub_deleted"};

  auto first = a.renew(ids);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[0].held);
  EXPECT_TRUE(first[0].stored);
  EXPECT_FALSE(first[1].held);  // deleted: never leased
  EXPECT_EQ(first[1].holder, "");

  auto other = b.renew(ids);
  ASSERT_EQ(other.size(), 2u);
  EXPECT_FALSE(other[0].held);
  EXPECT_EQ(other[0].holder, "a");
  EXPECT_TRUE(a.renew(ids)[0].held);  // renewed

  b.release(ids);  // not b's: nothing happens
  EXPECT_EQ(text({"GET", "sluice:0:wl:sub_1"}), "a");
  a.release(ids);
  EXPECT_EQ(text({"GET", "sluice:0:wl:sub_1"}), "(nil)");
  auto taken = b.renew(ids);
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_TRUE(taken[0].held);
  EXPECT_EQ(taken[0].holder, "b");
}

TEST_F(RedisSharedState, AnExpiredLeaseIsTakenByAnotherNode) {
  RedisSubscriptionTable table(node("a"));
  ASSERT_FALSE(table.put_subscription({"sub_1", "{}"}));
  auto short_lease = node("a");
  short_lease.lease_ttl = std::chrono::milliseconds(50);
  RedisWebhookLeases a(short_lease), b(node("b"));
  const std::vector<std::string> ids{"sub_1"};
  ASSERT_TRUE(a.renew(ids)[0].held);
  // a stops renewing (dead): once the lease expired, b takes it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool taken = false;
  while (!taken && std::chrono::steady_clock::now() < deadline) {
    taken = b.renew(ids)[0].held;
    if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(taken);
  EXPECT_FALSE(a.renew(ids)[0].held);
}

TEST_F(RedisSharedState, OnlyTheLeaseHolderWritesWebhookState) {
  RedisSubscriptionTable table(node("a"));
  ASSERT_FALSE(table.put_subscription({"sub_1", "{}"}));
  RedisWebhookLeases a(node("a"));
  ASSERT_TRUE(a.renew(std::vector<std::string>{"sub_1"})[0].held);

  std::vector<std::string> refused_a, refused_b;
  RedisWebhookState writes_a(node("a"), [&](const std::string& id) { refused_a.push_back(id); });
  RedisWebhookState writes_b(node("b"), [&](const std::string& id) { refused_b.push_back(id); });
  store::WebhookStateChange letter;
  letter.kind = Kind::put_dead_letter;
  letter.subscription = "sub_1";
  letter.key = "dl_1";
  letter.json = R"({"id":"dl_1"})";
  auto with_epoch = position("sub_1", "u", 9);
  with_epoch.epoch = "ep-7";
  ASSERT_FALSE(writes_a.write_webhook_state(std::vector{position("sub_1", "t", 5), letter, with_epoch}));
  ASSERT_FALSE(writes_b.write_webhook_state(std::vector{position("sub_1", "t", 2)}));
  EXPECT_TRUE(refused_a.empty());
  EXPECT_EQ(refused_b, std::vector<std::string>{"sub_1"});
  EXPECT_EQ(text({"HGET", "sluice:0:wp:sub_1", "t"}), "5");  // b could not move a's position back

  RedisWebhookLeases::State loaded;
  ASSERT_TRUE(a.load("sub_1", loaded));
  ASSERT_EQ(loaded.positions.size(), 2u);
  std::sort(loaded.positions.begin(), loaded.positions.end(),
            [](const auto& x, const auto& y) { return x.topic < y.topic; });
  EXPECT_EQ(loaded.positions[0].offset, 5u);
  EXPECT_EQ(loaded.positions[0].epoch, "");
  EXPECT_EQ(loaded.positions[1].offset, 9u);  // stored as "9:ep-7"
  EXPECT_EQ(loaded.positions[1].epoch, "ep-7");
  ASSERT_EQ(loaded.dead_letters.size(), 1u);
  EXPECT_EQ(loaded.dead_letters[0].json, R"({"id":"dl_1"})");

  store::WebhookStateChange undo = letter;
  undo.kind = Kind::delete_dead_letter;
  ASSERT_FALSE(writes_a.write_webhook_state(std::vector{undo}));
  EXPECT_EQ(text({"HLEN", "sluice:0:wd:sub_1"}), "0");

  // A deleted subscription's state is not written back by a late write.
  ASSERT_FALSE(table.delete_subscription("sub_1"));
  ASSERT_FALSE(writes_a.write_webhook_state(std::vector{position("sub_1", "t", 6)}));
  EXPECT_EQ(refused_a, std::vector<std::string>{"sub_1"});
  EXPECT_EQ(text({"EXISTS", "sluice:0:wp:sub_1", "sluice:0:wl:sub_1"}), "0");
}

TEST_F(RedisSharedState, AnUnreachableRedisIsAnErrorNamingNoPassword) {
  RedisUrl down = url_;
  down.port = test_support::free_port();
  down.password = "hunter2-secret";
  RedisSubscriptionTable table([&] {
    auto s = node("a");
    s.url = down;
    return s;
  }());
  EXPECT_TRUE(table.put_subscription({"sub_1", "{}"}));
  EXPECT_TRUE(table.load_subscriptions().empty());
  EXPECT_NE(table.last_error(), "");
  EXPECT_EQ(table.last_error().find("hunter2"), std::string::npos);
  // A wrong password on a server that has none is refused, and not repeated either.
  RedisLink link([&] {
    RedisUrl u = url_;
    u.password = "hunter2-secret";
    return u;
  }(), std::chrono::milliseconds(1000));
  EXPECT_EQ(link.command({"PING"}), nullptr);
  EXPECT_NE(link.error(), "");
  EXPECT_EQ(link.error().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace sluice::engine
