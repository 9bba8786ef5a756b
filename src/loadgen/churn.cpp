// Churn: N workers (spread over --threads load threads), each repeating one
// cycle as fast as the server allows: connect, WebSocket handshake, subscribe
// and wait for the acknowledgement (--preset broadcast: no subscribe), then
// a clean close (our close frame, the server's answer and its TCP close).
// Counts completed cycles per second and their duration, from connect() to
// the server's EOF, and the time to the subscribe ack. A failed cycle (refused,
// an error reply, the server closing early, no progress for --stall-timeout)
// is counted and the worker starts over.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client_pool.hpp"
#include "histogram.hpp"
#include "load_threads.hpp"
#include "report.hpp"
#include "scenarios.hpp"
#include "subscribe.hpp"

namespace sluice::bench {

namespace {

constexpr std::uint64_t kStuckScanNs = 100'000'000;

// What one load thread counted; the threads' tallies are added up at the end.
struct ChurnTally {
  std::uint64_t cycles_in_window = 0, cycles_total = 0, failures = 0;
  LatencyHistogram cycle, subscribed;  // in the window: connect -> EOF, connect -> ack
  std::string first_failure;

  void add(const ChurnTally& t) {
    cycles_in_window += t.cycles_in_window;
    cycles_total += t.cycles_total;
    failures += t.failures;
    cycle.merge(t.cycle);
    subscribed.merge(t.subscribed);
    if (first_failure.empty()) first_failure = t.first_failure;
  }
};

class ChurnThread final : public LoadThread, private ClientEvents {
 public:
  ChurnThread(const Options& o, std::size_t workers)
      : o_(o), workers_(workers), pool_(target_of(o), *this), started_(workers, 0) {}

  void run(const WindowClock& clock) override;
  ChurnTally tally;  // read once run() returned

 private:
  void on_open(Client& c) override;
  void on_message(Client& c, protocol::MessageType type, std::span<const std::uint8_t> payload,
                  std::uint64_t received_ns) override;
  void on_closed(Client& c, const std::string& why) override;
  void on_subscribed(Client& c, std::uint64_t now);
  void failed(Client& c, const std::string& why);

  const Options& o_;
  std::size_t workers_;
  ClientPool pool_;
  const WindowClock* clock_ = nullptr;
  std::vector<std::uint64_t> started_;  // per worker: when its cycle's connect() began
  std::vector<Client*> to_restart_;     // to connect again after the poll
  std::string subscribe_;
};

void ChurnThread::on_open(Client& c) {
  if (o_.protocol == Protocol::broadcast) return on_subscribed(c, now_ns());  // nothing to subscribe to
  c.queue_text(subscribe_);
}

void ChurnThread::on_subscribed(Client& c, std::uint64_t now) {
  if (clock_->measuring(now)) tally.subscribed.record(now - started_[c.index()]);
  pool_.close(c);
}

void ChurnThread::on_message(Client& c, protocol::MessageType, std::span<const std::uint8_t> bytes,
                             std::uint64_t received_ns) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::string_view refusal;
  switch (read_subscribe_reply(o_.protocol, text, refusal)) {
    case SubscribeReply::acked: return on_subscribed(c, received_ns);
    case SubscribeReply::refused: return failed(c, "the server answered: " + std::string(refusal));
    case SubscribeReply::other: return;  // an event published meanwhile: not ours to count
  }
}

void ChurnThread::on_closed(Client& c, const std::string& why) {
  if (!why.empty()) return failed(c, why);
  const std::uint64_t now = now_ns();
  ++tally.cycles_total;
  count.fetch_add(1, std::memory_order_relaxed);
  if (clock_->measuring(now)) {
    ++tally.cycles_in_window;
    tally.cycle.record(now - started_[c.index()]);
  }
  to_restart_.push_back(&c);
}

void ChurnThread::failed(Client& c, const std::string& why) {
  ++tally.failures;
  errors.fetch_add(1, std::memory_order_relaxed);
  if (tally.first_failure.empty()) tally.first_failure = "worker " + std::to_string(c.index()) + ": " + why;
  // Every worker failed and none ever completed a cycle: the server is not there, or refuses us.
  if (tally.cycles_total == 0 && tally.failures >= workers_ && error.empty()) {
    error = "no cycle completed; " + tally.first_failure;
  }
  pool_.cut(c);  // whatever state it was in (an error reply leaves it open)
  to_restart_.push_back(&c);
}

void ChurnThread::run(const WindowClock& clock) {
  clock_ = &clock;
  subscribe_ = subscribe_request(o_.protocol, o_.topic);
  const std::uint64_t stall_ns = static_cast<std::uint64_t>(o_.stall_timeout * 1e9);
  std::uint64_t now = now_ns();
  std::fill(started_.begin(), started_.end(), now);
  pool_.open(workers_, workers_);
  ready.store(true);  // no connect phase: the warm-up is the first cycles
  std::uint64_t next_scan = now + kStuckScanNs;
  while (error.empty() && !clock.over(now)) {
    pool_.poll(5);
    now = now_ns();
    for (Client* c : to_restart_) {
      started_[c->index()] = now;
      pool_.reconnect(*c);
    }
    to_restart_.clear();
    if (now >= next_scan) {
      next_scan = now + kStuckScanNs;
      for (std::size_t i = 0; i < pool_.size(); ++i) {
        Client& c = pool_.at(i);
        if (c.state() != Client::State::closed && now - started_[i] > stall_ns) {
          failed(c, "no progress for " + std::to_string(o_.stall_timeout) + " s");
        }
      }
    }
  }
}

}  // namespace

int run_churn(const Options& o) {
  std::vector<std::unique_ptr<ChurnThread>> threads;
  std::vector<LoadThread*> load;
  for (std::size_t t = 0; t < o.threads; ++t) {
    threads.push_back(std::make_unique<ChurnThread>(o, share_of(o.connections, o.threads, t)));
    load.push_back(threads.back().get());
  }
  MeasuredWindow window(o.server_pid);
  ProgressLine progress(o.progress, "cycles");
  std::uint64_t connected_at = 0;
  if (const std::string failure = run_load_threads(load, o, window, progress, connected_at); !failure.empty()) {
    std::fprintf(stderr, "churn: %s\n", failure.c_str());
    return 1;
  }
  ChurnTally total;
  for (const auto& t : threads) total.add(t->tally);
  ResultLine result(o);
  result.add("cycles", total.cycles_in_window)
      .add("rate", static_cast<double>(total.cycles_in_window) / window.seconds(), 0)
      .add("p50_us", static_cast<double>(total.cycle.quantile(0.50)) / 1e3)
      .add("p99_us", static_cast<double>(total.cycle.quantile(0.99)) / 1e3)
      .add("max_us", static_cast<double>(total.cycle.max()) / 1e3)
      .add("subscribed_p50_us", static_cast<double>(total.subscribed.quantile(0.50)) / 1e3)
      .add("subscribed_p99_us", static_cast<double>(total.subscribed.quantile(0.99)) / 1e3)
      .add("cycles_total", total.cycles_total)
      .add("failures", total.failures)
      .add(window);
  result.print();
  if (!total.first_failure.empty()) std::fprintf(stderr, "churn: first failure: %s\n", total.first_failure.c_str());
  return total.failures == 0 ? 0 : 1;
}

}  // namespace sluice::bench
