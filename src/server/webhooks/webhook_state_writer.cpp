#include "server/webhooks/webhook_state_writer.hpp"

#include <algorithm>
#include <string>

#include "sluice/log/log.hpp"
#include "sluice/util/thread_name.hpp"

namespace sluice::server::detail {

using store::WebhookStateChange;

namespace {
constexpr std::size_t kMaxBatch = 4096;

bool same_target(const WebhookStateChange& a, const WebhookStateChange& b) {
  return a.subscription == b.subscription && a.key == b.key;
}
}  // namespace

WebhookStateWriter::WebhookStateWriter(store::WebhookStateTable& store, Retry retry)
    : store_(store), retry_(retry), thread_([this] { run(); }) {
  util::name_thread(thread_, "sluice-hookpos");
}

WebhookStateWriter::~WebhookStateWriter() { stop(); }

void WebhookStateWriter::queue(WebhookStateChange change) {
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();  // the log writes without the writer's lock
      // Never silently: a position not written means a redelivery after the
      // restart; a dead letter not written is said here, with its id.
      log::limited(spdlog::level::warn, "webhook_state_after_stop", {},
                   "webhook state change after shutdown began, not written: subscription " + change.subscription +
                       (change.kind == WebhookStateChange::Kind::position
                            ? ", delivery position (redelivered after the restart)"
                            : ", dead letter " + change.key));
      return;
    }
    if (change.kind == WebhookStateChange::Kind::position) {
      // Coalesce with the newest queued position of the same topic, if no
      // dead letter was queued after it (a position must not overtake one).
      for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
        if (it->subscription != change.subscription) continue;
        if (it->kind != WebhookStateChange::Kind::position) break;
        if (it->key == change.key) {
          it->offset = change.offset;  // the newest: a topic restarted in a new epoch goes back to 0
          return;
        }
      }
    } else if (change.kind == WebhookStateChange::Kind::delete_dead_letter) {
      // A put still queued would be deleted right after: keeps a long store
      // outage from piling up dead letters that are already gone.
      std::erase_if(queue_, [&](const WebhookStateChange& c) {
        return c.kind == WebhookStateChange::Kind::put_dead_letter && same_target(c, change);
      });
    }
    queue_.push_back(std::move(change));
  }
  wake_.notify_one();
}

void WebhookStateWriter::forget(const std::string& subscription) {
  std::lock_guard lock(mutex_);
  const auto of_it = [&](const WebhookStateChange& c) { return c.subscription == subscription; };
  std::erase_if(queue_, of_it);
  std::erase_if(failed_, of_it);
  if (writing_ > 0) forgotten_.push_back(subscription);  // its changes in the write under way, if it fails
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

std::size_t WebhookStateWriter::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + failed_.size() + writing_;
}

void WebhookStateWriter::run() {
  std::vector<WebhookStateChange> batch;
  auto wait = retry_.first;
  int tries_on_stop = retry_.on_stop;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (!failed_.empty()) {
        // The store refused the last batch: wait, then try it again, with
        // what queued up meanwhile behind it (order kept).
        wake_.wait_for(lock, wait, [this] { return stopping_; });
        wait = std::min(retry_.max, wait * 2);
        if (stopping_ && tries_on_stop-- <= 0) {
          const auto dead_letters = std::count_if(failed_.begin(), failed_.end(), [](const WebhookStateChange& c) {
            return c.kind == WebhookStateChange::Kind::put_dead_letter;
          });
          log::write(spdlog::level::err, {},
                     "webhook state not written at shutdown, the store keeps failing: " +
                         std::to_string(failed_.size() + queue_.size()) + " changes, " +
                         std::to_string(dead_letters) + " dead letters among the oldest; positions written before "
                         "stay, so those events are delivered again after the restart");
          return;
        }
        batch = std::move(failed_);
        failed_.clear();
      } else {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and all written
      }
      const std::size_t n = std::min(queue_.size(), kMaxBatch - std::min(kMaxBatch, batch.size()));
      batch.insert(batch.end(), std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      writing_ = batch.size();
    }
    // Store I/O without the lock.
    const std::error_code failed = store_.write_webhook_state(batch);
    std::lock_guard lock(mutex_);
    writing_ = 0;
    std::vector<std::string> forgotten = std::move(forgotten_);
    forgotten_.clear();
    if (!failed) {
      if (failures_ > 0 && wait > retry_.first) {
        log::write(spdlog::level::info, {}, "webhook state written again after the store recovered");
      }
      wait = retry_.first;
      batch.clear();
      continue;
    }
    ++failures_;
    log::limited(spdlog::level::warn, "webhook_state_write", {},
                 "webhook state not written (" + failed.message() + ": " + store_.last_error() + "); retrying in " +
                     std::to_string(wait.count()) + " ms");
    // A subscription deleted during the write has nothing left to write.
    std::erase_if(batch, [&](const WebhookStateChange& c) {
      return std::find(forgotten.begin(), forgotten.end(), c.subscription) != forgotten.end();
    });
    failed_ = std::move(batch);
    batch.clear();
  }
}

}  // namespace sluice::server::detail
