#include "server/webhook_state_writer.hpp"

#include <algorithm>
#include <vector>

namespace sluice::server::detail {

using store::WebhookStateChange;

WebhookStateWriter::WebhookStateWriter(store::EventStore& store) : store_(store), thread_([this] { run(); }) {}

WebhookStateWriter::~WebhookStateWriter() { stop(); }

void WebhookStateWriter::queue(WebhookStateChange change) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (change.kind == WebhookStateChange::Kind::position) {
      // Coalesce with the newest queued position of the same topic, if no
      // dead letter was queued after it (a position must not overtake one).
      for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
        if (it->subscription != change.subscription) continue;
        if (it->kind != WebhookStateChange::Kind::position) break;
        if (it->key == change.key) {
          it->offset = std::max(it->offset, change.offset);
          return;
        }
      }
    }
    queue_.push_back(std::move(change));
  }
  wake_.notify_one();
}

void WebhookStateWriter::forget(const std::string& subscription) {
  std::lock_guard lock(mutex_);
  std::erase_if(queue_, [&](const WebhookStateChange& c) { return c.subscription == subscription; });
}

void WebhookStateWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t WebhookStateWriter::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

void WebhookStateWriter::run() {
  std::vector<WebhookStateChange> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and all written
      constexpr std::size_t kMaxBatch = 4096;
      const std::size_t n = std::min(kMaxBatch, queue_.size());
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    // Store I/O without the lock. A failed batch is counted, not retried: the
    // positions in it are written again with the next delivery.
    if (store_.write_webhook_state(batch)) {
      std::lock_guard lock(mutex_);
      ++failures_;
    }
    batch.clear();
  }
}

}  // namespace sluice::server::detail
