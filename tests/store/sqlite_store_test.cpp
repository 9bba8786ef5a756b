// The SQLite EventStore: exact round trips, positions, recent-history bounds,
// trim, idempotency window, subscriptions, reopen, atomic batches, errors.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "store/sqlite_util.hpp"
#include "store/store_test_util.hpp"

namespace sluice::store {
namespace {

using testing::expect_same;
using testing::make_event;
using testing::open_or_fail;
using testing::TempDir;

std::vector<StoredEvent> range(const std::string& topic, std::uint64_t from, std::uint64_t to) {
  std::vector<StoredEvent> out;
  for (auto o = from; o < to; ++o) out.push_back(make_event(topic, o));
  return out;
}

std::vector<std::uint64_t> offsets(const std::vector<StoredEvent>& events) {
  std::vector<std::uint64_t> out;
  for (const auto& e : events) out.push_back(e.offset);
  return out;
}

TEST(StoreSqlite, AppendReadFindRoundTripKeepsEveryFieldExactly) {
  TempDir dir;
  auto store = open_or_fail(dir.str(), Durability::fsync);
  ASSERT_NE(store, nullptr);

  StoredEvent e;
  e.id = "evt_0001";
  e.topic = "orders.eu.created";
  e.offset = 1;
  e.epoch = "a1b2c3d4e5f60718";
  e.type = "order.created";
  e.key = "customer-42";
  e.time_ms = 1'735'689'600'123;
  e.data = std::string("{\"bin\":\"\0\xff\xfe\",\"\xc3\xa9\":1}", 20);  // NULs and bytes that are not UTF-8
  e.idempotency_key = "idem-7";
  StoredEvent bare = make_event("orders.eu.created", 2);
  bare.type.clear();
  bare.key.clear();
  bare.data.clear();
  ASSERT_FALSE(store->append(std::vector{e, bare}));

  auto read = store->read("orders.eu.created", 0, 10);  // offsets start at 1, as in the broker
  ASSERT_EQ(read.size(), 2u);
  expect_same(read[0], e);
  expect_same(read[1], bare);
  EXPECT_EQ(read[0].data.size(), 20u);
  auto found = store->find("evt_0001");
  ASSERT_TRUE(found.has_value());
  expect_same(*found, e);
  EXPECT_FALSE(store->find("evt_nope").has_value());
  EXPECT_TRUE(store->last_error().empty()) << store->last_error();
}

TEST(StoreSqlite, ReadReturnsOffsetsAfterTheGivenOneUpToTheLimit) {
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  ASSERT_FALSE(store->append(range("a", 1, 11)));
  ASSERT_FALSE(store->append(range("b", 1, 4)));

  EXPECT_EQ(offsets(store->read("a", 3, 4)), (std::vector<std::uint64_t>{4, 5, 6, 7}));
  EXPECT_EQ(offsets(store->read("a", 7, 100)), (std::vector<std::uint64_t>{8, 9, 10}));
  EXPECT_EQ(offsets(store->read("a", 0, 100)).size(), 10u);
  EXPECT_TRUE(store->read("a", 10, 100).empty());
  EXPECT_TRUE(store->read("a", 0, 0).empty());
  EXPECT_TRUE(store->read("a", UINT64_MAX, 10).empty());
  EXPECT_TRUE(store->read("c", 0, 10).empty());
  EXPECT_TRUE(store->read("", 0, 10).empty());
  auto b = store->read("b", 1, 10);
  ASSERT_EQ(b.size(), 2u);
  expect_same(b[0], make_event("b", 2));
  expect_same(b[1], make_event("b", 3));
}

TEST(StoreSqlite, PositionsFollowTheLastEventOfEachTopic) {
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->load_positions().empty());

  ASSERT_FALSE(store->append(range("x.one", 1, 6)));
  // One batch spanning three topics, interleaved.
  std::vector<StoredEvent> mixed = {make_event("x.two", 1), make_event("x.one", 6), make_event("x.two", 2),
                                    make_event("x.three", 7, "ep9"), make_event("x.one", 7)};
  ASSERT_FALSE(store->append(mixed));
  // A history reset: a new epoch, offsets start over after a trim.
  ASSERT_FALSE(store->trim("x.two", 3));
  ASSERT_FALSE(store->append(std::vector{make_event("x.two", 1, "ep2")}));

