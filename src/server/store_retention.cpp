// StoreRetention: each sweep asks the broker which topics' histories moved
// on (trimmed by count or bytes on publish, or by age now), and trims the
// store to match, in one batched call.
#include "server/store_retention.hpp"

#include <vector>

#include "sluice/broker/broker.hpp"
#include "sluice/store/event_store.hpp"
#include "sluice/util/thread_name.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::server {

StoreRetention::StoreRetention(broker::Broker& broker, store::EventStore& store, std::chrono::milliseconds interval,
                               Clock clock)
    : broker_(broker),
      store_(store),
      interval_(interval),
      clock_(clock ? std::move(clock) : Clock(unix_time_ms)),
      thread_([this] { run(); }) {
  util::name_thread(thread_, "sluice-retain");
}

StoreRetention::~StoreRetention() { stop(); }

void StoreRetention::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void StoreRetention::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    sweep_now();
    lock.lock();
  }
}

std::size_t StoreRetention::sweep_now() {
  std::lock_guard sweep(sweep_mutex_);
  std::vector<store::TrimPoint> points;
  for (auto& [topic, keep_from] : broker_.take_history_starts(clock_())) points.push_back({std::move(topic), keep_from});
  std::error_code ec;
  if (!points.empty()) {
    try {
      ec = store_.trim_batch(points);
    } catch (...) {
      ec = std::make_error_code(std::errc::io_error);
    }
    // A failed trim is retried at a later sweep: the topics are marked again.
    if (ec) {
      for (const auto& point : points) broker_.mark_history_moved(point.topic);
    }
  }
  std::lock_guard lock(mutex_);
  ++sweeps_;
  if (ec) ++failures_;
  return ec ? 0 : points.size();
}

std::uint64_t StoreRetention::sweeps() const {
  std::lock_guard lock(mutex_);
  return sweeps_;
}

std::uint64_t StoreRetention::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

}  // namespace sluice::server
