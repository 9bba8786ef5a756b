// Event loops: one io_context run by one thread each. A connection lives on
// exactly one loop; the only cross-loop operation is post() (uWebSockets'
// "defer this onto that loop").
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::net {

class EventLoop {
 public:
  explicit EventLoop(std::size_t index);
  ~EventLoop();  ///< stops and joins the thread if it still runs
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  boost::asio::io_context& io() noexcept { return io_; }
  std::size_t index() const noexcept { return index_; }

  /// Runs `f` on this loop's thread, after what was posted before. Thread-safe.
  template <class F>
  void post(F&& f) {
    boost::asio::post(io_, std::forward<F>(f));
  }
  /// True when called from this loop's thread.
  bool in_loop_thread() noexcept { return io_.get_executor().running_in_this_thread(); }
  /// The loop whose thread is calling, or null on any other thread (O(1):
  /// set once when the loop's thread starts).
  static EventLoop* current() noexcept { return current_; }

  /// Starts the thread. Call once.
  void start();
  /// Stops the loop (pending handlers are dropped) and joins. Idempotent.
  void stop();

 private:
  std::size_t index_;
  boost::asio::io_context io_{1};  // concurrency hint 1: one thread, lighter locking
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  static thread_local EventLoop* current_;
};

/// A fixed set of loops. Thread-safe: next() may be called from any thread.
class LoopGroup {
 public:
  explicit LoopGroup(std::size_t count);
  std::size_t size() const noexcept { return loops_.size(); }
  EventLoop& at(std::size_t i) noexcept { return *loops_[i]; }
  /// The index of the calling thread's loop when it is one of this group's,
  /// else nullopt (another group's loop, or no loop). Thread-safe, O(1).
  std::optional<std::size_t> current_index() const noexcept {
    const EventLoop* loop = EventLoop::current();
    if (!loop || loop->index() >= loops_.size() || loops_[loop->index()].get() != loop) return std::nullopt;
    return loop->index();
  }
  /// Round-robin choice for a new connection.
  EventLoop& next() noexcept { return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]; }
  void start();
  void stop();

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace sluice::net
