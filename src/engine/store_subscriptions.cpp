#include "sluice/engine/store_subscriptions.hpp"

#include <utility>

#include "sluice/util/thread_name.hpp"

namespace sluice::engine {

StoreSubscriptions::StoreSubscriptions(store::SubscriptionTable& store, std::size_t max_queued)
    : store_(store), max_queued_(max_queued), writer_([this] { run(); }) {
  util::name_thread(writer_, "sluice-subs");
}

StoreSubscriptions::~StoreSubscriptions() { stop(); }

void StoreSubscriptions::put(std::string id, std::string document, Done done) {
  enqueue({Change::Kind::put, std::move(id), std::move(document), std::move(done), {}});
}

void StoreSubscriptions::remove(std::string id, Done done) {
  enqueue({Change::Kind::remove, std::move(id), {}, std::move(done), {}});
}

void StoreSubscriptions::reload(Loaded done) { enqueue({Change::Kind::reload, {}, {}, {}, std::move(done)}); }

std::vector<store::StoredSubscription> StoreSubscriptions::load() { return store_.load_subscriptions(); }

void StoreSubscriptions::enqueue(Change change) {
  const char* refused = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      refused = "the subscription store is stopped";
    } else if (queue_.size() >= max_queued_) {
      refused = "the subscription store is busy: too many changes are waiting";
    } else {
      queue_.push_back(std::move(change));
    }
  }
  if (!refused) return wake_.notify_one();
  // Outside the lock.
  if (change.done) change.done(refused);
  if (change.loaded) change.loaded({}, refused);
}

void StoreSubscriptions::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable() && writer_.get_id() != std::this_thread::get_id()) writer_.join();
}

void StoreSubscriptions::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and all was written
    Change change = std::move(queue_.front());
    queue_.pop_front();
    const bool stopping = stopping_;
    lock.unlock();  // the transaction and `done` run without the lock
    // Stopping with a store that fails (each try bounded by its timeout):
    // the rest is refused at once rather than tried one by one.
    if (stopping && gave_up_) {
      if (change.done) change.done("the subscription store is stopped (its last write failed)");
      if (change.loaded) change.loaded({}, "the subscription store is stopped");
    } else if (!apply(change) && stopping) {
      gave_up_ = true;
    }
    lock.lock();
  }
}

bool StoreSubscriptions::apply(Change& change) {
  std::string error;
  if (change.kind == Change::Kind::reload) {
    auto all = store_.load_subscriptions();
    if (all.empty()) error = store_.last_error();  // none, or unreadable (see RedisSubscriptionTable)
    const bool ok = error.empty();
    change.loaded(std::move(all), std::move(error));
    return ok;
  }
  const bool remove = change.kind == Change::Kind::remove;
  const std::error_code ec = remove ? store_.delete_subscription(change.id)
                                    : store_.put_subscription({change.id, std::move(change.document)});
  const bool absent = remove && ec == std::errc::no_such_file_or_directory;
  if (absent) {
    error = kSubscriptionNotStored;
  } else if (ec) {
    const std::string detail = store_.last_error();
    error = detail.empty() ? ec.message() : detail;
  }
  const bool ok = error.empty();
  if (change.done) change.done(std::move(error));
  return ok;
}

}  // namespace sluice::engine
