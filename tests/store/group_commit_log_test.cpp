// GroupCommitLog: submission order across threads, grouping, the byte bound,
// draining on stop(), and errors reaching every completion of a batch.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/store_test_util.hpp"
#include "sluice/util/wake_batch.hpp"

namespace sluice::store {
namespace {

using namespace std::chrono_literals;
using testing::expect_same;
using testing::Gate;
using testing::make_event;
using testing::open_or_fail;
using testing::ScriptedStore;
using testing::TempDir;

// The store holds its first batch until `gate` opens, so what is submitted
// meanwhile queues up behind it (pins the batch boundaries).
void hold_first_batch(ScriptedStore& store, Gate& gate) {
  store.on_append = [&gate, first = std::make_shared<std::atomic<bool>>(true)](std::span<const StoredEvent>) {
    if (first->exchange(false)) gate.arrive_and_wait();
    return std::error_code{};
  };
}

TEST(StoreGroupCommit, CompletionsRunInSubmissionOrderFromFourThreads) {
  TempDir dir;
  auto store = open_or_fail(dir.str(), Durability::fsync);
  ASSERT_NE(store, nullptr);
  GroupCommitLog log(*store);

  constexpr int kThreads = 4, kPerThread = 2000;
  // The test's own lock makes "submission order" observable: a sequence
  // number taken together with the submit() it labels.
  std::mutex order_mutex;
  std::uint64_t next_sequence = 0;
  std::vector<std::uint64_t> completed;  // touched only by the writer thread until stop()
  std::atomic<int> errors{0};
  std::atomic<int> refused{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= kPerThread; ++i) {
        std::lock_guard lock(order_mutex);
        const std::uint64_t sequence = next_sequence++;
        const bool accepted = log.submit(make_event("order.t" + std::to_string(t), i), [&, sequence](std::error_code ec) {
          if (ec) ++errors;
          completed.push_back(sequence);
        });
        if (!accepted) ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  log.stop();

  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(completed.size(), std::size_t{kThreads * kPerThread});
  for (std::size_t i = 0; i < completed.size(); ++i) ASSERT_EQ(completed[i], i) << "completion " << i;
  // Grouping: one transaction (one fsync) carried many publishes.
  EXPECT_LT(log.batches_written(), std::uint64_t{kThreads * kPerThread});
  EXPECT_GE(log.batches_written(), 1u);
  std::printf("[          ] %d events in %llu batches\n", kThreads * kPerThread,
              static_cast<unsigned long long>(log.batches_written()));

  for (int t = 0; t < kThreads; ++t) {
    const std::string topic = "order.t" + std::to_string(t);
    auto events = store->read(topic, 0, 10'000);
    ASSERT_EQ(events.size(), std::size_t{kPerThread});
    for (int i = 0; i < kPerThread; ++i) expect_same(events[i], make_event(topic, i + 1));
  }
}

TEST(StoreGroupCommit, BatchesAreCappedAtMaxBatch) {
  ScriptedStore store;
  Gate gate;
  hold_first_batch(store, gate);
  GroupCommitLog log(store, 1 << 20, 10);
  ASSERT_TRUE(log.submit(make_event("cap", 1), nullptr));
  gate.wait_arrived();  // the writer holds a batch of one; 25 more queue up
  for (int i = 2; i <= 26; ++i) ASSERT_TRUE(log.submit(make_event("cap", i), nullptr));
  gate.open();
  log.stop();
  EXPECT_EQ(store.batch_sizes(), (std::vector<std::size_t>{1, 10, 10, 5}));
  EXPECT_EQ(log.batches_written(), 4u);
  EXPECT_EQ(store.appended().size(), 26u);
}

TEST(StoreGroupCommit, WakeUpsHeldByABatchsCompletionsRunAfterAllOfThem) {
  // What a group commit's completions hold (the server's loop wake-ups) is
  // posted once the whole batch completed, not at its first event.
  ScriptedStore store;
  Gate gate;
  hold_first_batch(store, gate);
  GroupCommitLog log(store);
  std::vector<std::string> seen;  // the writer thread's only, until stop()
  auto complete = [&](int i) {
    return [&, i](std::error_code) {
      seen.push_back("done " + std::to_string(i));
      auto* wakes = util::WakeBatch::current();
      if (!wakes) return seen.push_back("no batch");
      if (i == 2 || i == 3) wakes->hold([&, i] { seen.push_back("wake " + std::to_string(i)); });
    };
  };
  ASSERT_TRUE(log.submit(make_event("wake", 1), complete(1)));
  gate.wait_arrived();  // the writer holds a batch of one; three more queue up
  for (int i = 2; i <= 4; ++i) ASSERT_TRUE(log.submit(make_event("wake", i), complete(i)));
  gate.open();
  log.stop();
  EXPECT_EQ(store.batch_sizes(), (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(seen, (std::vector<std::string>{"done 1", "done 2", "done 3", "done 4", "wake 2", "wake 3"}));
  EXPECT_EQ(util::WakeBatch::current(), nullptr);  // none outside the writer's completions
}

TEST(StoreGroupCommit, WakeBatchesNestAndRunWhatTheyHoldAtTheirEnd) {
  std::vector<int> ran;
  {
    util::WakeBatch outer;
    EXPECT_EQ(util::WakeBatch::current(), &outer);
    outer.hold([&] { ran.push_back(1); });
    {
      util::WakeBatch inner;
      EXPECT_EQ(util::WakeBatch::current(), &inner);
      inner.hold([&] { ran.push_back(2); });
    }
    EXPECT_EQ(ran, std::vector<int>{2});
    EXPECT_EQ(util::WakeBatch::current(), &outer);
    outer.hold([&] { ran.push_back(3); });
  }
  EXPECT_EQ(ran, (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(util::WakeBatch::current(), nullptr);
}

TEST(StoreGroupCommit, RefusesOverThePendingByteBound) {
  ScriptedStore store;
  Gate gate;
  store.on_append = [&](std::span<const StoredEvent>) {
    gate.arrive_and_wait();
    return std::error_code{};
  };
  // Each event counts topic + data + key = 10 + 85 + 5 = 100 bytes.
  auto sized = [](int n) {
    StoredEvent e;
    e.topic = "bound.xxxx";
    e.data = std::string(85, 'd');
    e.key = "key" + std::to_string(n % 10) + "x";
    e.offset = static_cast<std::uint64_t>(n);
    e.id = "evt_" + std::to_string(n);
    return e;
  };
  GroupCommitLog log(store, 1000);
  std::atomic<int> done{0};
  auto count = [&](std::error_code ec) {
    EXPECT_FALSE(ec);
    ++done;
  };
  ASSERT_TRUE(log.submit(sized(1), count));
  gate.wait_arrived();  // in the writer's hands, still counted as pending
  for (int i = 2; i <= 10; ++i) ASSERT_TRUE(log.submit(sized(i), count)) << i;
  bool called = false;
  EXPECT_FALSE(log.submit(sized(11), [&](std::error_code) { called = true; }));  // 1100 > 1000
  StoredEvent tiny;
  tiny.topic = "";
  EXPECT_TRUE(log.submit(tiny, count));  // zero bytes still fit

  gate.open();
  log.stop();
  EXPECT_FALSE(called);  // a refused submit never calls its completion
  EXPECT_EQ(done.load(), 11);
  EXPECT_EQ(store.appended().size(), 11u);
}

TEST(StoreGroupCommit, BytesAreReleasedOnceABatchIsWritten) {
  ScriptedStore store;
  GroupCommitLog log(store, 250);
  for (int round = 0; round < 20; ++round) {
    std::promise<void> written;
    StoredEvent e = make_event("release", static_cast<std::uint64_t>(round) + 1);
    e.data = std::string(200, 'x');
    ASSERT_TRUE(log.submit(e, [&](std::error_code) { written.set_value(); })) << round;
    written.get_future().wait();
  }
  log.stop();
  EXPECT_EQ(store.appended().size(), 20u);
}

TEST(StoreGroupCommit, StopDrainsEverythingSubmittedBeforeIt) {
  ScriptedStore store;
  store.on_append = [](std::span<const StoredEvent>) {
    std::this_thread::sleep_for(1ms);  // a slow disk: work piles up
    return std::error_code{};
  };
  std::vector<std::uint64_t> completed;
  {
    GroupCommitLog log(store, 1 << 20, 16);
    for (std::uint64_t i = 1; i <= 1000; ++i) {
      ASSERT_TRUE(log.submit(make_event("drain", i), [&, i](std::error_code ec) {
        EXPECT_FALSE(ec);
        completed.push_back(i);
      }));
    }
    log.stop();
    EXPECT_EQ(completed.size(), 1000u);  // all ran before stop() returned
    EXPECT_FALSE(log.submit(make_event("drain", 1001), [](std::error_code) { FAIL() << "refused submit ran"; }));
    log.stop();  // idempotent
  }
  auto appended = store.appended();
  ASSERT_EQ(appended.size(), 1000u);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(appended[i].offset, i + 1);
    EXPECT_EQ(completed[i], i + 1);
  }
}

TEST(StoreGroupCommit, TheDestructorDrainsToo) {
  ScriptedStore store;
  std::atomic<int> done{0};
  {
    GroupCommitLog log(store);
    for (std::uint64_t i = 1; i <= 300; ++i) ASSERT_TRUE(log.submit(make_event("dtor", i), [&](std::error_code) { ++done; }));
  }
  EXPECT_EQ(done.load(), 300);
  EXPECT_EQ(store.appended().size(), 300u);
}

TEST(StoreGroupCommit, AnAppendFailureReachesEveryCompletionOfItsBatch) {
  ScriptedStore store;
  Gate gate;
  std::atomic<int> calls{0};
  store.on_append = [&](std::span<const StoredEvent> batch) -> std::error_code {
    if (calls++ == 0) gate.arrive_and_wait();
    for (const auto& e : batch) {
      if (e.topic == "poison") return std::make_error_code(std::errc::io_error);
    }
    return {};
  };
  GroupCommitLog log(store);
  std::mutex mutex;
  std::vector<std::pair<std::string, std::error_code>> results;
  auto record = [&](std::string name) {
    return [&, name](std::error_code ec) {
      std::lock_guard lock(mutex);
      results.emplace_back(name, ec);
    };
  };
  ASSERT_TRUE(log.submit(make_event("ok", 1), record("first")));
  gate.wait_arrived();  // batch 1 = {first}; the next three queue into batch 2
  ASSERT_TRUE(log.submit(make_event("ok", 2), record("b1")));
  ASSERT_TRUE(log.submit(make_event("poison", 1), record("b2")));
  ASSERT_TRUE(log.submit(make_event("ok", 3), record("b3")));
  gate.open();
  // Wait for batch 2 before submitting, so "after" forms a batch of its own.
  while (log.batches_written() < 2) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(log.submit(make_event("ok", 4), record("after")));
  log.stop();

  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[0].first, "first");
  EXPECT_FALSE(results[0].second);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(results[i].first, "b" + std::to_string(i));
    EXPECT_EQ(results[i].second, std::errc::io_error) << results[i].first;
  }
  EXPECT_EQ(results[4].first, "after");
  EXPECT_FALSE(results[4].second);  // the log goes on after a failed batch
  EXPECT_EQ(store.batch_sizes(), (std::vector<std::size_t>{1, 3, 1}));
}

TEST(StoreGroupCommit, AFailedSqliteBatchFailsAllItsCompletionsAndStoresNothing) {
  TempDir dir;
  auto sqlite = open_or_fail(dir.str(), Durability::os_buffered);
  ASSERT_NE(sqlite, nullptr);
  ASSERT_FALSE(sqlite->append(std::vector{make_event("dup", 1)}));
  // A gate in front of the real store pins the batch boundaries.
  ScriptedStore store;
  store.forward_to = sqlite.get();
  Gate gate;
  hold_first_batch(store, gate);
  GroupCommitLog log(store);
  std::vector<std::error_code> results;  // writer thread only, until stop()
  auto record = [&](std::error_code ec) { results.push_back(ec); };
  ASSERT_TRUE(log.submit(make_event("other", 1), record));
  gate.wait_arrived();
  for (std::uint64_t offset : {2, 1, 3}) {
    auto e = make_event("dup", offset);
    e.id += "_again";  // so the (topic, offset) key is what clashes
    ASSERT_TRUE(log.submit(e, record));  // offset 1 is taken
  }
  gate.open();
  log.stop();

  ASSERT_EQ(results.size(), 4u);
  EXPECT_FALSE(results[0]);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(results[i].value(), SQLITE_CONSTRAINT_PRIMARYKEY) << i;
    EXPECT_STREQ(results[i].category().name(), "sluice.sqlite");
  }
  auto stored = sqlite->read("dup", 0, 10);
  ASSERT_EQ(stored.size(), 1u);
  expect_same(stored[0], make_event("dup", 1));
  EXPECT_EQ(sqlite->read("other", 0, 10).size(), 1u);
}

TEST(StoreGroupCommit, ACompletionMaySubmitAgain) {
  ScriptedStore store;
  GroupCommitLog log(store);
  std::promise<std::error_code> second;
  ASSERT_TRUE(log.submit(make_event("chain", 1), [&](std::error_code) {
    EXPECT_TRUE(log.submit(make_event("chain", 2), [&](std::error_code ec) { second.set_value(ec); }));
  }));
  auto future = second.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(future.get());
  log.stop();
  EXPECT_EQ(store.appended().size(), 2u);
}


// A loop holds the writer's wake-up over one turn: what it submits meanwhile
// is written as one batch once released, never a part of it before.
TEST(StoreGroupCommit, HeldWakeUpsMakeOneBatchOnRelease) {
  ScriptedStore store;
  GroupCommitLog log(store);
  std::promise<void> written;
  std::atomic<int> done{0};
  log.hold_wakeups();
  log.hold_wakeups();  // two loops
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(log.submit(make_event("held", static_cast<std::uint64_t>(i)), [&](std::error_code ec) {
      EXPECT_FALSE(ec);
      if (++done == 20) written.set_value();
    }));
  }
  log.release_wakeups();  // one hold left: still nothing written
  EXPECT_EQ(log.batches_written(), 0u);
  log.release_wakeups();
  written.get_future().wait();
  EXPECT_EQ(store.batch_sizes(), (std::vector<std::size_t>{20}));
  log.release_wakeups();  // an extra release is harmless
  ASSERT_TRUE(log.submit(make_event("held", 21), nullptr));
  log.stop();
  EXPECT_EQ(store.batch_sizes(), (std::vector<std::size_t>{20, 1}));
}

TEST(StoreGroupCommit, StopWritesWhatAHeldLogQueued) {
  ScriptedStore store;
  GroupCommitLog log(store);
  std::atomic<int> done{0};
  log.hold_wakeups();  // never released (a loop that stopped first)
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(log.submit(make_event("stop", static_cast<std::uint64_t>(i)), [&](std::error_code) { ++done; }));
  }
  log.stop();
  EXPECT_EQ(done.load(), 5);
  EXPECT_EQ(store.appended().size(), 5u);
}

// A record's strings are views: the log keeps their owner alive until the
// batch is written, and lets go of it after.
TEST(StoreGroupCommit, ARecordsOwnerLivesUntilItIsWritten) {
  ScriptedStore store;
  Gate gate;
  store.on_append = [&](std::span<const StoredEvent>) {
    gate.arrive_and_wait();
    return std::error_code{};
  };
  GroupCommitLog log(store);
  auto owner = std::make_shared<StoredEvent>(make_event("view", 7));
  std::weak_ptr<StoredEvent> watch = owner;
  EventRecord record{owner,        owner->id,  owner->topic,   owner->offset, owner->epoch,
                     owner->type,  owner->key, owner->time_ms, owner->data,   "idem-7"};
  std::promise<void> written;
  ASSERT_TRUE(log.submit(std::move(record), [&](std::error_code ec) {
    EXPECT_FALSE(ec);
    written.set_value();
  }));
  const StoredEvent expected = *owner;
  owner.reset();
  gate.wait_arrived();  // being written: the owner is still alive
  EXPECT_FALSE(watch.expired());
  gate.open();
  written.get_future().wait();
  log.stop();
  EXPECT_TRUE(watch.expired());
  ASSERT_EQ(store.appended().size(), 1u);
  StoredEvent stored = store.appended()[0];
  EXPECT_EQ(stored.idempotency_key, "idem-7");
  stored.idempotency_key.clear();
  expect_same(stored, expected);
}

}  // namespace
}  // namespace sluice::store
