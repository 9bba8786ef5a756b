// The registry's side of subscriptions shared by several nodes (issue #17):
// another node's creates and deletes (apply_put, apply_removed), a late
// announcement never bringing back a deleted subscription, its own create
// announced back to it, and the whole set read again after a reconnect
// (reconcile: adds what is missing, reports what the store no longer holds).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/subscription_test_util.hpp"

namespace sluice::test {
namespace {

store::StoredSubscription stored(const std::string& id, const char* topics = R"(["orders.*"])") {
  return {id, std::string(R"({"id":")") + id + R"(","topics":)" + topics + R"(,"filter":null,"webhook":null,"createdMs":1})"};
}

TEST(SharedSubscriptions, AnotherNodesCreateAndDeleteApplyHere) {
  server::SubscriptionRegistry registry(nullptr);
  std::vector<std::string> added, removed;
  registry.set_on_added([&](const server::SubscriptionPtr& s) { added.push_back(s->id); });
  registry.set_on_removed([&](const std::string& id) { removed.push_back(id); });
  std::string error;
  ASSERT_TRUE(registry.apply_put(stored("sub_a"), error)) << error;
  ASSERT_TRUE(registry.get("sub_a"));
  EXPECT_EQ(registry.matching("orders.1", "", "", nullptr).size(), 1u);
  ASSERT_TRUE(registry.apply_put(stored("sub_a"), error));  // announced twice: once here
  EXPECT_EQ(added, std::vector<std::string>{"sub_a"});

  registry.apply_removed("sub_a");
  EXPECT_FALSE(registry.get("sub_a"));
  EXPECT_TRUE(registry.matching("orders.1", "", "", nullptr).empty());
  registry.apply_removed("sub_a");  // twice: nothing more
  EXPECT_EQ(removed, std::vector<std::string>{"sub_a"});
  // A create announced late (after the delete) does not bring it back.
  ASSERT_TRUE(registry.apply_put(stored("sub_a"), error));
  EXPECT_FALSE(registry.get("sub_a"));
  EXPECT_EQ(added.size(), 1u);

  EXPECT_FALSE(registry.apply_put({"sub_bad", "{not json"}, error));
  EXPECT_NE(error, "");
}

TEST(SharedSubscriptions, ALocalDeleteIsNotUndoneByItsOwnLateAnnouncement) {
  server::SubscriptionRegistry registry(nullptr);
  const auto sub = create_now(registry, spec({"a.*"}), 1).subscription;
  ASSERT_TRUE(sub);
  ASSERT_TRUE(registry.remove(sub->id));
  std::string error;
  ASSERT_TRUE(registry.apply_put({sub->id, sub->to_stored_json()}, error));
  EXPECT_FALSE(registry.get(sub->id));
}

TEST(SharedSubscriptions, WebhookStartIsStoredWithTheSubscription) {
  server::SubscriptionRegistry registry(nullptr);
  auto s = spec({"orders.*"});
  s.webhook_start = {{"orders.eu", {41, "ep1"}}, {"orders.us", {7, "ep2"}}};
  const auto sub = create_now(registry, std::move(s), 1).subscription;
  ASSERT_TRUE(sub);
  std::string error;
  const auto back = server::subscription_from_stored_json(sub->to_stored_json(), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->webhook_start, sub->webhook_start);
  EXPECT_EQ(sub->to_json().find("webhookStart"), std::string::npos);  // not part of the API
}

TEST(SharedSubscriptions, ReconcileAddsWhatIsMissingAndReportsWhatTheStoreLacks) {
  server::SubscriptionRegistry registry(nullptr);
  std::string error;
  ASSERT_TRUE(registry.apply_put(stored("sub_kept"), error));
  ASSERT_TRUE(registry.apply_put(stored("sub_gone"), error));
  auto known = registry.ids();
  // Created here after the read was asked for: not reported.
  ASSERT_TRUE(registry.apply_put(stored("sub_new"), error));
  ASSERT_TRUE(registry.apply_put(stored("sub_deleted_here"), error));
  registry.remove("sub_deleted_here");  // its delete in the store failed: the store still has it
  const auto r = registry.reconcile(
      {stored("sub_kept"), stored("sub_other"), {"sub_bad", "[]"}, stored("sub_deleted_here")}, known);
  EXPECT_EQ(r.absent, std::vector<std::string>{"sub_gone"});
  EXPECT_EQ(r.removed_here, std::vector<std::string>{"sub_deleted_here"});
  EXPECT_FALSE(registry.get("sub_deleted_here"));  // not brought back
  EXPECT_TRUE(registry.get("sub_other"));  // another node's, missed while away
  EXPECT_TRUE(registry.get("sub_new"));
  EXPECT_TRUE(registry.get("sub_gone"));  // the caller decides (deleted, or lost by the store)
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("sub_bad"), std::string::npos);
}

}  // namespace
}  // namespace sluice::test
