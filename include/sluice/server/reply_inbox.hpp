// A loop's inbox of HTTP answers produced on other threads (with a store,
// publishes complete on the group-commit writer): many threads push, the loop
// hands each answer to its connection. One post to the loop per batch, not one
// per answer: a group commit of N publishes wakes the loop once.
//
// Thread-safe; the lock is held only to push or to swap the list (no I/O).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sluice::server {

class ReplyInbox {
 public:
  /// The connection's responder: takes the serialized response and whether
  /// to close after it. Called on the loop thread, exactly once.
  using Reply = std::function<void(std::string, bool)>;

  /// Appends one answer. Returns true when the inbox was empty: the caller
  /// then posts one drain() to the loop (a drain already pending covers the rest).
  bool push(Reply reply, std::string bytes, bool close) {
    std::lock_guard lock(mutex_);
    entries_.push_back({std::move(reply), std::move(bytes), close});
    return entries_.size() == 1;
  }

  /// On the loop thread: hands every queued answer to its responder, in push order.
  void drain() {
    {
      std::lock_guard lock(mutex_);
      draining_.swap(entries_);
    }
    for (auto& entry : draining_) entry.reply(std::move(entry.bytes), entry.close);
    draining_.clear();  // keeps its capacity for the next batch
  }

 private:
  struct Entry {
    Reply reply;
    std::string bytes;
    bool close = false;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;
  std::vector<Entry> draining_;  // only the loop thread touches it
};

}  // namespace sluice::server
