// Idle: opens N connections, each subscribed to --topic (Sluice's and
// Centrifugo's presets wait for the acknowledgement; a broadcast peer
// subscribes its connections itself), prints "READY open=N" (in the
// RESULT-line output) and holds them for --duration seconds, or until
// standard input closes when Options::hold_until_stdin_eof, so a runner can
// read the server's memory while they are open. Fails if the server closes
// any of them, or refuses a subscription, meanwhile.
#include <cstdio>
#include <string>
#include <string_view>

#include "client_pool.hpp"
#include "report.hpp"
#include "scenarios.hpp"
#include "subscribe.hpp"

namespace sluice::bench {

namespace {

class Idle final : public ClientEvents {
 public:
  explicit Idle(const Options& o)
      : o_(o), pool_(target_of(o), *this), window_(o.server_pid), progress_(o.progress, "opened") {}
  int run();

 private:
  void on_open(Client& c) override {
    if (o_.protocol == Protocol::broadcast) {
      ++subscribed_;  // a broadcast peer subscribes on its own
    } else {
      c.queue_text(subscribe_request(o_.protocol, o_.topic));
    }
  }
  // Counts acknowledged subscriptions; a refusal ends the run.
  void on_message(Client& c, protocol::MessageType, std::span<const std::uint8_t> bytes, std::uint64_t) override {
    std::string_view refusal;
    switch (read_subscribe_reply(o_.protocol, {reinterpret_cast<const char*>(bytes.data()), bytes.size()}, refusal)) {
      case SubscribeReply::acked: ++subscribed_; return;
      case SubscribeReply::refused:
        if (error_.empty()) error_ = "connection " + std::to_string(c.index()) + ": " + std::string(refusal);
        return;
      case SubscribeReply::other: return;
    }
  }
  void on_closed(Client& c, const std::string& why) override {
    if (error_.empty()) error_ = "connection " + std::to_string(c.index()) + ": " + why;
  }

  Options o_;
  ClientPool pool_;
  MeasuredWindow window_;
  ProgressLine progress_;
  std::string error_;
  std::size_t subscribed_ = 0;
};

int Idle::run() {
  const std::uint64_t started = now_ns();
  const std::uint64_t connect_deadline = started + static_cast<std::uint64_t>(o_.connect_timeout * 1e9);
  window_.start(started);  // the window here is the connect phase
  pool_.open(o_.connections, o_.connect_concurrency);
  while (error_.empty() && (pool_.open_count() < o_.connections || subscribed_ < o_.connections)) {
    pool_.poll(50);
    progress_.update(now_ns(), "connecting", pool_.open_count());
    if (now_ns() > connect_deadline) {
      error_ = "start-up timed out: " + std::to_string(pool_.open_count()) + " open, " + std::to_string(subscribed_) +
               " subscribed";
    }
  }
  window_.stop(now_ns());
  if (!error_.empty()) {
    std::fprintf(stderr, "idle: %s\n", error_.c_str());
    return 1;
  }
  if (o_.output == Output::result_line) {
    std::printf("READY open=%zu\n", pool_.open_count());
    std::fflush(stdout);
  }
  if (o_.hold_until_stdin_eof) pool_.watch_stdin();
  const std::uint64_t hold_until = now_ns() + static_cast<std::uint64_t>(o_.duration * 1e9);
  while (error_.empty() && !pool_.stdin_closed() && now_ns() < hold_until) {
    pool_.poll(100);
    progress_.update(now_ns(), "holding", pool_.open_count());
  }
  progress_.finish();
  if (!error_.empty()) {
    std::fprintf(stderr, "idle: %s\n", error_.c_str());
    return 1;
  }
  ResultLine result(o_);
  result.add("open", static_cast<std::uint64_t>(pool_.open_count()))
      .add("connect_s", window_.seconds(), 2)
      .add("connects_per_s", static_cast<double>(o_.connections) / window_.seconds(), 0)
      .add(window_);
  result.print();
  return 0;
}

}  // namespace

int run_idle(const Options& options) { return Idle(options).run(); }

}  // namespace sluice::bench
