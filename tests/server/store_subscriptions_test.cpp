// The embedded engine's subscription store: writes run on its own thread (an
// event loop that creates a subscription never waits for SQLite), in order;
// past its bound it refuses at once; stop() answers what it was given.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "server/http_test_util.hpp"
#include "sluice/engine/store_subscriptions.hpp"

namespace sluice::test {
namespace {

// A MemoryStore whose subscription writes wait until the test opens the gate.
class GatedStore : public MemoryStore {
 public:
  std::error_code put_subscription(const store::StoredSubscription& s) override {
    std::unique_lock lock(gate_mutex_);
    entered_ = true;
    entered_cv_.notify_all();
    gate_cv_.wait(lock, [this] { return open_; });
    writer_ = std::this_thread::get_id();
    order_.push_back(s.id);
    lock.unlock();
    return MemoryStore::put_subscription(s);
  }
  void open() {
    std::lock_guard lock(gate_mutex_);
    open_ = true;
    gate_cv_.notify_all();
  }
  bool wait_entered() {
    std::unique_lock lock(gate_mutex_);
    return entered_cv_.wait_for(lock, std::chrono::seconds(10), [this] { return entered_; });
  }
  std::thread::id writer() {
    std::lock_guard lock(gate_mutex_);
    return writer_;
  }
  std::vector<std::string> order() {
    std::lock_guard lock(gate_mutex_);
    return order_;
  }

 private:
  std::mutex gate_mutex_;
  std::condition_variable gate_cv_, entered_cv_;
  bool open_ = false, entered_ = false;
  std::thread::id writer_;
  std::vector<std::string> order_;
};

TEST(StoreSubscriptions, WritesOnItsOwnThreadInOrderWithoutBlockingTheCaller) {
  GatedStore store;
  engine::StoreSubscriptions subscriptions(store);
  std::vector<std::promise<std::string>> answers(3);
  for (int i = 0; i < 3; ++i) {
    // Returns although the store is stuck: the caller (an event loop) never waits for it.
    subscriptions.put("sub_" + std::to_string(i), "{}", [&answers, i](std::string error) {
      answers[i].set_value(std::move(error));
    });
  }
  ASSERT_TRUE(store.wait_entered());
  EXPECT_EQ(store.subscription_writes.load(), 0);
  store.open();
  for (auto& answer : answers) {
    auto f = answer.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(f.get(), "");
  }
  EXPECT_NE(store.writer(), std::this_thread::get_id());
  EXPECT_EQ(store.order(), (std::vector<std::string>{"sub_0", "sub_1", "sub_2"}));
  EXPECT_EQ(store.load_subscriptions().size(), 3u);
}

TEST(StoreSubscriptions, RefusesAtOnceWhenTooManyAreWaitingAndAfterStop) {
  GatedStore store;
  engine::StoreSubscriptions subscriptions(store, /*max_queued=*/2);
  std::promise<std::string> first;
  subscriptions.put("sub_first", "{}", [&](std::string error) { first.set_value(std::move(error)); });
  ASSERT_TRUE(store.wait_entered());  // the writer holds sub_first: the queue is empty again
  std::vector<std::string> queued_answers;
  std::mutex queued_mutex;
  for (int i = 0; i < 2; ++i) {
    subscriptions.put("sub_q" + std::to_string(i), "{}", [&](std::string error) {
      std::lock_guard lock(queued_mutex);
      queued_answers.push_back(std::move(error));
    });
  }
  std::string refused = "not answered";
  const auto caller = std::this_thread::get_id();
  std::thread::id answered_on;
  subscriptions.put("sub_over", "{}", [&](std::string error) {
    refused = std::move(error);
    answered_on = std::this_thread::get_id();
  });
  EXPECT_NE(refused.find("busy"), std::string::npos) << refused;  // answered before put returned
  EXPECT_EQ(answered_on, caller);
  store.open();
  subscriptions.stop();  // answers what it was given, then refuses
  EXPECT_EQ(first.get_future().get(), "");
  EXPECT_EQ(queued_answers, (std::vector<std::string>{"", ""}));
  std::string after_stop;
  subscriptions.remove("sub_first", [&](std::string error) { after_stop = std::move(error); });
  EXPECT_NE(after_stop.find("stopped"), std::string::npos) << after_stop;
  EXPECT_EQ(store.load_subscriptions().size(), 3u);  // sub_over was never written
}

}  // namespace
}  // namespace sluice::test
