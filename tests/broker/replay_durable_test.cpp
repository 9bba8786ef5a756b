// A replay taken while publishes are still being made durable: the replay
// covers what history holds, and the events still in the store's hands reach
// the subscriber live afterwards (the bug: `covered` counted offsets handed
// out but not yet committed, so a resuming subscriber skipped them).
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "sluice/broker/broker.hpp"

namespace sluice::broker {
namespace {

// An in-memory store whose appends wait while `hold` is on.
class GatedStore : public store::EventStore {
 public:
  void set_hold(bool on) {
    {
      std::lock_guard lock(mutex_);
      hold_ = on;
    }
    cv_.notify_all();
  }
  std::error_code append(std::span<const store::StoredEvent> batch) override {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !hold_; });
    appended_ += batch.size();
    return {};
  }
  std::vector<store::TopicPosition> load_positions() override { return {}; }
  std::vector<store::StoredEvent> load_recent(std::size_t, std::int64_t) override { return {}; }
  std::vector<store::StoredEvent> read(std::string_view, std::uint64_t, std::size_t) override { return {}; }
  std::optional<store::StoredEvent> find(std::string_view) override { return std::nullopt; }
  std::optional<store::StoredEvent> find_idempotent(std::string_view, std::int64_t) override { return std::nullopt; }
  std::error_code trim(std::string_view, std::uint64_t) override { return {}; }
  std::error_code put_subscription(const store::StoredSubscription&) override { return {}; }
  std::error_code delete_subscription(std::string_view) override { return {}; }
  std::vector<store::StoredSubscription> load_subscriptions() override { return {}; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool hold_ = false;
  std::size_t appended_ = 0;
};

TEST(BrokerReplay, CoversOnlyCommittedEventsWhileOthersAreBeingStored) {
  GatedStore store;
  store::GroupCommitLog log(store);
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::uint64_t> dispatched;
  Broker broker(
      [&](const EventPtr& e) {
        {
          std::lock_guard lock(mutex);
          dispatched.push_back(e->offset);
        }
        cv.notify_all();
      },
      HistoryLimits{}, &log);
  broker.publish({"t", "1", "", "", ""});
  broker.publish({"t", "2", "", "", ""});
  store.set_hold(true);
  broker.publish_async({"t", "3", "", "", ""}, [](EventPtr, std::error_code) {});  // offset 3: not durable yet

  ReplayRequest request;
  request.pattern = "t";
  request.positions["t"] = Position{1, ""};
  const auto replay = broker.replay(request);
  EXPECT_TRUE(replay.recovered);
  ASSERT_EQ(replay.events.size(), 1u);
  EXPECT_EQ(replay.events[0]->offset, 2u);
  ASSERT_EQ(replay.covered.size(), 1u);
  EXPECT_EQ(replay.covered[0].second, 2u) << "offset 3 is not in history yet: it must come live, not be skipped";

  store.set_hold(false);
  std::unique_lock lock(mutex);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return dispatched.size() == 3; }));
  EXPECT_EQ(dispatched.back(), 3u);
  lock.unlock();
  log.stop();  // the commit thread may still be inside the dispatch lambda: join it before the broker goes
}

}  // namespace
}  // namespace sluice::broker