  auto positions = store->load_positions();
  ASSERT_EQ(positions.size(), 3u);
  EXPECT_EQ(positions[0].topic, "x.one");
  EXPECT_EQ(positions[0].epoch, "ep1");
  EXPECT_EQ(positions[0].last_offset, 7u);
  EXPECT_EQ(positions[1].topic, "x.three");
  EXPECT_EQ(positions[1].epoch, "ep9");
  EXPECT_EQ(positions[1].last_offset, 7u);
  EXPECT_EQ(positions[2].topic, "x.two");
  EXPECT_EQ(positions[2].epoch, "ep2");
  EXPECT_EQ(positions[2].last_offset, 1u);
}

TEST(StoreSqlite, LoadRecentIsBoundedPerTopicAndByTime) {
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  ASSERT_FALSE(store->append(range("a", 1, 11)));  // time_ms 1'000'000 + offset
  ASSERT_FALSE(store->append(range("b", 1, 4)));

  auto recent = store->load_recent(4, 0);
  ASSERT_EQ(offsets(recent), (std::vector<std::uint64_t>{7, 8, 9, 10, 1, 2, 3}));
  for (const auto& e : recent) expect_same(e, make_event(e.topic, e.offset));
  EXPECT_EQ(recent[3].topic, "a");
  EXPECT_EQ(recent[4].topic, "b");

  recent = store->load_recent(100, 1'000'009);  // only a.9 and a.10 are that new
  ASSERT_EQ(recent.size(), 2u);
  expect_same(recent[0], make_event("a", 9));
  expect_same(recent[1], make_event("a", 10));

  recent = store->load_recent(1, 1'000'003);
  ASSERT_EQ(recent.size(), 2u);
  expect_same(recent[0], make_event("a", 10));
  expect_same(recent[1], make_event("b", 3));

  EXPECT_TRUE(store->load_recent(0, 0).empty());
  EXPECT_TRUE(store->load_recent(10, INT64_MAX).empty());
}

TEST(StoreSqlite, LoadRecentStopsAtTheFirstEventOlderThanMinTime) {
  // The result per topic is a contiguous suffix of offsets, even when a clock
  // step made an older offset newer in time.
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  auto events = range("t", 1, 6);
  events[2].time_ms = 5'000'000;  // offset 3: newer than its successors
  events[3].time_ms = 10;         // offset 4: older than min_time
  ASSERT_FALSE(store->append(events));
  EXPECT_EQ(offsets(store->load_recent(10, 1'000'000)), (std::vector<std::uint64_t>{5}));
}

TEST(StoreSqlite, TrimDeletesBelowKeepFromAndKeepsThePosition) {
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  ASSERT_FALSE(store->append(range("a", 1, 11)));
  ASSERT_FALSE(store->append(range("b", 1, 11)));

  ASSERT_FALSE(store->trim("a", 6));
  EXPECT_EQ(offsets(store->read("a", 0, 100)), (std::vector<std::uint64_t>{6, 7, 8, 9, 10}));
  EXPECT_FALSE(store->find("evt_a_5").has_value());
  EXPECT_TRUE(store->find("evt_a_6").has_value());
  EXPECT_EQ(store->read("b", 0, 100).size(), 10u);  // other topics untouched

  ASSERT_FALSE(store->trim("a", UINT64_MAX));  // everything
  EXPECT_TRUE(store->read("a", 0, 100).empty());
  EXPECT_EQ(store->load_recent(100, 0).size(), 10u);  // all of b, none of a
  auto positions = store->load_positions();
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[0].topic, "a");
  EXPECT_EQ(positions[0].last_offset, 10u);  // offsets continue after a full trim

  ASSERT_FALSE(store->trim("missing", 3));  // a no-op, not an error
}

