// The webhook state writer against a store that fails: nothing queued is
// lost while the store refuses transactions, order is kept, a deleted
// subscription's changes are dropped, and stop() gives up after its tries.
#include "server/webhooks/webhook_state_writer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "http_test_util.hpp"

namespace sluice::server::detail {
namespace {

using store::WebhookStateChange;
using namespace std::chrono_literals;

/// Fails the next `fail_next` transactions (all of them while `fail_always`),
/// holds writes while `hold` is set, and keeps what it wrote, in order.
class FlakyStore final : public test::MemoryStore {
 public:
  std::error_code write_webhook_state(std::span<const WebhookStateChange> changes) override {
    std::unique_lock lock(mutex_);
    ++calls_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return !hold_; });
    if (fail_always_ || fail_next_ > 0) {
      if (fail_next_ > 0) --fail_next_;
      return std::make_error_code(std::errc::no_space_on_device);
    }
    written_.insert(written_.end(), changes.begin(), changes.end());
    changed_.notify_all();
    return {};
  }
  std::string last_error() const override { return "database or disk is full"; }

  void fail_next(int n) {
    std::lock_guard lock(mutex_);
    fail_next_ = n;
  }
  void fail_always(bool on) {
    std::lock_guard lock(mutex_);
    fail_always_ = on;
  }
  void hold(bool on) {
    std::lock_guard lock(mutex_);
    hold_ = on;
    changed_.notify_all();
  }
  /// Waits until `calls` transactions were attempted.
  bool await_calls(int calls) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return calls_ >= calls; });
  }
  /// Waits until `count` changes were written.
  std::vector<WebhookStateChange> await_written(std::size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 10s, [&] { return written_.size() >= count; });
    return written_;
  }
  std::vector<WebhookStateChange> written() {
    std::lock_guard lock(mutex_);
    return written_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int fail_next_ = 0;
  bool fail_always_ = false;
  bool hold_ = false;
  int calls_ = 0;
  std::vector<WebhookStateChange> written_;
};

WebhookStateChange position(std::string subscription, std::string topic, std::uint64_t offset) {
  WebhookStateChange c;
  c.kind = WebhookStateChange::Kind::position;
  c.subscription = std::move(subscription);
  c.key = std::move(topic);
  c.offset = offset;
  return c;
}

WebhookStateChange dead_letter(std::string subscription, std::string id, WebhookStateChange::Kind kind) {
  WebhookStateChange c;
  c.kind = kind;
  c.subscription = std::move(subscription);
  c.key = std::move(id);
  if (kind == WebhookStateChange::Kind::put_dead_letter) c.json = "{}";
  return c;
}

constexpr WebhookStateWriter::Retry kFast{1ms, 4ms, 2};

TEST(WebhookStateWriter, RetriesAFailedTransactionUntilWrittenInOrder) {
  FlakyStore store;
  store.fail_next(3);
  WebhookStateWriter writer(store, kFast);
  writer.queue(position("sub_a", "t", 4));
  writer.queue(dead_letter("sub_a", "dl_1", WebhookStateChange::Kind::put_dead_letter));
  writer.queue(position("sub_a", "t", 5));
  const auto written = store.await_written(3);
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[0].offset, 4u);
  EXPECT_EQ(written[1].kind, WebhookStateChange::Kind::put_dead_letter);
  EXPECT_EQ(written[1].key, "dl_1");
  EXPECT_EQ(written[2].offset, 5u);  // not merged into 4: a position never overtakes a dead letter
  writer.stop();  // the writer has seen the store's answer
  EXPECT_EQ(writer.failures(), 3u);
  EXPECT_EQ(writer.pending(), 0u);
}

TEST(WebhookStateWriter, ChangesQueuedDuringAnOutageFollowTheFailedOnes) {
  FlakyStore store;
  store.fail_always(true);
  WebhookStateWriter writer(store, kFast);
  writer.queue(dead_letter("sub_a", "dl_1", WebhookStateChange::Kind::put_dead_letter));
  ASSERT_TRUE(store.await_calls(2));
  writer.queue(dead_letter("sub_a", "dl_2", WebhookStateChange::Kind::put_dead_letter));
  ASSERT_TRUE(store.await_calls(4));
  EXPECT_EQ(writer.pending(), 2u);
  store.fail_always(false);
  const auto written = store.await_written(2);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].key, "dl_1");
  EXPECT_EQ(written[1].key, "dl_2");
}

