// Fan-out: N subscribers (spread over several servers with --sub-url, and
// over --threads load threads, each with its own epoll loop), one publisher.
// The publisher keeps at most `in_flight` messages ahead of the slowest
// subscriber, so the server is always busy but no queue grows without bound;
// each payload carries its send time, and every delivery's latency is
// recorded. After the window the publisher stops and the run waits until
// every subscriber has every message, so `deliveries_total` is exactly
// subscribers × `published` unless a message was lost.
//
// Start-up is synchronised by readiness, not by sleeping: (Sluice) every
// subscriber's subscribe is acknowledged before the publisher connects; then
// the publisher sends "sync" payloads until every subscriber has seen one
// (a broadcast server may register a connection only after its handshake
// completed), and only then the measured stream starts.
//
// Threads: the publisher lives on load thread 0 with that thread's share of
// the subscribers. Each thread counts deliveries, latency and order in its
// own tally (merged at the end) and publishes only how far all of its
// subscribers got (FanoutShared); the publisher reads the slowest thread's.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "client_pool.hpp"
#include "fanout_shared.hpp"
#include "histogram.hpp"
#include "load_threads.hpp"
#include "payload.hpp"
#include "report.hpp"
#include "scenarios.hpp"
#include "subscribe.hpp"

namespace sluice::bench {

namespace {

constexpr std::uint64_t kSyncResendNs = 200'000'000;
constexpr std::uint64_t kLagEdges[] = {16, 32, 64, 128, 256, 512};  // --lag-report's ranges

// What one load thread counted; the threads' tallies are added up at the end.
struct FanoutTally {
  std::uint64_t deliveries = 0;        // data, in the measured window
  std::uint64_t deliveries_total = 0;  // data, the whole run
  std::uint64_t reads_in_window = 0;
  std::uint64_t out_of_order = 0, unexpected = 0;
  std::uint64_t lag[std::size(kLagEdges) + 1] = {};  // subscribers per lag range when the window closed
  LatencyHistogram latency;

  void add(const FanoutTally& t) {
    deliveries += t.deliveries;
    deliveries_total += t.deliveries_total;
    reads_in_window += t.reads_in_window;
    out_of_order += t.out_of_order;
    unexpected += t.unexpected;
    for (std::size_t i = 0; i < std::size(lag); ++i) lag[i] += t.lag[i];
    latency.merge(t.latency);
  }
};

// The publisher's figures (load thread 0).
struct PublisherTally {
  std::uint64_t opened_ns = 0;  // the publisher's connection opened (every subscriber in)
  std::uint64_t published = 0, published_in_window = 0;  // data messages
  std::uint64_t syncs = 0;  // sync payloads published before the stream (each an event to Sluice too)
  std::uint64_t in_flight_sum = 0, in_flight_samples = 0;  // sampled before each pump in the window
  std::uint64_t sent_at_window_end = 0;
  std::size_t unsent_bytes_at_window_end = 0;
};

class FanoutThread final : public LoadThread, private ClientEvents {
 public:
  /// Subscribers first .. first + subscribers - 1; thread 0 also runs the publisher.
  FanoutThread(const Options& o, FanoutShared& shared, std::size_t thread, std::size_t first,
               std::size_t subscribers);

  void run(const WindowClock& clock) override;

  FanoutTally tally;           // read once run() returned
  PublisherTally publisher;    // thread 0's; read once run() returned

 private:
  enum class Phase { subscribing, opening, syncing, streaming, draining, done };

  bool has_publisher() const { return thread_ == 0; }
  bool is_publisher(const Client& c) const { return has_publisher() && c.index() == subscribers_; }
  void on_open(Client& c) override;
  void on_message(Client& c, protocol::MessageType type, std::span<const std::uint8_t> payload,
                  std::uint64_t received_ns) override;
  void on_closed(Client& c, const std::string& why) override;
  void on_centrifugo_frame(Client& c, std::string_view frame, std::uint64_t received_ns);
  void on_payload(Client& c, std::string_view text, std::string_view payload, std::uint64_t received_ns);
  void on_subscribed();
  void on_data(Client& c, std::uint64_t seq, std::uint64_t sent_ns, std::uint64_t received_ns);
  void unexpected(std::string_view text);
  void follow_window(std::uint64_t now);
  bool step_publisher(std::uint64_t now);
  void publish(PayloadKind kind, std::uint64_t seq, std::uint64_t now);
  void pump(std::uint64_t now);
  void abort(const std::string& why) {
    if (error.empty()) error = why;
  }

