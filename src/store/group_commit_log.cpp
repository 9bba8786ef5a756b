// GroupCommitLog: publishers queue events; one writer thread appends whatever
// has queued up (at most max_batch) as one EventStore::append — one
// transaction, one fsync — then runs that batch's completions in submission
// order with no lock held. Pending bytes (topic, data, key and idempotency key
// of every event queued or in the batch being written) are bounded; over the
// bound, submit() refuses rather than queue without limit.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "sluice/store/event_store.hpp"

namespace sluice::store {

namespace {
struct Pending {
  StoredEvent event;
  GroupCommitLog::Completion done;
};

std::size_t pending_size(const StoredEvent& e) {
  return e.topic.size() + e.data.size() + e.key.size() + e.idempotency_key.size();
}
}  // namespace

struct GroupCommitLog::Impl {
  EventStore& store;
  const std::size_t max_pending_bytes;
  const std::size_t max_batch;

  std::mutex mutex;
  std::condition_variable wake;  // writer: work queued, or stopping
  std::deque<Pending> queue;
  std::size_t pending_bytes = 0;  // queued + in the batch being written
  bool stopping = false;
  std::uint64_t batches = 0;

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
  std::vector<StoredEvent> events;
  std::vector<Completion> completions;
  for (;;) {
    std::size_t batch_bytes = 0;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return !queue.empty() || stopping; });
      if (queue.empty()) return;  // stopping, and everything before it is written
      const std::size_t n = std::min(queue.size(), max_batch);
      events.reserve(n);
      completions.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        Pending& p = queue.front();
        batch_bytes += pending_size(p.event);
        events.push_back(std::move(p.event));
        completions.push_back(std::move(p.done));
        queue.pop_front();
      }
    }

    const std::error_code ec = append_guarded(events);
    {
      std::lock_guard lock(mutex);
      pending_bytes -= batch_bytes;
      ++batches;
    }
    // In submission order, no lock held: a completion may submit() again.
    for (auto& done : completions) {
      if (done) done(ec);
    }
    events.clear();
    completions.clear();
  }
}

GroupCommitLog::GroupCommitLog(EventStore& store, std::size_t max_pending_bytes, std::size_t max_batch)
    : impl_(std::make_unique<Impl>(store, max_pending_bytes, max_batch)) {
  impl_->writer = std::thread([impl = impl_.get()] { impl->run(); });
  impl_->writer_id = impl_->writer.get_id();
}

GroupCommitLog::~GroupCommitLog() { stop(); }

bool GroupCommitLog::submit(StoredEvent event, Completion done) {
  const std::size_t size = pending_size(event);
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return false;
    if (size > impl_->max_pending_bytes - impl_->pending_bytes) return false;
    impl_->pending_bytes += size;
    impl_->queue.push_back({std::move(event), std::move(done)});
  }
  impl_->wake.notify_one();
  return true;
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

std::uint64_t GroupCommitLog::batches_written() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->batches;
}

}  // namespace sluice::store
