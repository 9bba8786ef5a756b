// GroupCommitLog: publishers queue events; one writer thread appends whatever
// has queued up (at most max_batch) as one EventStore::append — one
// transaction, one fsync — then runs that batch's completions in submission
// order with no lock held. A loop may hold the writer's wake-up over one turn
// (hold_wakeups), so the requests of that turn make one batch. Pending bytes
// (topic, data, key and idempotency key of every event queued or in the batch
// being written) are bounded; over the bound, submit() refuses rather than
// queue without limit.
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "sluice/store/event_store.hpp"
#include "sluice/util/thread_name.hpp"
#include "sluice/util/wake_batch.hpp"

namespace sluice::store {

namespace {
std::size_t pending_size(const EventRecord& e) {
  return e.topic.size() + e.data.size() + e.key.size() + e.idempotency_key.size();
}

// Copies a record into `out`, whose strings keep their capacity from one
// batch to the next (the writer allocates nothing once warm).
void fill(StoredEvent& out, const EventRecord& e) {
  out.id.assign(e.id);
  out.topic.assign(e.topic);
  out.offset = e.offset;
  out.epoch.assign(e.epoch);
  out.type.assign(e.type);
  out.key.assign(e.key);
  out.time_ms = e.time_ms;
  out.data.assign(e.data);
  out.idempotency_key.assign(e.idempotency_key);
}
}  // namespace

struct GroupCommitLog::Impl {
  struct Pending {
    EventRecord event;
    Completion done;
  };

  EventStore& store;
  const std::size_t max_pending_bytes;
  const std::size_t max_batch;

  std::mutex mutex;
  std::condition_variable wake;  // writer: work queued, or stopping
  // Submitted, not yet taken. A vector, swapped with the writer's emptied
  // one: its buffer is reused, never allocated by one thread and freed by another.
  std::vector<Pending> queue;
  std::size_t pending_bytes = 0;  // queued + in the batch being written
  std::size_t holds = 0;          // hold_wakeups() not yet released
  bool writer_waiting = false;    // the writer sleeps on `wake`
  bool stopping = false;
  std::uint64_t batches = 0;
  CommitObserver observer;  // set before the writer sees work; read by it only

  std::mutex stop_mutex;  // serializes stop() callers around the join
  std::thread writer;
  std::thread::id writer_id;  // set once before any submit; read by stop()

  Impl(EventStore& s, std::size_t max_bytes, std::size_t batch)
      : store(s), max_pending_bytes(max_bytes), max_batch(batch == 0 ? 1 : batch) {}

  void run();
  std::error_code append_guarded(std::span<const StoredEvent> events);
};

// Appends, turning an exception (e.g. bad_alloc) into an error, so that every
// completion of the batch still runs exactly once.
std::error_code GroupCommitLog::Impl::append_guarded(std::span<const StoredEvent> events) {
  try {
    return store.append(events);
  } catch (...) {
    return std::make_error_code(std::errc::io_error);
  }
}

void GroupCommitLog::Impl::run() {
  std::vector<Pending> taken;
  std::vector<StoredEvent> events;  // the batch as the store takes it; [0, n) in use
  for (;;) {
    std::size_t batch_bytes = 0;
    {
      std::unique_lock lock(mutex);
      writer_waiting = true;
      wake.wait(lock, [&] { return (!queue.empty() && holds == 0) || stopping; });
      writer_waiting = false;
      if (queue.empty()) return;  // stopping, and everything before it is written
      if (queue.size() <= max_batch) {
        taken.swap(queue);  // everything queued: one transaction, one fsync
      } else {
        taken.assign(std::make_move_iterator(queue.begin()),
                     std::make_move_iterator(queue.begin() + static_cast<std::ptrdiff_t>(max_batch)));
        queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(max_batch));
      }
    }
    const std::size_t n = taken.size();
    if (events.size() < n) events.resize(n);
    std::error_code ec;
    try {
      for (std::size_t i = 0; i < n; ++i) {
        batch_bytes += pending_size(taken[i].event);
        fill(events[i], taken[i].event);
      }
    } catch (...) {
      ec = std::make_error_code(std::errc::io_error);
    }
    if (!ec) {
      const auto started = std::chrono::steady_clock::now();
      ec = append_guarded(std::span<const StoredEvent>(events.data(), n));
      if (observer) observer(n, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    {
      std::lock_guard lock(mutex);
      pending_bytes -= batch_bytes;
      ++batches;
    }
    // In submission order, no lock held: a completion may submit() again.
    // The loops the batch's events go to wake once all are queued.
    {
      util::WakeBatch wakes;
      for (auto& p : taken) {
        if (p.done) p.done(ec);
      }
    }
    taken.clear();  // keeps its capacity: swapped in again next time
    if (taken.capacity() > 4 * max_batch) taken = {};  // after a burst: not kept for good
  }
}

GroupCommitLog::GroupCommitLog(EventStore& store, std::size_t max_pending_bytes, std::size_t max_batch)
    : impl_(std::make_unique<Impl>(store, max_pending_bytes, max_batch)) {
  impl_->writer = std::thread([impl = impl_.get()] { impl->run(); });
  util::name_thread(impl_->writer, "sluice-store");
  impl_->writer_id = impl_->writer.get_id();
}

GroupCommitLog::~GroupCommitLog() { stop(); }

bool GroupCommitLog::submit(EventRecord event, Completion done) {
  const std::size_t size = pending_size(event);
  bool wake = false;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return false;
    if (size > impl_->max_pending_bytes - impl_->pending_bytes) return false;
    impl_->pending_bytes += size;
    impl_->queue.push_back({std::move(event), std::move(done)});
    wake = impl_->writer_waiting && impl_->holds == 0;
  }
  if (wake) impl_->wake.notify_one();
  return true;
}

bool GroupCommitLog::submit(StoredEvent event, Completion done) {
  auto owned = std::make_shared<const StoredEvent>(std::move(event));
  const StoredEvent& e = *owned;
  EventRecord record{nullptr, e.id, e.topic, e.offset, e.epoch, e.type, e.key, e.time_ms, e.data, e.idempotency_key};
  record.owner = std::move(owned);
  return submit(std::move(record), std::move(done));
}

void GroupCommitLog::hold_wakeups() {
  std::lock_guard lock(impl_->mutex);
  ++impl_->holds;
}

void GroupCommitLog::release_wakeups() {
  bool wake = false;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->holds > 0) --impl_->holds;
    wake = impl_->holds == 0 && impl_->writer_waiting && !impl_->queue.empty();
  }
  if (wake) impl_->wake.notify_one();
}

void GroupCommitLog::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  // From a completion (the writer itself): the writer exits after this batch;
  // whoever destroys the log joins it.
  if (std::this_thread::get_id() == impl_->writer_id) return;
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->writer.joinable()) impl_->writer.join();
}

void GroupCommitLog::set_commit_observer(CommitObserver observer) {
  std::lock_guard lock(impl_->mutex);  // the writer takes its batches under it
  impl_->observer = std::move(observer);
}

std::uint64_t GroupCommitLog::batches_written() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->batches;
}

}  // namespace sluice::store