  const Options& o_;
  FanoutShared& shared_;
  std::size_t thread_, first_, subscribers_;
  ClientPool pool_;
  const WindowClock* clock_ = nullptr;
  std::size_t subscribed_ = 0, synced_count_ = 0;
  std::vector<std::uint64_t> last_seq_;  // per subscriber: last data seq received
  std::vector<char> synced_;             // per subscriber: a sync payload arrived
  std::uint64_t complete_ = 0;           // each of this thread's subscribers has seq 1..complete_
  std::vector<std::uint32_t> ring_;      // deliveries of seq s here, at s & ring_mask_
  std::uint64_t ring_mask_ = 0;
  bool window_seen_ = false, over_seen_ = false;
  std::uint64_t reads_at_start_ = 0;
  // The publisher (thread 0).
  Phase phase_ = Phase::subscribing;
  Client* publisher_ = nullptr;
  std::uint64_t connect_deadline_ = 0;
  std::uint64_t sync_seq_ = 0, sync_sent_ns_ = 0;
  std::uint64_t sent_ = 0;           // data messages published: seq 1..sent_
  std::uint64_t seen_complete_ = 0;  // shared_.complete() when last looked at
  std::uint64_t progress_ns_ = 0;    // when it last moved
  std::string payload_, message_;
};

FanoutThread::FanoutThread(const Options& o, FanoutShared& shared, std::size_t thread, std::size_t first,
                           std::size_t subscribers)
    : o_(o),
      shared_(shared),
      thread_(thread),
      first_(first),
      subscribers_(subscribers),
      pool_(target_of(o), *this),
      last_seq_(subscribers, 0),
      synced_(subscribers, 0) {
  for (const auto& target : o.subscriber_targets) pool_.add_target(target);
  if (!o.subscriber_targets.empty()) {  // target 0 (--url) is the publisher's
    const std::size_t targets = o.subscriber_targets.size();
    pool_.set_target_choice([targets, first, subscribers](std::size_t index) {
      return index < subscribers ? 1 + (first + index) % targets : 0;
    });
  }
  std::size_t ring = 1;
  while (ring < 2 * o.in_flight) ring <<= 1;
  ring_.assign(ring, 0);
  ring_mask_ = ring - 1;
}

void FanoutThread::on_open(Client& c) {
  if (is_publisher(c)) {
    publisher_ = &c;
    phase_ = Phase::syncing;
    publisher.opened_ns = now_ns();
    if (o_.protocol == Protocol::centrifugo) c.queue_text("{\"id\":1,\"connect\":{}}");
    return;
  }
  if (o_.protocol == Protocol::broadcast) return on_subscribed();  // a broadcast server has nothing to subscribe to
  // Centrifugo: both commands in one frame, as the SDK sends them; both replies come in one frame too.
  c.queue_text(subscribe_request(o_.protocol, o_.topic));
}

void FanoutThread::on_subscribed() {
  shared_.progress(thread_).subscribed.store(++subscribed_, std::memory_order_relaxed);
}

void FanoutThread::unexpected(std::string_view text) {
  if (tally.unexpected++ == 0) {
    std::fprintf(stderr, "unexpected message: %.*s\n", static_cast<int>(text.size()), text.data());
  }
}

void FanoutThread::on_message(Client& c, protocol::MessageType, std::span<const std::uint8_t> bytes,
                              std::uint64_t received_ns) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (o_.protocol == Protocol::centrifugo) return on_centrifugo_frame(c, text, received_ns);
  if (is_publisher(c)) return;  // Sluice acks its publishes; nothing to check
  std::string_view payload = text;
  if (o_.protocol == Protocol::sluice) {
    if (text.starts_with("{\"type\":\"ack\"")) return on_subscribed();
    // An event ends with ..."data":<payload>}}: the payload is the JSON string before the "}}".
    if (!text.starts_with("{\"type\":\"event\"") || text.size() < o_.payload + 2 || !text.ends_with("}}")) {
      return unexpected(text);
    }
    payload = text.substr(text.size() - 2 - o_.payload, o_.payload);
  } else if (payload.starts_with(o_.message_prefix)) {
    payload.remove_prefix(o_.message_prefix.size());
  }
  on_payload(c, text, payload, received_ns);
}

// Replies and pushes, one per line: {} is a ping (answered), a reply with
// "subscribe" completes the subscription, a push carries
// {"push":{"channel":..,"pub":{"data":<payload>,"offset":N}}}.
void FanoutThread::on_centrifugo_frame(Client& c, std::string_view frame, std::uint64_t received_ns) {
  static constexpr std::string_view kData = "\"pub\":{\"data\":";
  while (!frame.empty()) {
    const std::size_t end = frame.find('\n');
    const std::string_view line = frame.substr(0, end);
    frame = end == std::string_view::npos ? std::string_view() : frame.substr(end + 1);
    if (line == "{}") {
      c.queue_text("{}");
      pool_.flush(c);
    } else if (line.starts_with("{\"id\":")) {
      if (line.find("\"error\"") != std::string_view::npos) {
        abort("the server answered: " + std::string(line.substr(0, 200)));
      } else if (!is_publisher(c) && line.find("\"subscribe\":") != std::string_view::npos) {
        on_subscribed();
      }
    } else if (const std::size_t at = line.find(kData); at != std::string_view::npos && !is_publisher(c)) {
      on_payload(c, line, line.substr(at + kData.size(), o_.payload), received_ns);
    } else if (!line.starts_with("{\"push\":")) {
      unexpected(line);
    }
  }
}

void FanoutThread::on_payload(Client& c, std::string_view text, std::string_view payload, std::uint64_t received_ns) {
  const auto fields = decode_payload(payload);
  if (!fields) return unexpected(text);
  if (fields->kind == PayloadKind::sync) {
    if (!synced_[c.index()]) {
      synced_[c.index()] = 1;
      shared_.progress(thread_).synced.store(++synced_count_, std::memory_order_relaxed);
      if (synced_count_ == subscribers_ && !has_publisher()) ready.store(true);
    }
    return;
  }
  on_data(c, fields->seq, fields->sent_ns, received_ns);
}

// The hot path: once per delivery, on this thread's own state only.
void FanoutThread::on_data(Client& c, std::uint64_t seq, std::uint64_t sent_ns, std::uint64_t received_ns) {
  std::uint64_t& last = last_seq_[c.index()];
  if (seq != last + 1) ++tally.out_of_order;
  last = seq;
  ++tally.deliveries_total;
  if (clock_->measuring(received_ns)) {
    ++tally.deliveries;
    tally.latency.record(received_ns - sent_ns);
  }
  // The publisher is never more than in_flight ahead of complete_: anything
  // beyond the ring is not ours (and already counted as out of order).
  if (seq <= complete_ || seq > complete_ + ring_.size()) return;
  if (++ring_[seq & ring_mask_] < subscribers_ || seq != complete_ + 1) return;
  // Every subscriber here has this one: advance past it and past any later ones already complete.
  while (ring_[(complete_ + 1) & ring_mask_] == subscribers_) {
    ring_[(complete_ + 1) & ring_mask_] = 0;
    ++complete_;
  }
  shared_.completed(thread_, complete_, !has_publisher());
}

void FanoutThread::on_closed(Client& c, const std::string& why) {
  abort((is_publisher(c) ? "publisher: " : "subscriber " + std::to_string(first_ + c.index()) + ": ") + why);
}

void FanoutThread::publish(PayloadKind kind, std::uint64_t seq, std::uint64_t now) {
  encode_payload(payload_, o_.payload, {kind, seq, now});
  if (o_.protocol == Protocol::sluice) {
    message_ = "{\"op\":\"publish\",\"id\":" + std::to_string(seq) + ",\"topic\":\"" + o_.topic + "\",\"data\":";
    message_ += payload_;
    message_ += '}';
    publisher_->queue_text(message_);
  } else if (o_.protocol == Protocol::centrifugo) {
    message_ = "{\"id\":" + std::to_string(seq + 2) + ",\"publish\":{\"channel\":\"" + o_.topic + "\",\"data\":";
    message_ += payload_;
    message_ += "}}";
    publisher_->queue_text(message_);
  } else if (!o_.message_prefix.empty()) {
    message_ = o_.message_prefix;
    message_ += payload_;
    publisher_->queue_text(message_);
  } else {
    publisher_->queue_text(payload_);
  }
}

// Streaming: tops the stream up to in_flight ahead of the slowest subscriber.
void FanoutThread::pump(std::uint64_t now) {
  std::uint64_t complete = seen_complete_;
  const bool measuring = clock_->measuring(now);
  if (measuring) {
    publisher.in_flight_sum += sent_ - complete;
    ++publisher.in_flight_samples;
  }
  bool queued = false;
  for (;;) {
    while (sent_ - complete < o_.in_flight) {
      publish(PayloadKind::data, ++sent_, now);
      if (measuring) ++publisher.published_in_window;
      queued = true;
    }
    // Sleep until another thread's subscribers catch up; while this thread's
    // own lag behind, their deliveries wake this loop anyway.
    if (o_.threads == 1 || complete_ < sent_ || shared_.publisher_may_sleep(complete)) break;
    complete = shared_.complete();
  }
  if (!queued) return;
  shared_.sent.store(sent_, std::memory_order_relaxed);
  pool_.flush(*publisher_);
}

// The publisher's part of a loop turn; false once it is done (every
// subscriber has every message published) or failed.
bool FanoutThread::step_publisher(std::uint64_t now) {
  if (phase_ <= Phase::syncing && now > connect_deadline_) {
    abort("start-up timed out: " + std::to_string(shared_.subscribed()) + " of " + std::to_string(o_.connections) +
          " subscribed, " + std::to_string(shared_.synced()) + " synced");
    return false;
  }
  if (phase_ == Phase::subscribing && shared_.subscribed() == o_.connections) {
    phase_ = Phase::opening;
    pool_.open(1, 1);  // the publisher, once every subscriber is in
  }
  if (phase_ == Phase::syncing) {
    if (shared_.synced() == o_.connections) {
      phase_ = Phase::streaming;
      progress_ns_ = now;
      ready.store(true);  // the warm-up starts: the stream does now
    } else if (sync_sent_ns_ == 0 || now - sync_sent_ns_ > kSyncResendNs) {
      publish(PayloadKind::sync, ++sync_seq_, now);
      publisher.syncs = sync_seq_;
      sync_sent_ns_ = now;
      pool_.flush(*publisher_);
    }
  }
  if (phase_ < Phase::streaming) return true;
  const std::uint64_t complete = shared_.complete();
  if (complete != seen_complete_) {
    seen_complete_ = complete;
    progress_ns_ = now;
  }
  if (phase_ == Phase::streaming && clock_->over(now)) {
    phase_ = Phase::draining;  // nothing new; wait until every subscriber has what was sent
    publisher.sent_at_window_end = sent_;
    publisher.unsent_bytes_at_window_end = publisher_->pending_bytes();
    shared_.sent.store(sent_, std::memory_order_relaxed);
    shared_.publishing_over.store(true, std::memory_order_release);
  }
  if (phase_ == Phase::streaming) pump(now);
  if (phase_ == Phase::draining && complete >= sent_) {
    publisher.published = sent_;
    phase_ = Phase::done;
    return false;
  }
  if (complete < sent_ && now - progress_ns_ > static_cast<std::uint64_t>(o_.stall_timeout * 1e9)) {
    abort("stalled: no message reached every subscriber for " + std::to_string(o_.stall_timeout) + " s (sent " +
          std::to_string(sent_) + ", complete " + std::to_string(complete) + ")");
    return false;
  }
  return true;
}

// Notes this thread's reads in the window, and (--lag-report) where its
// subscribers stand when it closes.
void FanoutThread::follow_window(std::uint64_t now) {
  if (!window_seen_ && clock_->measuring(now)) {
    window_seen_ = true;
    reads_at_start_ = pool_.reads();
  }
  if (over_seen_ || !clock_->over(now)) return;
  over_seen_ = true;
  if (window_seen_) tally.reads_in_window = pool_.reads() - reads_at_start_;
  const std::uint64_t sent = shared_.sent.load(std::memory_order_relaxed);
  for (const std::uint64_t last : last_seq_) {
    std::size_t bucket = 0;
    while (bucket < std::size(kLagEdges) && sent - std::min(last, sent) >= kLagEdges[bucket]) ++bucket;
    ++tally.lag[bucket];
  }
}

void FanoutThread::run(const WindowClock& clock) {
  clock_ = &clock;
  connect_deadline_ = now_ns() + static_cast<std::uint64_t>(o_.connect_timeout * 1e9);
  if (has_publisher() && o_.threads > 1) pool_.watch_wakeup(shared_.wakeup);
  // --connect-concurrency is for the whole run: each thread takes its share.
  pool_.open(subscribers_, std::max<std::size_t>(1, o_.connect_concurrency / o_.threads));
  while (error.empty() && !clock.stop.load(std::memory_order_relaxed)) {
    pool_.poll(ready.load(std::memory_order_relaxed) || publisher_ ? 5 : 50);
    const std::uint64_t now = now_ns();
    count.store(tally.deliveries_total, std::memory_order_relaxed);
    errors.store(tally.out_of_order + tally.unexpected, std::memory_order_relaxed);
    follow_window(now);
    if (has_publisher()) {
      if (!step_publisher(now)) return;
    } else if (shared_.publishing_over.load(std::memory_order_acquire) &&
               complete_ >= shared_.sent.load(std::memory_order_relaxed)) {
      return;  // every message published reached every subscriber here
    }
  }
}

// Where the in-flight messages were: how far subscribers were behind the
// publisher when the window closed (stderr; a diagnostic, see --lag-report).
void report_lag(const FanoutTally& total, const PublisherTally& publisher) {
  std::fprintf(stderr, "lag behind the publisher (sent %llu, unsent bytes %zu), subscribers per range:",
               static_cast<unsigned long long>(publisher.sent_at_window_end), publisher.unsent_bytes_at_window_end);
  for (std::size_t i = 0; i <= std::size(kLagEdges); ++i) {
    if (i < std::size(kLagEdges)) {
      std::fprintf(stderr, " <%llu: %llu", static_cast<unsigned long long>(kLagEdges[i]),
                   static_cast<unsigned long long>(total.lag[i]));
    } else {
      std::fprintf(stderr, " more: %llu\n", static_cast<unsigned long long>(total.lag[i]));
    }
  }
}

}  // namespace