// Retention: many topics at once, a big trim split into several transactions
// (4096 rows each), every topic's position kept.
TEST(StoreSqlite, TrimBatchTrimsEveryTopicToItsPoint) {
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  ASSERT_FALSE(store->append(range("a", 1, 10'001)));
  ASSERT_FALSE(store->append(range("b", 1, 51)));
  ASSERT_FALSE(store->append(range("c", 1, 21)));
  ASSERT_FALSE(store->append(range("d", 1, 4)));
  const std::vector<TrimPoint> points{{"a", 9'901}, {"b", 1}, {"missing", 7}, {"c", UINT64_MAX}, {"d", 3}};
  ASSERT_FALSE(store->trim_batch(points)) << store->last_error();
  const auto a = offsets(store->read("a", 0, 20'000));
  ASSERT_EQ(a.size(), 100u);
  EXPECT_EQ(a.front(), 9'901u);
  EXPECT_EQ(store->read("b", 0, 100).size(), 50u);
  EXPECT_TRUE(store->read("c", 0, 100).empty());
  EXPECT_EQ(offsets(store->read("d", 0, 100)), (std::vector<std::uint64_t>{3}));
  EXPECT_FALSE(store->find("evt_a_9900").has_value());
  EXPECT_TRUE(store->find("evt_a_9901").has_value());
  std::map<std::string, std::uint64_t> positions;
  for (const auto& p : store->load_positions()) positions[p.topic] = p.last_offset;
  EXPECT_EQ(positions, (std::map<std::string, std::uint64_t>{{"a", 10'000}, {"b", 50}, {"c", 20}, {"d", 3}}));
  ASSERT_FALSE(store->trim_batch(points));  // again: nothing left to do, no error
  EXPECT_EQ(store->read("a", 0, 20'000).size(), 100u);
}

TEST(StoreSqlite, NewestIdempotentTimeLooksAtKeyedEventsOnly) {
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->newest_idempotent_time(), std::nullopt);  // empty
  auto events = range("k", 1, 6);  // time_ms 1'000'001 .. 1'000'005
  events[4].time_ms = 9'000'000;   // the newest, but without a key
  events[1].idempotency_key = "a";
  events[3].idempotency_key = "b";
  ASSERT_FALSE(store->append(std::span(events).subspan(4)));
  EXPECT_EQ(store->newest_idempotent_time(), std::nullopt);  // no keyed event yet
  ASSERT_FALSE(store->append(std::span(events).first(4)));
  EXPECT_EQ(store->newest_idempotent_time(), std::optional<std::int64_t>(1'000'004));
}

TEST(StoreSqlite, IdempotencyLookupHonoursTheTimeWindow) {
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  auto events = range("pay", 1, 7);  // time_ms 1'000'001 .. 1'000'006
  events[1].idempotency_key = "req-1";  // offset 2, time 1'000'002
  events[4].idempotency_key = "req-2";  // offset 5
  ASSERT_FALSE(store->append(events));

  auto hit = store->find_idempotent("req-1", 1'000'000);
  ASSERT_TRUE(hit.has_value());
  expect_same(*hit, events[1]);
  EXPECT_TRUE(store->find_idempotent("req-1", 1'000'002).has_value());   // exactly at the edge
  EXPECT_FALSE(store->find_idempotent("req-1", 1'000'003).has_value());  // outside the window
  EXPECT_EQ(store->find_idempotent("req-2", 0)->offset, 5u);
  EXPECT_FALSE(store->find_idempotent("req-3", 0).has_value());
  EXPECT_FALSE(store->find_idempotent("", 0).has_value());  // no key never matches the keyless

  // A key reused after its window: the newest publication wins.
  auto again = make_event("pay", 7);
  again.time_ms = 2'000'000;
  again.idempotency_key = "req-1";
  ASSERT_FALSE(store->append(std::vector{again}));
  EXPECT_EQ(store->find_idempotent("req-1", 0)->offset, 7u);
  EXPECT_FALSE(store->find_idempotent("req-1", 2'000'001).has_value());
}

TEST(StoreSqlite, SubscriptionsPutOverwriteDeleteLoad) {
  TempDir dir;
  auto store = open_or_fail(dir.str(), Durability::fsync);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->load_subscriptions().empty());

  ASSERT_FALSE(store->put_subscription({"sub_b", R"({"topics":["b.>"]})"}));
  ASSERT_FALSE(store->put_subscription({"sub_a", R"({"topics":["a.*"]})"}));
  ASSERT_FALSE(store->put_subscription({"sub_b", R"({"topics":["b.>"],"webhook":"https://x"})"}));

  auto subs = store->load_subscriptions();
  ASSERT_EQ(subs.size(), 2u);
  EXPECT_EQ(subs[0].id, "sub_a");
  EXPECT_EQ(subs[0].json, R"({"topics":["a.*"]})");
  EXPECT_EQ(subs[1].id, "sub_b");
  EXPECT_EQ(subs[1].json, R"({"topics":["b.>"],"webhook":"https://x"})");

  EXPECT_FALSE(store->delete_subscription("sub_a"));
  EXPECT_EQ(store->delete_subscription("sub_a"), std::errc::no_such_file_or_directory);  // the second finds nothing
  EXPECT_EQ(store->delete_subscription("sub_zzz"), std::errc::no_such_file_or_directory);
  subs = store->load_subscriptions();
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].id, "sub_b");
}

TEST(StoreSqlite, ReopeningTheDirectoryFindsEverythingAgain) {
  TempDir dir;
  std::vector<StoredEvent> events = range("r.one", 1, 51);
  events[10].idempotency_key = "idem-11";  // offset 11
  {
    auto store = open_or_fail(dir.str(), Durability::fsync);
    ASSERT_NE(store, nullptr);
    ASSERT_FALSE(store->append(events));
    ASSERT_FALSE(store->append(range("r.two", 1, 6)));
    ASSERT_FALSE(store->trim("r.one", 11));
    ASSERT_FALSE(store->put_subscription({"sub_1", "{}"}));
  }
  auto store = open_or_fail(dir.str(), Durability::fsync);
  ASSERT_NE(store, nullptr);
  auto read = store->read("r.one", 0, 1000);
  ASSERT_EQ(read.size(), 40u);
  for (std::size_t i = 0; i < read.size(); ++i) expect_same(read[i], events[i + 10]);
  EXPECT_EQ(store->find_idempotent("idem-11", 0)->id, "evt_r.one_11");
  expect_same(*store->find("evt_r.two_5"), make_event("r.two", 5));
  auto positions = store->load_positions();
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[0].last_offset, 50u);
  EXPECT_EQ(positions[1].last_offset, 5u);
  ASSERT_EQ(store->load_subscriptions().size(), 1u);
  // And it keeps appending where it left off.
  ASSERT_FALSE(store->append(std::vector{make_event("r.one", 51)}));
  EXPECT_EQ(store->read("r.one", 50, 10).size(), 1u);
}

TEST(StoreSqlite, ABatchIsAtomic) {
  TempDir dir;
  auto store = open_or_fail(dir.str(), Durability::fsync);
  ASSERT_NE(store, nullptr);
  ASSERT_FALSE(store->append(range("t", 1, 4)));

  // A duplicate (topic, offset) in the middle of the batch.
  std::vector<StoredEvent> batch = {make_event("t", 4), make_event("u", 1), make_event("t", 5), make_event("t", 5),
                                    make_event("t", 6)};
  batch[3].id = "evt_other";
  auto ec = store->append(batch);
  ASSERT_TRUE(ec);
  EXPECT_STREQ(ec.category().name(), "sluice.sqlite");
  EXPECT_EQ(ec.value(), SQLITE_CONSTRAINT_PRIMARYKEY);
  EXPECT_NE(store->last_error().find("UNIQUE constraint failed"), std::string::npos) << store->last_error();
  EXPECT_NE(store->last_error().find("'t' offset 5"), std::string::npos) << store->last_error();

  EXPECT_EQ(offsets(store->read("t", 0, 100)), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_TRUE(store->read("u", 0, 100).empty());
  EXPECT_FALSE(store->find("evt_u_1").has_value());
  EXPECT_FALSE(store->find("evt_t_4").has_value());
  auto positions = store->load_positions();
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0].last_offset, 3u);

  // A duplicate id of an event already stored fails the same way.
  auto clash = make_event("v", 2);
  clash.id = "evt_t_1";
  ec = store->append(std::vector{make_event("v", 1), clash});
  EXPECT_EQ(ec.value(), SQLITE_CONSTRAINT_UNIQUE);
  EXPECT_TRUE(store->read("v", 0, 10).empty());

  // The store is still usable after a failed batch.
  ASSERT_FALSE(store->append(range("t", 4, 7)));
  EXPECT_EQ(store->read("t", 0, 100).size(), 6u);
}

TEST(StoreSqlite, OffsetsAboveTheSqlRangeAreRefused) {
  TempDir dir;
  auto store = open_or_fail(dir.str());
  ASSERT_NE(store, nullptr);
  auto ec = store->append(std::vector{make_event("t", 1), make_event("t", UINT64_MAX)});
  EXPECT_EQ(ec, std::errc::value_too_large);
  EXPECT_NE(store->last_error().find("offset"), std::string::npos);
  EXPECT_TRUE(store->read("t", 0, 10).empty());
}

TEST(StoreSqlite, AnUnwritableDirectoryIsAClearError) {
  TempDir dir;
  const auto file = dir.path() / "not-a-directory";
  std::ofstream(file) << "x";
  const std::string bad = (file / "data").string();
  std::string error;
  auto store = open_sqlite_store(bad, Durability::fsync, error);
  EXPECT_EQ(store, nullptr);
  EXPECT_NE(error.find("cannot create data directory"), std::string::npos) << error;
  EXPECT_NE(error.find(bad), std::string::npos) << error;

  error.clear();
  store = open_sqlite_store(file.string(), Durability::fsync, error);  // the file itself
  EXPECT_EQ(store, nullptr);
  EXPECT_NE(error.find(file.string()), std::string::npos) << error;
}

TEST(StoreSqlite, ASecondOpenOfTheSameDirectoryIsRefused) {
  TempDir dir;
  auto first = open_or_fail(dir.str());
  ASSERT_NE(first, nullptr);
  std::string error;
  EXPECT_EQ(open_sqlite_store(dir.str(), Durability::fsync, error), nullptr);
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  first.reset();
  EXPECT_NE(open_sqlite_store(dir.str(), Durability::fsync, error), nullptr) << error;
}

TEST(StoreSqlite, TheFileIsInWalMode) {
  TempDir dir;
  open_or_fail(dir.str()).reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir.path() / "sluice.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(StoreSqlite, ReadsRunConcurrentlyWithTheWriter) {
  // One writer appends batches; readers on other threads always see a
  // committed prefix: offsets contiguous from 0 and whole batches only.
  TempDir dir;
  auto store = open_or_fail(dir.str(), Durability::os_buffered);
  ASSERT_NE(store, nullptr);
  constexpr std::uint64_t kBatches = 200, kBatch = 10;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (std::uint64_t b = 0; b < kBatches; ++b) {
      EXPECT_FALSE(store->append(range("c", b * kBatch + 1, (b + 1) * kBatch + 1)));
    }
    done = true;
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      while (!done) {
        auto positions = store->load_positions();
        if (!positions.empty() && positions[0].last_offset % kBatch != 0) ++failures;
        auto events = store->read("c", 0, 100'000);
        if (events.size() % kBatch != 0) ++failures;
        for (std::size_t i = 0; i < events.size(); ++i) {
          if (events[i].offset != i + 1) ++failures;
        }
        if (r == 0 && !events.empty() && !store->find(events.back().id)) ++failures;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store->read("c", 0, 100'000).size(), kBatches * kBatch);
}

TEST(StoreSqlite, SubscriptionWritesInterleaveWithGroupCommits) {
  // HTTP handlers write subscriptions while the commit thread appends: both
  // go through the one writer connection.
  TempDir dir;
  auto store = open_or_fail(dir.str(), Durability::os_buffered);
  ASSERT_NE(store, nullptr);
  std::atomic<int> errors{0};
  {
    GroupCommitLog log(*store);
    std::thread subscriptions([&] {
      for (int i = 0; i < 200; ++i) {
        if (store->put_subscription({"sub_" + std::to_string(1000 + i), "{}"})) ++errors;
        if (i % 2 == 1 && store->delete_subscription("sub_" + std::to_string(1000 + i))) ++errors;
      }
    });
    for (std::uint64_t o = 1; o <= 2000; ++o) {
      ASSERT_TRUE(log.submit(make_event("mix", o), [&](std::error_code ec) {
        if (ec) ++errors;
      }));
    }
    subscriptions.join();
  }
  EXPECT_EQ(errors.load(), 0) << store->last_error();
  EXPECT_EQ(store->read("mix", 0, 10'000).size(), 2000u);
  EXPECT_EQ(store->load_subscriptions().size(), 100u);
}

TEST(StoreSqlite, ErrorsCarrySqliteCodesAndMessages) {
  const auto ec = detail::sqlite_error(SQLITE_FULL);
  EXPECT_STREQ(ec.category().name(), "sluice.sqlite");
  EXPECT_EQ(ec.message(), "database or disk is full");
}

}  // namespace
}  // namespace sluice::store
