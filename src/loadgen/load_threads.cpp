#include "load_threads.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include "tcp.hpp"

namespace sluice::bench {

std::string run_load_threads(const std::vector<LoadThread*>& threads, const Options& o, MeasuredWindow& window,
                             ProgressLine& progress, std::uint64_t& connected_ns) {
  WindowClock clock;
  std::vector<std::atomic<bool>> finished(threads.size());
  std::vector<std::atomic<pid_t>> tids(threads.size());  // for the per-thread CPU figures
  // A thread stays until the window is closed: its run-queue wait is read from
  // /proc/self/task, which forgets a thread once it exits.
  std::atomic<bool> release{false};
  std::vector<std::thread> running;
  running.reserve(threads.size());
  for (std::size_t i = 0; i < threads.size(); ++i) {
    running.emplace_back([&, i] {
      tids[i].store(gettid());
      try {
        threads[i]->run(clock);
      } catch (const std::exception& e) {
        if (threads[i]->error.empty()) threads[i]->error = e.what();
      }
      finished[i].store(true, std::memory_order_release);
      release.wait(false);
    });
  }
  const std::uint64_t started = now_ns();
  const std::uint64_t connect_deadline = started + static_cast<std::uint64_t>(o.connect_timeout * 1e9);
  std::string failure;
  bool window_started = false, window_stopped = false;
  for (;;) {
    const std::uint64_t now = now_ns();
    std::uint64_t count = 0, errors = 0;
    std::size_t ready = 0, done = 0;
    for (std::size_t i = 0; i < threads.size(); ++i) {
      count += threads[i]->count.load(std::memory_order_relaxed);
      errors += threads[i]->errors.load(std::memory_order_relaxed);
      ready += threads[i]->ready.load(std::memory_order_relaxed) ? 1 : 0;
      if (finished[i].load(std::memory_order_acquire)) {
        ++done;
        if (failure.empty() && !threads[i]->error.empty()) failure = threads[i]->error;
      }
    }
    if (!failure.empty()) clock.stop.store(true);
    std::uint64_t start = clock.start_ns.load();
    if (start == 0 && ready == threads.size()) {
      connected_ns = now;
      start = now + static_cast<std::uint64_t>(o.warmup * 1e9);
      clock.end_ns.store(start + static_cast<std::uint64_t>(o.duration * 1e9));
      clock.start_ns.store(start);
    } else if (start == 0 && now > connect_deadline && failure.empty()) {
      failure = "start-up timed out: " + std::to_string(ready) + " of " + std::to_string(threads.size()) +
                " load threads connected";
      clock.stop.store(true);
    }
    const std::uint64_t end = clock.end_ns.load();
    if (start != 0 && !window_started && now >= start) {
      if (threads.size() > 1) {  // every thread has stored its tid: each was ready before the window
        std::vector<pid_t> ids;
        for (const auto& tid : tids) ids.push_back(tid.load());
        window.track_threads(std::move(ids));
      }
      window.start(now);
      window_started = true;
    }
    if (window_started && !window_stopped && now >= end) {
      window.stop(now);
      window_stopped = true;
    }
    if (done == threads.size()) break;
    const char* phase = start == 0 ? "connecting" : now < start ? "warm-up" : now < end ? "measuring" : "draining";
    progress.update(now, phase, count, errors);
    // Wake for the next edge of the window, or to look again in 50 ms.
    std::uint64_t wake = now + 50'000'000;
    if (start != 0 && !window_started) wake = std::min(wake, start);
    if (window_started && !window_stopped) wake = std::min(wake, end);
    std::this_thread::sleep_for(std::chrono::nanoseconds(wake > now ? wake - now : 0));
  }
  if (window_started && !window_stopped) window.stop(now_ns());  // the run ended early (a failure)
  release.store(true);
  release.notify_all();
  for (auto& t : running) t.join();
  progress.finish();
  return failure;
}

}  // namespace sluice::bench