int run_fanout(const Options& o) {
  const std::uint64_t started = now_ns();
  FanoutShared shared(o.threads);
  std::vector<std::unique_ptr<FanoutThread>> threads;
  std::vector<LoadThread*> load;
  for (std::size_t t = 0, first = 0; t < o.threads; ++t) {
    const std::size_t share = share_of(o.connections, o.threads, t);
    threads.push_back(std::make_unique<FanoutThread>(o, shared, t, first, share));
    load.push_back(threads.back().get());
    first += share;
  }
  MeasuredWindow window(o.server_pid);
  ProgressLine progress(o.progress, "deliveries");
  std::uint64_t all_ready = 0;
  if (const std::string failure = run_load_threads(load, o, window, progress, all_ready); !failure.empty()) {
    std::fprintf(stderr, "fanout: %s\n", failure.c_str());
    return 1;
  }
  FanoutTally total;
  for (const auto& t : threads) total.add(t->tally);
  const PublisherTally& publisher = threads.front()->publisher;
  if (o.lag_report) report_lag(total, publisher);
  const std::uint64_t expected = publisher.published * o.connections;
  const std::uint64_t lost = expected > total.deliveries_total ? expected - total.deliveries_total : 0;
  const double seconds = window.seconds();
  ResultLine result(o);
  result.add("in_flight", static_cast<std::uint64_t>(o.in_flight))
      .add("connect_s", static_cast<double>(publisher.opened_ns - started) / 1e9, 2)
      .add("deliveries", total.deliveries)
      .add("rate", static_cast<double>(total.deliveries) / seconds, 0)
      .add("publishes_per_s", static_cast<double>(publisher.published_in_window) / seconds, 0)
      .add("p50_us", static_cast<double>(total.latency.quantile(0.50)) / 1e3)
      .add("p99_us", static_cast<double>(total.latency.quantile(0.99)) / 1e3)
      .add("p999_us", static_cast<double>(total.latency.quantile(0.999)) / 1e3)
      .add("max_us", static_cast<double>(total.latency.max()) / 1e3)
      .add("mean_in_flight", publisher.in_flight_samples ? static_cast<double>(publisher.in_flight_sum) /
                                                               static_cast<double>(publisher.in_flight_samples)
                                                         : 0.0)
      .add("per_read", total.reads_in_window ? static_cast<double>(total.deliveries) /
                                                   static_cast<double>(total.reads_in_window)
                                             : 0.0)
      .add("out_of_order", total.out_of_order)
      .add("unexpected", total.unexpected)
      .add("published", publisher.published)
      .add("syncs", publisher.syncs)
      .add("deliveries_total", total.deliveries_total)
      .add("lost", lost)
      .add(window);
  result.print();
  if (lost > 0) std::fprintf(stderr, "fanout: %llu deliveries lost\n", static_cast<unsigned long long>(lost));
  return total.out_of_order == 0 && total.unexpected == 0 && lost == 0 ? 0 : 1;
}

}  // namespace sluice::bench
