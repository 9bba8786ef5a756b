// Echo: N connections, each with one message in flight; a reply triggers the
// next message on that connection. Counts replies per second and their
// round-trip time. Binary messages, so no side spends time on UTF-8 checks.
#include <cstdio>
#include <string>

#include "client_pool.hpp"
#include "histogram.hpp"
#include "payload.hpp"
#include "report.hpp"
#include "scenarios.hpp"

namespace sluice::bench {

namespace {

class Echo final : public ClientEvents {
 public:
  explicit Echo(const Options& o)
      : o_(o), pool_(target_of(o), *this), window_(o.server_pid), progress_(o.progress, "replies") {}
  int run();

 private:
  enum class Phase { connecting, warmup, measuring, done };

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
      ++unexpected_;
      return;
    }
    ++all_replies_;
    if (phase_ == Phase::measuring) {
      ++replies_;
      latency_.record(received_ns - fields->sent_ns);
    }
    send_next(c, received_ns);
  }
  void on_closed(Client& c, const std::string& why) override {
    if (error_.empty()) error_ = "connection " + std::to_string(c.index()) + ": " + why;
    phase_ = Phase::done;
  }

  Options o_;
  ClientPool pool_;
  MeasuredWindow window_;
  ProgressLine progress_;
  Phase phase_ = Phase::connecting;
  std::uint64_t replies_ = 0;      // in the measured window
  std::uint64_t all_replies_ = 0;  // since the start (the progress line)
  std::uint64_t unexpected_ = 0;
  LatencyHistogram latency_;
  std::string payload_;
  std::string error_;
};

int Echo::run() {
  const std::uint64_t started = now_ns();
  const std::uint64_t connect_deadline = started + static_cast<std::uint64_t>(o_.connect_timeout * 1e9);
  pool_.open(o_.connections, o_.connect_concurrency);
  std::uint64_t phase_end = 0, connected_at = 0;
  while (phase_ != Phase::done) {
    pool_.poll(5);
    const std::uint64_t now = now_ns();
    static constexpr const char* kPhaseNames[] = {"connecting", "warm-up", "measuring", "done"};
    progress_.update(now, kPhaseNames[static_cast<int>(phase_)], all_replies_, unexpected_);
    if (phase_ == Phase::connecting) {
      if (pool_.open_count() == o_.connections) {
        connected_at = now;
        phase_ = Phase::warmup;
        phase_end = now + static_cast<std::uint64_t>(o_.warmup * 1e9);
      } else if (now > connect_deadline) {
        error_ = "start-up timed out: " + std::to_string(pool_.open_count()) + " open";
        phase_ = Phase::done;
      }
    } else if (phase_ == Phase::warmup && now >= phase_end) {
      phase_ = Phase::measuring;
      phase_end = now + static_cast<std::uint64_t>(o_.duration * 1e9);
      window_.start(now);
    } else if (phase_ == Phase::measuring && now >= phase_end) {
      window_.stop(now);
      phase_ = Phase::done;
    }
  }
  progress_.finish();
  if (!error_.empty()) {
    std::fprintf(stderr, "echo: %s\n", error_.c_str());
    return 1;
  }
  ResultLine result(o_);
  result.add("connect_s", static_cast<double>(connected_at - started) / 1e9, 2)
      .add("messages", replies_)
      .add("rate", static_cast<double>(replies_) / window_.seconds(), 0)
      .add("p50_us", static_cast<double>(latency_.quantile(0.50)) / 1e3)
      .add("p99_us", static_cast<double>(latency_.quantile(0.99)) / 1e3)
      .add("max_us", static_cast<double>(latency_.max()) / 1e3)
      .add("unexpected", unexpected_)
      .add(window_);
  result.print();
  return unexpected_ == 0 ? 0 : 1;
}

}  // namespace

int run_echo(const Options& options) { return Echo(options).run(); }

}  // namespace sluice::bench
