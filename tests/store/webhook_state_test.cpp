// Webhook delivery state in the SQLite store (issue #14): positions and dead
// letters written in order in one transaction, loaded back after a reopen,
// removed with their subscription, and a version 1 file migrated in place.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>

#include "store/store_test_util.hpp"

namespace sluice::store {
namespace {

using testing::open_or_fail;
using testing::TempDir;

WebhookStateChange position(std::string sub, std::string topic, std::uint64_t offset) {
  return {WebhookStateChange::Kind::position, std::move(sub), std::move(topic), offset, {}, {}};
}
WebhookStateChange dead(std::string sub, std::string id, std::string json) {
  return {WebhookStateChange::Kind::put_dead_letter, std::move(sub), std::move(id), 0, std::move(json), {}};
}
WebhookStateChange undead(std::string sub, std::string id) {
  return {WebhookStateChange::Kind::delete_dead_letter, std::move(sub), std::move(id), 0, {}, {}};
}

void exec(const std::filesystem::path& file, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &message), SQLITE_OK) << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

TEST(StoreWebhookState, WrittenInOrderLoadedAfterReopenAndGoneWithTheSubscription) {
  TempDir dir;
  {
    auto store = open_or_fail(dir.str());
    ASSERT_FALSE(store->put_subscription({"sub_a", "{}"}));
    ASSERT_FALSE(store->put_subscription({"sub_b", "{}"}));
    const std::vector<WebhookStateChange> changes = {
        position("sub_a", "t.1", 5), dead("sub_a", "dl_1", R"({"n":1})"), position("sub_a", "t.1", 9),
        dead("sub_a", "dl_2", R"({"n":2})"), undead("sub_a", "dl_1"), position("sub_b", "t.2", 3),
        dead("sub_b", "dl_9", R"({"n":9})")};
    ASSERT_FALSE(store->write_webhook_state(changes));
  }
  auto store = open_or_fail(dir.str());
  auto positions = store->load_webhook_positions();
  std::sort(positions.begin(), positions.end(), [](auto& a, auto& b) { return a.subscription < b.subscription; });
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[0].subscription, "sub_a");
  EXPECT_EQ(positions[0].topic, "t.1");
  EXPECT_EQ(positions[0].offset, 9u);
  EXPECT_EQ(positions[1].offset, 3u);
  auto letters = store->load_webhook_dead_letters();
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[0].id, "dl_2");
  EXPECT_EQ(letters[0].json, R"({"n":2})");
  EXPECT_EQ(letters[1].subscription, "sub_b");
  // Deleting a subscription takes its webhook state with it.
  EXPECT_FALSE(store->delete_subscription("sub_a"));
  EXPECT_EQ(store->load_webhook_positions().size(), 1u);
  ASSERT_EQ(store->load_webhook_dead_letters().size(), 1u);
  EXPECT_EQ(store->load_webhook_dead_letters()[0].subscription, "sub_b");
}

TEST(StoreWebhookState, OrphanStateIsDroppedOnOpen) {
  TempDir dir;
  {
    auto store = open_or_fail(dir.str());
    // Written just after its subscription's delete (a writer that lagged).
    ASSERT_FALSE(store->write_webhook_state(std::vector{position("sub_gone", "t", 1), dead("sub_gone", "dl_1", "{}")}));
  }
  auto store = open_or_fail(dir.str());
  EXPECT_TRUE(store->load_webhook_positions().empty());
  EXPECT_TRUE(store->load_webhook_dead_letters().empty());
}

TEST(StoreWebhookState, AVersionOneFileIsMigrated) {
  TempDir dir;
  {
    auto store = open_or_fail(dir.str());
    ASSERT_FALSE(store->put_subscription({"sub_a", "{}"}));
  }
  // Back to what version 1 had: no webhook tables.
  exec(dir.path() / "sluice.db",
       "DROP TRIGGER subscriptions_webhook_state; DROP TABLE webhook_positions; DROP TABLE webhook_dead_letters; "
       "PRAGMA user_version=1;");
  auto store = open_or_fail(dir.str());
  EXPECT_EQ(store->load_subscriptions().size(), 1u);
  ASSERT_FALSE(store->write_webhook_state(std::vector{position("sub_a", "t", 4)}));
  ASSERT_EQ(store->load_webhook_positions().size(), 1u);
}

}  // namespace
}  // namespace sluice::store
