// Threads against one client (SPEC §1.2, §1.4, §1.8): senders, closers and
// listener churn from several threads while callbacks send and close, with
// faults injected underneath. Run under ThreadSanitizer in CI: any data race
// fails it; a deadlock fails the time bound; a callback after close()
// returned fails the assertions.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "client/fault_proxy.hpp"
#include "client/test_support.hpp"
#include "sluice/client/client.hpp"

namespace {

using namespace sluice;
using namespace sluice::test;
using client::Client;
using client::Listen;
using client::SendStatus;
using client::State;

TEST(ClientConcurrency, SendersClosersAndListenerChurnWhileCallbacksSendAndClose) {
  WsServer server;
  FaultProxy proxy(server.port());
  constexpr int kRounds = 6;
  for (int round = 0; round < kRounds; ++round) {
    auto o = fast_options();
    o.max_queued_bytes = 64 * 1024;
    o.reconnect.backoff.floor = 2ms;
    o.reconnect.backoff.max = 5ms;
    auto c = std::make_unique<Client>(proxy.url(), o);
    std::atomic<bool> close_returned{false};
    std::atomic<int> after_close{0};
    std::atomic<int> messages{0};
    Signal signal;
    auto guard = [&] {
      if (close_returned) ++after_close;
    };
    c->on_message([&](const client::Message&) {
      guard();
      const int n = ++messages;
      // Callbacks use the public API: send, add/remove listeners, and (late
      // in the round) close.
      (void)c->send_text("from callback");
      const auto id = c->on_open([&](const client::OpenEvent&) { guard(); }, Listen::once);
      c->remove_listener(id);
      if (round % 2 == 1 && n == 150) c->close(1000, "closed in a callback");
      signal.notify();
    });
    c->on_open([&](const client::OpenEvent&) { guard(); });
    c->on_close([&](const client::CloseEvent&) { guard(); });
    c->on_error([&](const client::ErrorEvent&) { guard(); });
    c->on_reconnecting([&](std::uint32_t, std::chrono::milliseconds) { guard(); });
    c->connect();

    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {  // senders
      threads.emplace_back([&, t] {
        for (int i = 0; !stop; ++i) {  // until the round ends: traffic survives the cuts
          const auto status = c->send_text("t" + std::to_string(t) + "-" + std::to_string(i));
          if (status == SendStatus::closed) break;
          if (status == SendStatus::queue_full) std::this_thread::yield();
          (void)c->state();
          (void)c->queued_bytes();
          if (i % 100 == 0) (void)c->info();
        }
      });
    }
    threads.emplace_back([&] {  // listener churn
      std::mt19937 rng(static_cast<unsigned>(round));
      for (int i = 0; !stop && i < 500; ++i) {
        auto alive = std::make_shared<std::atomic<bool>>(true);
        const auto id = c->on_message([alive, &guard](const client::Message&) {
          EXPECT_TRUE(alive->load());
          guard();
        }, rng() % 2 ? Listen::once : Listen::recurring);
        c->remove_listener(id);
        alive->store(false);
      }
    });
    threads.emplace_back([&] {  // faults underneath
      for (int i = 0; !stop && i < 3; ++i) {
        signal.wait([&] { return stop.load() || messages.load() > 40 * (i + 1); }, 2s);
        proxy.cut_all();
      }
    });

    // Closers: several threads at once, once enough traffic went through.
    signal.wait([&] { return messages.load() > 200 || c->state() == State::closed; }, kWait);
    std::vector<std::thread> closers;
    for (int t = 0; t < 3; ++t) {
      closers.emplace_back([&] {
        c->close();
        close_returned = true;
        EXPECT_EQ(c->state(), State::closed);
        EXPECT_EQ(c->send_text("after"), SendStatus::closed);
      });
    }
    for (auto& t : closers) t.join();
    stop = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(after_close.load(), 0) << "a callback ran after close() returned (round " << round << ")";
    c.reset();
    EXPECT_EQ(after_close.load(), 0);
  }
}

TEST(ClientConcurrency, ManyClientsComeAndGo) {
  WsServer server;
  std::vector<std::thread> threads;
  std::atomic<int> echoed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        Recorder rec;
        Client c(server.url(), fast_options());
        rec.attach(c);
        c.connect();
        (void)c.send_text("hi");
        if (rec.wait([&] { return !rec.messages.empty(); })) ++echoed;
        if (i % 2) c.close();
      }  // the rest close in the destructor
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(echoed.load(), 20);
}

}  // namespace
