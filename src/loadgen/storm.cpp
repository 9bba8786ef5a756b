// Storm: N subscribers on one topic (Sluice's /v1/ws protocol) and one
// publisher at --rate events/s. After the warm-up every subscriber connection
// is cut at once (a TCP reset, as when a network path dies); each subscriber
// reconnects at once and resubscribes from the last offset it received
// ("since": {"offset", "epoch"}). Measures the time from the cut until each is
// back (its subscribe acknowledged); --cuts K repeats the cut, --duration / K
// seconds after all are back. Then the publisher stops and, once every
// subscriber has drained, each one's offsets are checked: every offset the
// publisher was acknowledged must have arrived once. Lost or duplicated
// events fail the run.
//
// With --restart-cmd nothing is cut: the command restarts the server, every
// connection (the publisher's too) drops when the server goes, and each
// reconnects (failed attempts back off from 10 ms to 100 ms) and resumes;
// the time back counts from the command's start. Resume across a restart
// needs a server that keeps its history (Sluice: a durable store). A publish
// the server never answered before it went is "unconfirmed": if it was stored
// after all, its offset lies in the checked range and must arrive too.
//
// The topic is a fresh one per run unless --topic names one; no other
// publisher may use it meanwhile (the check assumes our publishes are all
// its offsets from the first acknowledged on).
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/util/json_text.hpp"
#include "client_pool.hpp"
#include "histogram.hpp"
#include "payload.hpp"
#include "report.hpp"
#include "restart_command.hpp"
#include "scenarios.hpp"

