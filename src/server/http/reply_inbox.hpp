// A loop's inbox of HTTP answers produced on other threads (with a store,
// publishes complete on the group-commit writer): many threads push, the loop
// hands each answer to its connection. One post to the loop per batch, not one
// per answer: a group commit of N publishes wakes the loop once.
//
// Thread-safe (a net::LoopMailbox without a byte bound: there is at most one
// answer in flight per connection).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/net/loop_mailbox.hpp"

namespace sluice::server {

class ReplyInbox {
 public:
  /// The connection's responder: takes the serialized response and whether
  /// to close after it. Called on the loop thread, exactly once.
  using Reply = std::function<void(std::string, bool)>;

  /// Appends one answer. Returns true when the inbox was empty: the caller
  /// then posts one drain() to the loop (a drain already pending covers the rest).
  bool push(Reply reply, std::string bytes, bool close) {
    return mailbox_.push({std::move(reply), std::move(bytes), close}, 0) ==
           net::LoopMailbox<Entry>::Push::first;
  }

  /// On the loop thread: hands every queued answer to its responder, in push order.
  void drain() {
    mailbox_.drain(draining_);
    for (auto& entry : draining_) entry.reply(std::move(entry.bytes), entry.close);
    draining_.clear();  // keeps its capacity for the next batch
  }

 private:
  struct Entry {
    Reply reply;
    std::string bytes;
    bool close = false;
  };
  net::LoopMailbox<Entry> mailbox_;
  std::vector<Entry> draining_;  // only the loop thread touches it
};

}  // namespace sluice::server
