// Listeners: once/recurring, add/remove from inside a callback, and the two
// cross-thread guarantees: remove() and disable() return only when the
// listener is not running (SPEC §1.4, §1.8, §4).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "client/test_support.hpp"
#include "sluice/client/listeners.hpp"

namespace {

using sluice::client::Listen;
using sluice::client::ListenerId;
using sluice::client::Listeners;
using sluice::client::OpenEvent;
using sluice::test::Signal;

// A dispatch thread of its own, as the client's loop thread is.
struct Dispatch {
  std::atomic<std::thread::id> thread{};
  Listeners listeners{[this] { return std::this_thread::get_id() == thread.load(); }};

  template <class F>
  void on_thread(F f) {
    std::thread t([&] {
      thread = std::this_thread::get_id();
      f();
    });
    t.join();
  }
};

TEST(Listeners, RecurringRunsEveryTimeInOrderOnceRunsOnce) {
  Dispatch d;
  std::vector<std::string> calls;
  d.listeners.add<Listeners::OpenFn>(d.listeners.open, [&](const OpenEvent&) { calls.push_back("a"); },
                                     Listen::recurring);
  const auto once = d.listeners.add<Listeners::OpenFn>(d.listeners.open, [&](const OpenEvent&) { calls.push_back("once"); },
                                                       Listen::once);
  d.listeners.add<Listeners::OpenFn>(d.listeners.open, [&](const OpenEvent&) { calls.push_back("b"); },
                                     Listen::recurring);
  d.on_thread([&] {
    d.listeners.emit(d.listeners.open, OpenEvent{});
    d.listeners.emit(d.listeners.open, OpenEvent{});
  });
  EXPECT_EQ(calls, (std::vector<std::string>{"a", "once", "b", "a", "b"}));
  EXPECT_FALSE(d.listeners.remove(once));  // already gone
}

TEST(Listeners, RemoveAndAddFromInsideACallback) {
  Dispatch d;
  std::vector<std::string> calls;
  ListenerId second = 0;
  d.listeners.add<Listeners::OpenFn>(
      d.listeners.open,
      [&](const OpenEvent&) {
        calls.push_back("first");
        EXPECT_TRUE(d.listeners.remove(second));  // from the dispatch thread: no wait, no deadlock
        d.listeners.add<Listeners::OpenFn>(d.listeners.open, [&](const OpenEvent&) { calls.push_back("added"); },
                                           Listen::once);
      },
      Listen::once);
  second = d.listeners.add<Listeners::OpenFn>(d.listeners.open, [&](const OpenEvent&) { calls.push_back("second"); },
                                              Listen::recurring);
  d.on_thread([&] {
    d.listeners.emit(d.listeners.open, OpenEvent{});  // first; second removed before its turn
    d.listeners.emit(d.listeners.open, OpenEvent{});  // the listener added during the first event
    d.listeners.emit(d.listeners.open, OpenEvent{});
  });
  EXPECT_EQ(calls, (std::vector<std::string>{"first", "added"}));
}

TEST(Listeners, RemoveFromAnotherThreadWaitsForTheRunningCall) {
  Dispatch d;
  Signal signal;
  std::atomic<bool> entered{false}, release{false}, finished{false}, removed{false};
  std::atomic<int> calls{0};
  const auto id = d.listeners.add<Listeners::OpenFn>(
      d.listeners.open,
      [&](const OpenEvent&) {
        ++calls;
        entered = true;
        signal.notify();
        signal.wait([&] { return release.load(); });
        finished = true;
      },
      Listen::recurring);
  std::thread dispatcher([&] {
    d.thread = std::this_thread::get_id();
    d.listeners.emit(d.listeners.open, OpenEvent{});
    d.listeners.emit(d.listeners.open, OpenEvent{});  // after the remove: must not call it again
  });
  ASSERT_TRUE(signal.wait([&] { return entered.load(); }));
  bool finished_when_remove_returned = false;
  std::thread remover([&] {
    EXPECT_TRUE(d.listeners.remove(id));
    finished_when_remove_returned = finished.load();
    removed = true;
    signal.notify();
  });
  ASSERT_TRUE(signal.wait([&] { return d.listeners.waiting() == 1; }));  // remove() is blocked on the call
  EXPECT_FALSE(removed.load());
  release = true;
  signal.notify();
  remover.join();
  dispatcher.join();
  EXPECT_TRUE(finished_when_remove_returned);
  EXPECT_EQ(calls.load(), 1);
}

TEST(Listeners, RemovingARunningOnceListenerStillWaitsForIt) {
  // A "once" listener is unregistered as its call starts: remove() finds
  // nothing, and must still not return while that call runs.
  Dispatch d;
  Signal signal;
  std::atomic<bool> entered{false}, release{false}, finished{false};
  const auto id = d.listeners.add<Listeners::OpenFn>(
      d.listeners.open,
      [&](const OpenEvent&) {
        entered = true;
        signal.notify();
        signal.wait([&] { return release.load(); });
        finished = true;
      },
      Listen::once);
  std::thread dispatcher([&] {
    d.thread = std::this_thread::get_id();
    d.listeners.emit(d.listeners.open, OpenEvent{});
  });
  ASSERT_TRUE(signal.wait([&] { return entered.load(); }));
  bool found = true, finished_when_returned = false;
  std::thread remover([&] {
    found = d.listeners.remove(id);
    finished_when_returned = finished.load();
  });
  ASSERT_TRUE(signal.wait([&] { return d.listeners.waiting() == 1; }));
  release = true;
  signal.notify();
  remover.join();
  dispatcher.join();
  EXPECT_FALSE(found);
  EXPECT_TRUE(finished_when_returned);
}

TEST(Listeners, DisableWaitsForTheRunningCallAndStopsEverything) {
  Dispatch d;
  Signal signal;
  std::atomic<bool> entered{false}, release{false}, finished{false};
  std::atomic<int> calls{0};
  d.listeners.add<Listeners::OpenFn>(
      d.listeners.open,
      [&](const OpenEvent&) {
        ++calls;
        entered = true;
        signal.notify();
        signal.wait([&] { return release.load(); });
        finished = true;
      },
      Listen::recurring);
  std::atomic<int> later{0};
  d.listeners.add<Listeners::OpenFn>(d.listeners.open, [&](const OpenEvent&) { ++later; }, Listen::recurring);
  std::thread dispatcher([&] {
    d.thread = std::this_thread::get_id();
    d.listeners.emit(d.listeners.open, OpenEvent{});
  });
  ASSERT_TRUE(signal.wait([&] { return entered.load(); }));
  bool finished_when_disabled = false;
  std::thread closer([&] {
    d.listeners.disable();
    finished_when_disabled = finished.load();
  });
  ASSERT_TRUE(signal.wait([&] { return d.listeners.waiting() == 1; }));
  release = true;
  signal.notify();
  closer.join();
  dispatcher.join();
  EXPECT_TRUE(finished_when_disabled);
  EXPECT_EQ(later.load(), 0);  // the second listener of the same event never ran
  EXPECT_FALSE(d.listeners.run([] { ADD_FAILURE() << "ran after disable"; }));
}

TEST(Listeners, ConcurrentAddRemoveWhileEmitting) {
  Dispatch d;
  std::atomic<bool> stop{false};
  std::atomic<long> calls{0};
  std::thread dispatcher([&] {
    d.thread = std::this_thread::get_id();
    while (!stop) d.listeners.emit(d.listeners.open, OpenEvent{});
  });
  std::vector<std::thread> churn;
  for (int t = 0; t < 4; ++t) {
    churn.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto alive = std::make_shared<std::atomic<bool>>(true);
        const auto id = d.listeners.add<Listeners::OpenFn>(
            d.listeners.open,
            [&, alive](const OpenEvent&) {
              EXPECT_TRUE(alive->load());  // never called after remove() returned
              ++calls;
            },
            (i + t) % 3 == 0 ? Listen::once : Listen::recurring);
        d.listeners.remove(id);
        alive->store(false);
      }
    });
  }
  for (auto& t : churn) t.join();
  stop = true;
  dispatcher.join();
  SUCCEED() << calls.load() << " calls";
}

}  // namespace