namespace sluice::bench {

namespace {

constexpr std::uint64_t kMaxUnacknowledged = 100'000;  // publishes in flight before giving up
constexpr std::uint64_t kDrainScanNs = 10'000'000;
constexpr std::uint64_t kFirstRetryNs = 10'000'000;  // after a failed reconnect; doubles per failure
constexpr std::uint64_t kMaxRetryNs = 100'000'000;

// The number after `"key":` in a JSON text we produced or Sluice wrote, or 0.
std::uint64_t number_after(std::string_view text, std::string_view key) {
  const std::size_t at = text.find(key);
  if (at == std::string_view::npos) return 0;
  std::uint64_t v = 0;
  for (std::size_t i = at + key.size(); i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    v = v * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  return v;
}

class Storm final : public ClientEvents {
 public:
  explicit Storm(const Options& o)
      : o_(o),
        pool_(target_of(o), *this),
        window_(o.server_pid),
        progress_(o.progress, "deliveries"),
        connect_ns_(static_cast<std::uint64_t>(o.connect_timeout * 1e9)),
        stall_ns_(static_cast<std::uint64_t>(o.stall_timeout * 1e9)),
        spacing_ns_(static_cast<std::uint64_t>(o.duration / static_cast<double>(o.cuts) * 1e9)),
        subs_(o.connections),
        retry_ns_(o.connections + 1, 0),
        restart_(o.restart_cmd) {
    if (!o.topic_given) {
      char name[48];
      std::snprintf(name, sizeof name, "bench.storm.%llx", static_cast<unsigned long long>(now_ns()));
      o_.topic = name;
    }
  }
  int run();

 private:
  enum class Phase { connecting, warmup, reconnecting, resumed, draining, done };
  struct Subscriber {
    std::uint64_t first = 0, last = 0;  // offsets received: the first and the latest
    std::uint64_t gaps = 0;             // offsets skipped between two received
    std::uint64_t duplicates = 0;
    bool subscribed = false;            // acknowledged on its current connection
    bool back = true;                   // resubscribed since the last cut
    std::uint64_t back_ns = 0;          // the time it took
    bool resume = false;                // subscribed before: resubscribe with "since"
  };
  bool restarting() const { return !o_.restart_cmd.empty(); }

  bool is_publisher(const Client& c) const { return c.index() == o_.connections; }
  void on_open(Client& c) override;
  void on_message(Client& c, protocol::MessageType type, std::span<const std::uint8_t> payload,
                  std::uint64_t received_ns) override;
  void on_closed(Client& c, const std::string& why) override;
  void on_publisher_message(std::string_view text);
  void on_event(Subscriber& s, std::uint64_t offset);
  void queue_publish(std::uint64_t now);
  void publish_due(std::uint64_t now);
  void cut_all(std::uint64_t now);
  void retry_later(Client& c, bool failed_attempt, std::uint64_t now);
  void reconnect_due(std::uint64_t now);
  bool restart_done(std::uint64_t now);
  bool drained() const;
  std::uint64_t lost() const;
  // One turn of the loop in the current phase; each may move to the next.
  void step(std::uint64_t now);
  void connecting_step(std::uint64_t now);
  void warmup_step(std::uint64_t now);
  void reconnecting_step(std::uint64_t now);
  void resumed_step(std::uint64_t now);
  void draining_step(std::uint64_t now);
  // The result line and the verdict on stderr; the exit status.
  int report();
  void abort(const std::string& why) {
    if (error_.empty()) error_ = why;
    phase_ = Phase::done;
  }

  Options o_;
  ClientPool pool_;
  MeasuredWindow window_;
  ProgressLine progress_;
  const std::uint64_t connect_ns_;  // --connect-timeout: to start, and to be back after each cut
  const std::uint64_t stall_ns_;
  const std::uint64_t spacing_ns_;  // from all back to the next cut
  Phase phase_ = Phase::connecting;
  std::uint64_t connect_deadline_ = 0, phase_end_ = 0;
  std::uint64_t next_scan_ = 0, drain_progress_ns_ = 0, drain_marker_ = 0;  // draining
  std::vector<Subscriber> subs_;
  std::vector<std::pair<std::uint64_t, Client*>> to_reconnect_;  // (when, whom), after the poll
  std::vector<std::uint64_t> retry_ns_;  // per client: the delay after its next failed attempt
  Client* publisher_ = nullptr;
  bool publisher_opened_ = false;
  std::size_t subscribed_ = 0;   // first subscriptions acknowledged
  std::uint64_t sent_ = 0, acked_ = 0, publish_errors_ = 0;
  std::uint64_t unconfirmed_ = 0;  // publishes in flight when the publisher's connection dropped
  std::uint64_t publisher_drops_ = 0;
  RestartCommand restart_;
  std::uint64_t restart_max_ns_ = 0;  // the longest --restart-cmd run
  std::uint64_t first_offset_ = 0, last_offset_ = 0;  // of the acknowledged publishes
  std::string epoch_;
  std::uint64_t next_publish_ns_ = 0, interval_ns_ = 0;
  std::uint64_t cut_ns_ = 0;
  std::size_t cuts_done_ = 0, back_ = 0;
  LatencyHistogram back_time_;  // cut -> resubscribe acknowledged, every subscriber of every cut
  std::uint64_t deliveries_ = 0, replayed_ = 0, not_recovered_ = 0, drops_ = 0, reconnect_failures_ = 0;
  std::uint64_t unexpected_ = 0;
  std::string payload_, message_;
  std::string error_;
};

void Storm::on_open(Client& c) {
  if (is_publisher(c)) {
    publisher_ = &c;
    retry_ns_[c.index()] = 0;
    return;
  }
  Subscriber& s = subs_[c.index()];
  std::string message = "{\"op\":\"subscribe\",\"id\":" + std::to_string(c.index()) + ",\"topic\":" + util::quoted(o_.topic);
  if (s.resume) {
    // From the last offset received; one that got nothing yet resumes from before our first publish.
    const std::uint64_t from = s.last != 0 ? s.last : first_offset_ != 0 ? first_offset_ - 1 : 0;
    message += ",\"since\":{\"offset\":" + std::to_string(from);
    if (!epoch_.empty()) message += ",\"epoch\":" + util::quoted(epoch_);
    message += '}';
  }
  c.queue_text(message + '}');
}

void Storm::on_message(Client& c, protocol::MessageType, std::span<const std::uint8_t> bytes,
                       std::uint64_t received_ns) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (is_publisher(c)) return on_publisher_message(text);
  Subscriber& s = subs_[c.index()];
  if (text.starts_with("{\"type\":\"event\"")) {
    // The offset is the event's first "offset" field: a topic with that text in it is escaped (\"offset\").
    if (const std::uint64_t offset = number_after(text, "\"offset\":"); offset != 0) return on_event(s, offset);
  } else if (text.starts_with("{\"type\":\"ack\"")) {
    s.subscribed = true;
    retry_ns_[c.index()] = 0;
    replayed_ += number_after(text, "\"replayed\":");
    if (text.find("\"recovered\":false") != std::string_view::npos) ++not_recovered_;
    if (!s.resume) {
      s.resume = true;
      ++subscribed_;
    }
    if (!s.back) {
      s.back = true;
      ++back_;
      s.back_ns = received_ns - cut_ns_;
    }
    return;
  } else if (text.starts_with("{\"type\":\"error\"")) {
    return abort("subscriber " + std::to_string(c.index()) + ": the server answered " +
                 std::string(text.substr(0, 200)));
  } else if (text.starts_with("{\"type\":\"gap\"")) {
    return;  // events dropped for this subscriber (--overflow drop): the offsets show how many
  }
  if (unexpected_++ == 0) std::fprintf(stderr, "unexpected message: %.*s\n", static_cast<int>(text.size()), text.data());
}

void Storm::on_event(Subscriber& s, std::uint64_t offset) {
  ++deliveries_;
  if (s.first == 0) {
    s.first = s.last = offset;
  } else if (offset <= s.last) {
    ++s.duplicates;
  } else {
    s.gaps += offset - s.last - 1;
    s.last = offset;
  }
}

void Storm::on_publisher_message(std::string_view text) {
  if (text.starts_with("{\"type\":\"ack\"")) {
    const std::uint64_t offset = number_after(text, "\"offset\":");
    ++acked_;
    if (first_offset_ == 0) {
      first_offset_ = offset;
      static constexpr std::string_view kEpoch = "\"epoch\":\"";
      if (const std::size_t at = text.find(kEpoch); at != std::string_view::npos) {
        const std::size_t from = at + kEpoch.size();
        epoch_ = std::string(text.substr(from, text.find('"', from) - from));
      }
    }
    last_offset_ = std::max(last_offset_, offset);
  } else if (text.starts_with("{\"type\":\"error\"")) {
    ++publish_errors_;  // not published: no offset taken
    if (publish_errors_ == 1) std::fprintf(stderr, "publish refused: %.*s\n", static_cast<int>(text.size()), text.data());
  } else if (unexpected_++ == 0) {
    std::fprintf(stderr, "unexpected message: %.*s\n", static_cast<int>(text.size()), text.data());
  }
}

void Storm::on_closed(Client& c, const std::string& why) {
  const std::uint64_t now = now_ns();
  if (is_publisher(c)) {
    if (!restarting() || phase_ == Phase::connecting) return abort("publisher: " + why);
    const bool was_open = publisher_ != nullptr;
    publisher_ = nullptr;
    if (was_open) {
      ++publisher_drops_;
      unconfirmed_ = sent_ - acked_ - publish_errors_;  // never answered: stored or not, nobody knows
    }
    return retry_later(c, !was_open, now);
  }
  if (phase_ == Phase::connecting) return abort("subscriber " + std::to_string(c.index()) + ": " + why);
  Subscriber& s = subs_[c.index()];
  const bool failed_attempt = !s.subscribed;
  ++(failed_attempt ? reconnect_failures_ : drops_);  // a reconnect failed, or the server dropped it
  s.subscribed = false;
  if (phase_ == Phase::reconnecting && s.back) {
    // Back on a server that then went (a restart that had not stopped it yet): not back after all.
    s.back = false;
    --back_;
  }
  retry_later(c, failed_attempt, now);
}

// After the poll (a connect that fails at once would recurse): at once after
// a drop, later after a failed attempt (the server may be down for a while).
void Storm::retry_later(Client& c, bool failed_attempt, std::uint64_t now) {
  std::uint64_t& delay = retry_ns_[c.index()];
  std::uint64_t when = now;
  if (failed_attempt) {
    delay = delay == 0 ? kFirstRetryNs : std::min(delay * 2, kMaxRetryNs);
    when += delay;
  }
  to_reconnect_.emplace_back(when, &c);
}

void Storm::reconnect_due(std::uint64_t now) {
  std::size_t kept = 0;
  for (const auto& [when, c] : to_reconnect_) {
    if (when <= now) {
      pool_.reconnect(*c);
    } else {
      to_reconnect_[kept++] = {when, c};
    }
  }
  to_reconnect_.resize(kept);
}

void Storm::queue_publish(std::uint64_t now) {
  encode_payload(payload_, o_.payload, {PayloadKind::data, ++sent_, now});
  message_ = "{\"op\":\"publish\",\"id\":" + std::to_string(sent_) + ",\"topic\":" + util::quoted(o_.topic) +
             ",\"data\":" + payload_ + '}';
  publisher_->queue_text(message_);
}

void Storm::publish_due(std::uint64_t now) {
  if (!publisher_) return;
  if (now > next_publish_ns_ + 1'000'000'000) next_publish_ns_ = now;  // the loop was held up: no burst
  bool queued = false;
  while (next_publish_ns_ <= now) {
    queue_publish(now);
    next_publish_ns_ += interval_ns_;
    queued = true;
  }
  if (queued) pool_.flush(*publisher_);
  if (sent_ - acked_ - publish_errors_ - unconfirmed_ > kMaxUnacknowledged) {
    abort("the server acknowledged none of the last " + std::to_string(kMaxUnacknowledged) + " publishes");
  }
}

// Every subscriber at once, each with a reset; they reconnect at once (as
// many handshakes at a time as --connect-concurrency allows). One event is
// published just before: nothing is read until the cut, so every subscriber
// misses at least that one and its resume must replay it. --restart-cmd:
// the command runs instead and the server's going cuts the connections.
void Storm::cut_all(std::uint64_t now) {
  if (publisher_) {
    queue_publish(now);
    pool_.flush(*publisher_);
  }
  cut_ns_ = now;
  ++cuts_done_;
  back_ = 0;
  if (restarting()) {
    for (Subscriber& s : subs_) s.back = false;
    std::string why;
    if (!restart_.start(why)) abort(why);
    phase_ = Phase::reconnecting;
    return;
  }
  for (std::size_t i = 0; i < subs_.size(); ++i) {
    pool_.cut(pool_.at(i));
    subs_[i].subscribed = false;
    subs_[i].back = false;
  }
  to_reconnect_.clear();  // those are reconnected here
  for (std::size_t i = 0; i < subs_.size(); ++i) pool_.reconnect(pool_.at(i));
  phase_ = Phase::reconnecting;
}

// --restart-cmd: true once the command ended well; aborts the run if it failed.
bool Storm::restart_done(std::uint64_t now) {
  if (!restarting() || !restart_.running()) return true;
  const std::optional<int> status = restart_.poll();
  if (!status) return false;
  restart_max_ns_ = std::max(restart_max_ns_, now - cut_ns_);
  if (*status != 0) abort("--restart-cmd exited with status " + std::to_string(*status));
  return *status == 0;
}

bool Storm::drained() const {
  if (publisher_ == nullptr || sent_ != acked_ + publish_errors_ + unconfirmed_) return false;
  return std::all_of(subs_.begin(), subs_.end(),
                     [&](const Subscriber& s) { return s.subscribed && s.last >= last_offset_; });
}

// Per subscriber: what it should have had (first_offset_..last_offset_) and did not.
std::uint64_t Storm::lost() const {
  if (first_offset_ == 0) return 0;
  const std::uint64_t expected = last_offset_ - first_offset_ + 1;
  std::uint64_t lost = 0;
  for (const Subscriber& s : subs_) {
    if (s.first == 0) {
      lost += expected;
      continue;
    }
    lost += (s.first > first_offset_ ? s.first - first_offset_ : 0) + s.gaps +
            (s.last < last_offset_ ? last_offset_ - s.last : 0);
  }
  return lost;
}

int Storm::run() {
  connect_deadline_ = now_ns() + connect_ns_;
  interval_ns_ = static_cast<std::uint64_t>(1e9 / o_.rate);
  pool_.open(o_.connections, o_.connect_concurrency);
  while (phase_ != Phase::done) {
    pool_.poll(phase_ == Phase::connecting ? 50 : 1);
    const std::uint64_t now = now_ns();
    if (!to_reconnect_.empty()) reconnect_due(now);
    step(now);
    static constexpr const char* kPhaseNames[] = {"connecting", "warm-up", "reconnecting", "resumed", "draining",
                                                  "done"};
    progress_.update(now, kPhaseNames[static_cast<int>(phase_)], deliveries_, unexpected_ + drops_);
  }
  window_.stop(now_ns());
  progress_.finish();
  if (!error_.empty()) {
    std::fprintf(stderr, "storm: %s\n", error_.c_str());
    return 1;
  }
  return report();
}

void Storm::step(std::uint64_t now) {
  switch (phase_) {
    case Phase::connecting:
      return connecting_step(now);
    case Phase::warmup:
      return warmup_step(now);
    case Phase::reconnecting:
      return reconnecting_step(now);
    case Phase::resumed:
      return resumed_step(now);
    case Phase::draining:
      return draining_step(now);
    case Phase::done:
      return;
  }
}

void Storm::connecting_step(std::uint64_t now) {
  if (subscribed_ == o_.connections && !publisher_opened_) {
    publisher_opened_ = true;
    pool_.open(1, 1);  // the publisher, once every subscriber is in
  }
  if (publisher_) {
    phase_ = Phase::warmup;
    phase_end_ = now + static_cast<std::uint64_t>(o_.warmup * 1e9);
    next_publish_ns_ = now;
  } else if (now > connect_deadline_) {
    abort("start-up timed out: " + std::to_string(pool_.open_count()) + " open, " + std::to_string(subscribed_) +
          " subscribed");
  }
}

void Storm::warmup_step(std::uint64_t now) {
  publish_due(now);
  if (now >= phase_end_ && first_offset_ != 0) {  // a cut needs a position to resume from
    window_.start(now);
    cut_all(now);
  } else if (now >= phase_end_ + stall_ns_) {
    abort("no publish was acknowledged (" + std::to_string(publish_errors_) + " refused)");
  }
}

void Storm::reconnecting_step(std::uint64_t now) {
  publish_due(now);
  if (restart_done(now) && back_ == o_.connections) {
    for (const Subscriber& s : subs_) back_time_.record(s.back_ns);
    phase_ = Phase::resumed;
    phase_end_ = now + spacing_ns_;
  } else if (now - cut_ns_ > connect_ns_) {
    abort("only " + std::to_string(back_) + " of " + std::to_string(o_.connections) + " subscribers were back " +
          std::to_string(o_.connect_timeout) + " s after " + (restarting() ? "restart " : "cut ") +
          std::to_string(cuts_done_) + (restart_.running() ? " (--restart-cmd still running)" : ""));
  }
}

void Storm::resumed_step(std::uint64_t now) {
  publish_due(now);
  if (now < phase_end_) return;
  if (cuts_done_ < o_.cuts) {
    cut_all(now);
  } else {
    phase_ = Phase::draining;  // the publisher stops; what was published must arrive
    drain_progress_ns_ = now;
    drain_marker_ = deliveries_ + acked_ + publish_errors_;
  }
}

void Storm::draining_step(std::uint64_t now) {
  if (now < next_scan_) return;
  next_scan_ = now + kDrainScanNs;
  if (drained()) {
    phase_ = Phase::done;
  } else if (deliveries_ + acked_ + publish_errors_ != drain_marker_) {
    drain_marker_ = deliveries_ + acked_ + publish_errors_;
    drain_progress_ns_ = now;
  } else if (now - drain_progress_ns_ > stall_ns_) {
    phase_ = Phase::done;  // what is missing now is lost: report() counts it
  }
}

int Storm::report() {
  std::uint64_t duplicates = 0;
  for (const Subscriber& s : subs_) duplicates += s.duplicates;
  const std::uint64_t lost = this->lost();
  ResultLine result(o_);
  result.add("topic", o_.topic)
      .add("rate", o_.rate, 0)
      .add("cuts", static_cast<std::uint64_t>(cuts_done_))
      .add("restarts", static_cast<std::uint64_t>(restarting() ? cuts_done_ : 0))
      .add("restart_max_ms", static_cast<double>(restart_max_ns_) / 1e6, 2)
      .add("reconnected", static_cast<std::uint64_t>(back_))
      .add("back_p50_ms", static_cast<double>(back_time_.quantile(0.50)) / 1e6, 2)
      .add("back_max_ms", static_cast<double>(back_time_.max()) / 1e6, 2)
      .add("published", acked_)
      .add("publish_errors", publish_errors_)
      .add("unconfirmed", unconfirmed_)
      .add("publisher_drops", publisher_drops_)
      .add("deliveries", deliveries_)
      .add("replayed", replayed_)
      .add("lost", lost)
      .add("duplicates", duplicates)
      .add("not_recovered", not_recovered_)
      .add("drops", drops_)
      .add("reconnect_failures", reconnect_failures_)
      .add("unexpected", unexpected_)
      .add(window_);
  result.print();
  const bool clean = lost == 0 && duplicates == 0 && back_ == o_.connections && not_recovered_ == 0 &&
                     unexpected_ == 0 && acked_ > 0;
  if (!clean) std::fprintf(stderr, "storm: events were lost or duplicated, or not every subscriber came back\n");
  if (restarting() && not_recovered_ != 0) {
    std::fprintf(stderr, "storm: the server lost the topic's history across the restart (Sluice: use a durable "
                         "store, --store sqlite)\n");
  }
  return clean ? 0 : 1;
}

}  // namespace

int run_storm(const Options& options) { return Storm(options).run(); }

}  // namespace sluice::bench
