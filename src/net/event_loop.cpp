#include "sluice/net/event_loop.hpp"

#include "sluice/util/thread_name.hpp"

namespace sluice::net {

thread_local EventLoop* EventLoop::current_ = nullptr;

EventLoop::EventLoop(std::size_t index) : index_(index) {}

EventLoop::~EventLoop() { stop(); }

void EventLoop::start() {
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    current_ = this;
    io_.run();
  });
  util::name_thread(thread_, "sluice-loop-" + std::to_string(index_));
}

void EventLoop::stop() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

LoopGroup::LoopGroup(std::size_t count) {
  if (count == 0) count = 1;
  loops_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) loops_.push_back(std::make_unique<EventLoop>(i));
}

void LoopGroup::start() {
  for (auto& loop : loops_) loop->start();
}

void LoopGroup::stop() {
  for (auto& loop : loops_) loop->stop();
}

}  // namespace sluice::net
