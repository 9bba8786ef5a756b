// Durable publish throughput: GroupCommitLog over the SQLite store with
// 200-byte events, fsync and os_buffered durability, 1 and 4 submitting
// threads (each its own topic, pipelining without waiting for its acks, as
// many connections publishing at once do). A direct-append baseline shows
// what grouping buys: one fsync per batch instead of one per event.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sluice/store/event_store.hpp"

namespace {

using sluice::store::Durability;
using sluice::store::EventStore;
using sluice::store::GroupCommitLog;
using sluice::store::StoredEvent;

class BenchDir {
 public:
  BenchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-store-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<EventStore> open_store(const BenchDir& dir, Durability durability, benchmark::State& state) {
  std::string error;
  auto store = sluice::store::open_sqlite_store(dir.str(), durability, error);
  if (!store) state.SkipWithError(error.c_str());
  return store;
}

StoredEvent bench_event(const std::string& topic, std::uint64_t offset, const std::string& payload) {
  StoredEvent e;
  e.id = "evt_" + topic + "_" + std::to_string(offset);
  e.topic = topic;
  e.offset = offset;
  e.epoch = "0123456789abcdef";
  e.type = "bench";
  e.time_ms = 1'700'000'000'000 + static_cast<std::int64_t>(offset);
  e.data = payload;
  return e;
}

// CPU time of the whole process (submitters + writer), in microseconds.
double process_cpu_us() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec); };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

// Events per iteration, split across the submitting threads.
constexpr std::int64_t kEventsPerIteration = 20'000;

void BM_GroupCommit(benchmark::State& state, Durability durability) {
  const auto threads = static_cast<int>(state.range(0));
  BenchDir dir;
  auto store = open_store(dir, durability, state);
  if (!store) return;
  GroupCommitLog log(*store);
  const std::string payload(200, 'x');
  std::vector<std::uint64_t> next_offset(static_cast<std::size_t>(threads), 1);
  const std::int64_t per_thread = kEventsPerIteration / threads;
  const std::int64_t total = per_thread * threads;

  const double cpu_start = process_cpu_us();
  for (auto _ : state) {
    std::atomic<std::int64_t> acked{0};
    std::vector<std::thread> submitters;
    for (int t = 0; t < threads; ++t) {
      submitters.emplace_back([&, t] {
        const std::string topic = "bench.t" + std::to_string(t);
        std::uint64_t& offset = next_offset[static_cast<std::size_t>(t)];
        for (std::int64_t i = 0; i < per_thread; ++i) {
          StoredEvent e = bench_event(topic, offset, payload);
          auto done = [&acked, total](std::error_code) {
            if (acked.fetch_add(1, std::memory_order_acq_rel) + 1 == total) acked.notify_all();
          };
          while (!log.submit(e, done)) std::this_thread::yield();  // over the byte bound: back off
          ++offset;
        }
      });
    }
    for (auto& s : submitters) s.join();
    for (auto seen = acked.load(); seen != total; seen = acked.load()) acked.wait(seen);
  }
  log.stop();
  const auto events = static_cast<double>(state.iterations() * total);
  state.SetItemsProcessed(state.iterations() * total);
  state.counters["events_per_batch"] = events / static_cast<double>(log.batches_written());
  // Whether one core keeps up: 1e6 / this = events/s per fully used core.
  state.counters["cpu_us_per_event"] = (process_cpu_us() - cpu_start) / events;
}
BENCHMARK_CAPTURE(BM_GroupCommit, fsync, Durability::fsync)
    ->ArgName("threads")->Arg(1)->Arg(4)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GroupCommit, os_buffered, Durability::os_buffered)
    ->ArgName("threads")->Arg(1)->Arg(4)->UseRealTime()->Unit(benchmark::kMillisecond);

// Baseline: EventStore::append directly, `batch` events per transaction.
void BM_AppendDirect(benchmark::State& state, Durability durability) {
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  BenchDir dir;
  auto store = open_store(dir, durability, state);
  if (!store) return;
  const std::string payload(200, 'x');
  std::uint64_t offset = 1;
  std::vector<StoredEvent> batch;
  for (auto _ : state) {
    batch.clear();
    for (std::size_t i = 0; i < batch_size; ++i) batch.push_back(bench_event("direct", offset++, payload));
    if (auto ec = store->append(batch)) state.SkipWithError(ec.message().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}
BENCHMARK_CAPTURE(BM_AppendDirect, fsync, Durability::fsync)->ArgName("batch")->Arg(1)->Arg(256)->UseRealTime();
BENCHMARK_CAPTURE(BM_AppendDirect, os_buffered, Durability::os_buffered)->ArgName("batch")->Arg(1)->Arg(256)->UseRealTime();

}  // namespace