TEST(WebhookStateWriter, ADeletedSubscriptionsFailedChangesAreDropped) {
  FlakyStore store;
  store.fail_always(true);
  // One failed try, then a wait that only stop() cuts short: no further try
  // can be under way (and succeed with the deleted subscription's change,
  // which the store itself would drop) when forget() runs.
  WebhookStateWriter writer(store, {1h, 1h, 1});
  writer.queue(dead_letter("sub_gone", "dl_1", WebhookStateChange::Kind::put_dead_letter));
  writer.queue(position("sub_kept", "t", 7));
  ASSERT_TRUE(store.await_calls(1));
  writer.forget("sub_gone");
  store.fail_always(false);
  writer.stop();  // the last try writes what is left
  const auto written = store.written();
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].subscription, "sub_kept");
  EXPECT_EQ(writer.pending(), 0u);
}

TEST(WebhookStateWriter, ADeletionDuringAFailingWriteDropsItsChanges) {
  FlakyStore store;
  store.hold(true);
  store.fail_next(1);
  WebhookStateWriter writer(store, kFast);
  writer.queue(dead_letter("sub_gone", "dl_1", WebhookStateChange::Kind::put_dead_letter));
  writer.queue(position("sub_kept", "t", 7));
  ASSERT_TRUE(store.await_calls(1));  // the transaction is under way (held), and will fail
  writer.forget("sub_gone");
  store.hold(false);
  const auto written = store.await_written(1);
  writer.stop();
  ASSERT_EQ(store.written().size(), 1u);
  EXPECT_EQ(written[0].subscription, "sub_kept");
}

TEST(WebhookStateWriter, ADeletionReplacesItsUnwrittenPut) {
  FlakyStore store;
  store.hold(true);
  WebhookStateWriter writer(store, kFast);
  writer.queue(position("sub_a", "t", 1));
  ASSERT_TRUE(store.await_calls(1));  // held: what follows queues up behind it
  writer.queue(dead_letter("sub_a", "dl_1", WebhookStateChange::Kind::put_dead_letter));
  writer.queue(dead_letter("sub_a", "dl_2", WebhookStateChange::Kind::put_dead_letter));
  writer.queue(dead_letter("sub_a", "dl_1", WebhookStateChange::Kind::delete_dead_letter));
  store.hold(false);
  const auto written = store.await_written(3);
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[1].kind, WebhookStateChange::Kind::put_dead_letter);
  EXPECT_EQ(written[1].key, "dl_2");
  EXPECT_EQ(written[2].kind, WebhookStateChange::Kind::delete_dead_letter);
  EXPECT_EQ(written[2].key, "dl_1");
}

TEST(WebhookStateWriter, StopGivesUpOnAStoreThatKeepsFailing) {
  FlakyStore store;
  store.fail_always(true);
  WebhookStateWriter writer(store, kFast);
  writer.queue(dead_letter("sub_a", "dl_1", WebhookStateChange::Kind::put_dead_letter));
  ASSERT_TRUE(store.await_calls(1));
  writer.stop();  // returns after kFast.on_stop more tries, and says so in the log
  EXPECT_EQ(writer.pending(), 1u);
  EXPECT_TRUE(store.written().empty());
}

// A change queued after stop() began is not written, and the log says so
// (with the dead letter's id): never dropped silently.
TEST(WebhookStateWriter, AChangeAfterStopIsNotWrittenAndTheLogSaysSo) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out)));
  FlakyStore store;
  WebhookStateWriter writer(store, kFast);
  writer.stop();
  writer.queue(dead_letter("sub_late", "dl_late", WebhookStateChange::Kind::put_dead_letter));
  spdlog::set_default_logger(previous);
  EXPECT_TRUE(store.written().empty());
  EXPECT_NE(out.str().find("not written: subscription sub_late, dead letter dl_late"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace sluice::server::detail
