// The Redis engine's append script with idempotency keys, against a real
// redis-server this test starts (skipped where it is not installed): a key
// already in Redis is answered with the first publish (same fingerprint) or
// a conflict (another one), nothing is appended, and the broker does not
// commit it again; once the window has passed the key publishes anew.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sluice/broker/broker.hpp"
#include "sluice/engine/redis_engine.hpp"
#include "sluice/engine/redis_url.hpp"
#include "engine/redis_test_server.hpp"

namespace sluice::engine {
namespace {

using test_support::kRedisServer;
using test_support::RedisServer;

struct Result {
  broker::EventPtr event;
  std::error_code error;
};

class RedisIdempotency : public ::testing::Test {
 protected:
  static constexpr auto kWindow = std::chrono::milliseconds(400);

  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0) GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh)";
    redis_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(redis_->started());
    RedisSettings settings;
    std::string error;
    auto url = parse_redis_url("redis://127.0.0.1:" + std::to_string(redis_->port()), error);
    ASSERT_TRUE(url) << error;
    settings.shards = {*url};
    settings.idempotency_window = kWindow;
    settings.backoff_min = std::chrono::milliseconds(20);
    settings.backoff_max = std::chrono::milliseconds(100);
    engine_ = std::make_unique<RedisEngine>(std::move(settings));
    broker_ = std::make_unique<broker::Broker>([](const broker::EventPtr&) {}, broker::HistoryPolicy{}, engine_.get());
    engine_->start(*broker_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!engine_->available() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(engine_->available()) << "the engine did not connect to redis-server";
  }

  void TearDown() override {
    if (engine_) engine_->stop();
  }

  Result publish(const std::string& data, const std::string& key = "", std::uint64_t print = 0) {
    broker::PublishRequest request;
    request.topic = "t";
    request.data = data;
    request.idempotency_key = key;
    request.idempotency_print = print;
    std::promise<Result> done;
    auto future = done.get_future();
    broker_->publish_async(std::move(request), [&done](broker::EventPtr event, std::error_code error) {
      done.set_value({std::move(event), error});
    });
    return future.get();
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisEngine> engine_;
  std::unique_ptr<broker::Broker> broker_;
};

TEST_F(RedisIdempotency, AKeyInRedisIsAnsweredWithTheFirstPublishAndNothingIsAppended) {
  const Result first = publish("1", "k", 0xfeedfacecafebeef);
  ASSERT_TRUE(first.event) << first.error.message();
  EXPECT_FALSE(first.error);
  EXPECT_EQ(first.event->offset, 1u);

  const Result repeat = publish("1", "k", 0xfeedfacecafebeef);
  EXPECT_EQ(repeat.error, broker::Error::idempotent_repeat);
  ASSERT_TRUE(repeat.event);
  EXPECT_EQ(repeat.event->id, first.event->id);
  EXPECT_EQ(repeat.event->topic, "t");
  EXPECT_EQ(repeat.event->offset, 1u);
  EXPECT_EQ(repeat.event->epoch, first.event->epoch);
  EXPECT_EQ(repeat.event->time_ms, first.event->time_ms);

  // Fingerprints differing only in their high bits: compared as all 64 bits.
  const Result conflict = publish("2", "k", 0x0eedfacecafebeef);
  EXPECT_EQ(conflict.error, broker::Error::idempotency_conflict);
  EXPECT_FALSE(conflict.event);

  // Neither appended: the next event gets offset 2, and history holds two.
  const Result plain = publish("3");
  ASSERT_TRUE(plain.event) << plain.error.message();
  EXPECT_EQ(plain.event->offset, 2u);
  const auto history = broker_->history("t", 0, 10);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]->id, first.event->id);
  EXPECT_EQ(history[0]->data, "1");
}

TEST_F(RedisIdempotency, AfterTheWindowTheKeyPublishesAnew) {
  const auto start = std::chrono::steady_clock::now();
  const Result first = publish("1", "w", 7);
  ASSERT_TRUE(first.event);
  // Repeats until Redis has let the key go (bounded): the publish that
  // follows is a new event, and not before the window.
  Result next = publish("1", "w", 7);
  while (next.error == broker::Error::idempotent_repeat &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    next = publish("1", "w", 7);
  }
  ASSERT_TRUE(next.event);
  EXPECT_FALSE(next.error) << next.error.message();
  EXPECT_EQ(next.event->offset, 2u);
  EXPECT_NE(next.event->id, first.event->id);
  EXPECT_GE(std::chrono::steady_clock::now() - start, kWindow);
}

}  // namespace
}  // namespace sluice::engine
