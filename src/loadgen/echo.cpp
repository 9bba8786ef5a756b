// Echo: N connections (spread over --threads load threads), each with one
// message in flight; a reply triggers the next message on that connection.
// Counts replies per second and their round-trip time. Binary messages, so no
// side spends time on UTF-8 checks.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client_pool.hpp"
#include "histogram.hpp"
#include "load_threads.hpp"
#include "payload.hpp"
#include "report.hpp"
#include "scenarios.hpp"

namespace sluice::bench {

namespace {

// What one load thread counted; the threads' tallies are added up at the end.
struct EchoTally {
  std::uint64_t replies = 0;      // in the measured window
  std::uint64_t all_replies = 0;  // since the start (the progress line)
  std::uint64_t unexpected = 0;
  LatencyHistogram latency;

  void add(const EchoTally& t) {
    replies += t.replies;
    all_replies += t.all_replies;
    unexpected += t.unexpected;
    latency.merge(t.latency);
  }
};

class EchoThread final : public LoadThread, private ClientEvents {
 public:
  /// Connections first .. first + connections - 1.
  EchoThread(const Options& o, std::size_t first, std::size_t connections)
      : o_(o), first_(first), connections_(connections), pool_(target_of(o), *this) {}

  void run(const WindowClock& clock) override;
  EchoTally tally;  // read once run() returned

 private:
  void send_next(Client& c, std::uint64_t now) {
    encode_payload(payload_, o_.payload, {PayloadKind::data, ++c.user, now});
    c.queue(protocol::MessageType::binary,
            {reinterpret_cast<const std::uint8_t*>(payload_.data()), payload_.size()});
    pool_.flush(c);
  }
  void on_open(Client& c) override { send_next(c, now_ns()); }
  void on_message(Client& c, protocol::MessageType, std::span<const std::uint8_t> bytes,
                  std::uint64_t received_ns) override {
    const auto fields = decode_payload({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    if (!fields || fields->seq != c.user || bytes.size() != o_.payload) {
      ++tally.unexpected;
      return;
    }
    ++tally.all_replies;
    if (clock_->measuring(received_ns)) {
      ++tally.replies;
      tally.latency.record(received_ns - fields->sent_ns);
    }
    send_next(c, received_ns);
  }
  void on_closed(Client& c, const std::string& why) override {
    if (error.empty()) error = "connection " + std::to_string(first_ + c.index()) + ": " + why;
  }

  const Options& o_;
  std::size_t first_, connections_;
  ClientPool pool_;
  const WindowClock* clock_ = nullptr;
  std::string payload_;
};

void EchoThread::run(const WindowClock& clock) {
  clock_ = &clock;
  // --connect-concurrency is for the whole run: each thread takes its share.
  pool_.open(connections_, std::max<std::size_t>(1, o_.connect_concurrency / o_.threads));
  for (;;) {
    pool_.poll(5);
    count.store(tally.all_replies, std::memory_order_relaxed);
    errors.store(tally.unexpected, std::memory_order_relaxed);
    if (!error.empty() || clock.over(now_ns())) return;
    if (!ready.load(std::memory_order_relaxed) && pool_.open_count() == connections_) ready.store(true);
  }
}

}  // namespace

int run_echo(const Options& o) {
  std::vector<std::unique_ptr<EchoThread>> threads;
  std::vector<LoadThread*> load;
  for (std::size_t t = 0, first = 0; t < o.threads; ++t) {
    const std::size_t share = share_of(o.connections, o.threads, t);
    threads.push_back(std::make_unique<EchoThread>(o, first, share));
    load.push_back(threads.back().get());
    first += share;
  }
  MeasuredWindow window(o.server_pid);
  ProgressLine progress(o.progress, "replies");
  const std::uint64_t started = now_ns();
  std::uint64_t connected_at = started;
  if (const std::string failure = run_load_threads(load, o, window, progress, connected_at); !failure.empty()) {
    std::fprintf(stderr, "echo: %s\n", failure.c_str());
    return 1;
  }
  EchoTally total;
  for (const auto& t : threads) total.add(t->tally);
  ResultLine result(o);
  result.add("connect_s", static_cast<double>(connected_at - started) / 1e9, 2)
      .add("messages", total.replies)
      .add("rate", static_cast<double>(total.replies) / window.seconds(), 0)
      .add("p50_us", static_cast<double>(total.latency.quantile(0.50)) / 1e3)
      .add("p99_us", static_cast<double>(total.latency.quantile(0.99)) / 1e3)
      .add("max_us", static_cast<double>(total.latency.max()) / 1e3)
      .add("unexpected", total.unexpected)
      .add(window);
  result.print();
  return total.unexpected == 0 ? 0 : 1;
}

}  // namespace sluice::bench
