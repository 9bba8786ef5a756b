// Helpers shared by the store tests: a temporary directory removed afterwards,
// events with predictable fields, and a scriptable in-memory EventStore.
#pragma once

#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "sluice/store/event_store.hpp"

namespace sluice::store::testing {

using TempDir = sluice::test::TempDir;

/// An event whose fields all derive from (topic, offset), so a test can
/// check exact values after any round trip.
inline StoredEvent make_event(const std::string& topic, std::uint64_t offset, std::string epoch = "ep1") {
  StoredEvent e;
  e.id = "evt_" + topic + "_" + std::to_string(offset);
  e.topic = topic;
  e.offset = offset;
  e.epoch = std::move(epoch);
  e.type = "type." + topic;
  e.key = "key" + std::to_string(offset % 3);
  e.time_ms = 1'000'000 + static_cast<std::int64_t>(offset);
  e.data = R"({"n":)" + std::to_string(offset) + R"(,"topic":")" + topic + R"("})";
  return e;
}

inline void expect_same(const StoredEvent& a, const StoredEvent& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.topic, b.topic);
  EXPECT_EQ(a.offset, b.offset);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.time_ms, b.time_ms);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
}

inline std::unique_ptr<EventStore> open_or_fail(const std::string& directory,
                                                Durability durability = Durability::os_buffered) {
  std::string error;
  auto store = open_sqlite_store(directory, durability, error);
  EXPECT_NE(store, nullptr) << error;
  return store;
}

/// An EventStore whose append() runs a test-supplied function (to block, fail
/// or slow down), optionally hands the batch on to a real store, and records
/// each batch. Only append() matters.
class ScriptedStore final : public EventStore {
 public:
  std::function<std::error_code(std::span<const StoredEvent>)> on_append;
  EventStore* forward_to = nullptr;  ///< if set, a batch on_append let through goes on to it

  std::error_code append(std::span<const StoredEvent> batch) override {
    std::error_code ec = on_append ? on_append(batch) : std::error_code{};
    if (!ec && forward_to != nullptr) ec = forward_to->append(batch);
    std::lock_guard lock(mutex_);
    batch_sizes_.push_back(batch.size());
    if (!ec) appended_.insert(appended_.end(), batch.begin(), batch.end());
    return ec;
  }
  std::vector<StoredEvent> appended() const {
    std::lock_guard lock(mutex_);
    return appended_;
  }
  std::vector<std::size_t> batch_sizes() const {
    std::lock_guard lock(mutex_);
    return batch_sizes_;
  }

  std::vector<TopicPosition> load_positions() override { return {}; }
  std::vector<StoredEvent> load_recent(std::size_t, std::int64_t) override { return {}; }
  std::vector<StoredEvent> read(std::string_view, std::uint64_t, std::size_t) override { return {}; }
  std::optional<StoredEvent> find(std::string_view) override { return std::nullopt; }
  std::optional<StoredEvent> find_idempotent(std::string_view, std::int64_t) override { return std::nullopt; }
  std::error_code trim(std::string_view, std::uint64_t) override { return {}; }
  std::error_code put_subscription(const StoredSubscription&) override { return {}; }
  std::error_code delete_subscription(std::string_view) override { return {}; }
  std::vector<StoredSubscription> load_subscriptions() override { return {}; }

 private:
  mutable std::mutex mutex_;
  std::vector<StoredEvent> appended_;
  std::vector<std::size_t> batch_sizes_;
};

/// A one-shot gate: the writer announces it arrived, then waits to be let through.
class Gate {
 public:
  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    arrived_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void wait_arrived() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return arrived_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool arrived_ = false;
  bool open_ = false;
};

}  // namespace sluice::store::testing
