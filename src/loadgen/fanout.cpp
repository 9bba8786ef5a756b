// Fan-out: N subscribers (spread over several servers with --sub-url), one
// publisher. The publisher keeps at most
// `in_flight` messages ahead of the slowest subscriber, so the server is
// always busy but no queue grows without bound; each payload carries its send
// time, and every delivery's latency is recorded.
//
// Start-up is synchronised by readiness, not by sleeping: (Sluice) every
// subscriber's subscribe is acknowledged before the publisher connects; then
// the publisher sends "sync" payloads until every subscriber has seen one
// (a broadcast server may register a connection only after its handshake
// completed), and only then the measured stream starts.
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "client_pool.hpp"
#include "histogram.hpp"
#include "payload.hpp"
#include "report.hpp"
#include "scenarios.hpp"

namespace sluice::bench {

namespace {

constexpr std::uint64_t kSyncResendNs = 200'000'000;

class Fanout final : public ClientEvents {
 public:
  explicit Fanout(const Options& o)
      : o_(o),
        pool_(target_of(o), *this),
        window_(o.server_pid),
        progress_(o.progress, "deliveries"),
        last_seq_(o.connections, 0),
        synced_(o.connections, 0) {
    for (const auto& target : o.subscriber_targets) pool_.add_target(target);
    if (!o.subscriber_targets.empty()) {  // target 0 (--url) is the publisher's
      const std::size_t targets = o.subscriber_targets.size(), subscribers = o.connections;
      pool_.set_target_choice(
          [targets, subscribers](std::size_t index) { return index < subscribers ? 1 + index % targets : 0; });
    }
    std::size_t ring = 1;
    while (ring < 2 * o.in_flight) ring <<= 1;
    ring_.assign(ring, 0);
    ring_mask_ = ring - 1;
  }

  int run();

 private:
  enum class Phase { connecting, syncing, warmup, measuring, done };

  bool is_publisher(const Client& c) const { return c.index() == o_.connections; }
  void on_open(Client& c) override;
  void on_message(Client& c, protocol::MessageType type, std::span<const std::uint8_t> payload,
                  std::uint64_t received_ns) override;
  void on_closed(Client& c, const std::string& why) override;
  void on_centrifugo_frame(Client& c, std::string_view frame, std::uint64_t received_ns);
  void on_payload(Client& c, std::string_view text, std::string_view payload, std::uint64_t received_ns);
  void on_subscribed();
  void on_data(Client& c, std::uint64_t seq, std::uint64_t sent_ns, std::uint64_t received_ns);
  void publish(PayloadKind kind, std::uint64_t seq, std::uint64_t now);
  void pump(std::uint64_t now);
  void report_lag() const;
  void abort(const std::string& why) {
    if (error_.empty()) error_ = why;
    phase_ = Phase::done;
  }

  Options o_;
  ClientPool pool_;
  MeasuredWindow window_;
  ProgressLine progress_;
  Phase phase_ = Phase::connecting;
  Client* publisher_ = nullptr;
  std::size_t subscribed_ = 0;
  std::size_t synced_count_ = 0;
  std::uint64_t sync_seq_ = 0;
  std::uint64_t sync_sent_ns_ = 0;
  std::vector<std::uint64_t> last_seq_;  // per subscriber: last data seq received
  std::vector<char> synced_;             // per subscriber: a sync payload arrived
  std::uint64_t sent_ = 0;               // data messages published: seq 1..sent_
  std::uint64_t complete_ = 0;           // every subscriber has seq 1..complete_
  std::vector<std::uint32_t> ring_;      // deliveries of seq s, at s & ring_mask_
  std::uint64_t ring_mask_ = 0;
  std::uint64_t progress_ns_ = 0;        // last time complete_ moved
  std::uint64_t phase_end_ns_ = 0;
  std::uint64_t deliveries_ = 0;         // in the measured window
  std::uint64_t all_deliveries_ = 0;     // since the start (the progress line)
  std::uint64_t published_in_window_ = 0;
  std::uint64_t reads_at_start_ = 0, reads_in_window_ = 0;
  std::uint64_t in_flight_sum_ = 0, in_flight_samples_ = 0;  // sampled before each pump
  std::uint64_t out_of_order_ = 0;
  std::uint64_t unexpected_ = 0;
  LatencyHistogram latency_;
  std::string payload_, message_;
  std::string error_;
};

void Fanout::on_open(Client& c) {
  if (is_publisher(c)) {
    publisher_ = &c;
    phase_ = Phase::syncing;
    if (o_.protocol == Protocol::centrifugo) c.queue_text("{\"id\":1,\"connect\":{}}");
    return;
  }
  if (o_.protocol == Protocol::sluice) {
    c.queue_text("{\"op\":\"subscribe\",\"id\":" + std::to_string(c.index()) + ",\"topic\":\"" + o_.topic + "\"}");
  } else if (o_.protocol == Protocol::centrifugo) {
    // Both commands in one frame, as the SDK sends them; both replies come in one frame too.
    c.queue_text("{\"id\":1,\"connect\":{}}\n{\"id\":2,\"subscribe\":{\"channel\":\"" + o_.topic + "\"}}");
  } else {
    on_subscribed();  // a broadcast server has nothing to subscribe to
  }
}

void Fanout::on_subscribed() {
  if (++subscribed_ == o_.connections) pool_.open(1, 1);  // the publisher, once every subscriber is in
}

void Fanout::on_message(Client& c, protocol::MessageType, std::span<const std::uint8_t> bytes,
                        std::uint64_t received_ns) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (o_.protocol == Protocol::centrifugo) return on_centrifugo_frame(c, text, received_ns);
  if (is_publisher(c)) return;  // Sluice acks its publishes; nothing to check
  std::string_view payload = text;
  if (o_.protocol == Protocol::sluice) {
    if (text.starts_with("{\"type\":\"ack\"")) return on_subscribed();
    // An event ends with ..."data":<payload>}}: the payload is the JSON string before the "}}".
    if (!text.starts_with("{\"type\":\"event\"") || text.size() < o_.payload + 2 || !text.ends_with("}}")) {
      if (unexpected_++ == 0) std::fprintf(stderr, "unexpected message: %.*s\n", static_cast<int>(text.size()), text.data());
      return;
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
void Fanout::on_centrifugo_frame(Client& c, std::string_view frame, std::uint64_t received_ns) {
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
    } else if (!line.starts_with("{\"push\":") && unexpected_++ == 0) {
      std::fprintf(stderr, "unexpected message: %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }
}

void Fanout::on_payload(Client& c, std::string_view text, std::string_view payload, std::uint64_t received_ns) {
  const auto fields = decode_payload(payload);
  if (!fields) {
    if (unexpected_++ == 0) std::fprintf(stderr, "unexpected message: %.*s\n", static_cast<int>(text.size()), text.data());
    return;
  }
  if (fields->kind == PayloadKind::sync) {
    if (!synced_[c.index()]) {
      synced_[c.index()] = 1;
      ++synced_count_;
    }
    return;
  }
  on_data(c, fields->seq, fields->sent_ns, received_ns);
}

void Fanout::on_data(Client& c, std::uint64_t seq, std::uint64_t sent_ns, std::uint64_t received_ns) {
  std::uint64_t& last = last_seq_[c.index()];
  if (seq != last + 1) ++out_of_order_;
  last = seq;
  ++all_deliveries_;
  if (phase_ == Phase::measuring) {
    ++deliveries_;
    latency_.record(received_ns - sent_ns);
  }
  if (seq <= complete_ || seq > sent_) return;
  if (++ring_[seq & ring_mask_] < o_.connections || seq != complete_ + 1) return;
  // Every subscriber has this one: advance past it and past any later ones already complete.
  while (complete_ < sent_ && ring_[(complete_ + 1) & ring_mask_] == o_.connections) {
    ring_[(complete_ + 1) & ring_mask_] = 0;
    ++complete_;
  }
  progress_ns_ = received_ns;
}

void Fanout::on_closed(Client& c, const std::string& why) {
  abort((is_publisher(c) ? "publisher: " : "subscriber " + std::to_string(c.index()) + ": ") + why);
}

void Fanout::publish(PayloadKind kind, std::uint64_t seq, std::uint64_t now) {
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

void Fanout::pump(std::uint64_t now) {
  if (!publisher_) return;
  bool queued = false;
  if (phase_ == Phase::syncing) {
    if (synced_count_ == o_.connections) {
      phase_ = Phase::warmup;
      phase_end_ns_ = now + static_cast<std::uint64_t>(o_.warmup * 1e9);
      progress_ns_ = now;
    } else if (sync_sent_ns_ == 0 || now - sync_sent_ns_ > kSyncResendNs) {
      publish(PayloadKind::sync, ++sync_seq_, now);
      sync_sent_ns_ = now;
      queued = true;
    }
  }
  if (phase_ == Phase::warmup || phase_ == Phase::measuring) {
    if (phase_ == Phase::measuring) {
      in_flight_sum_ += sent_ - complete_;
      ++in_flight_samples_;
    }
    while (sent_ - complete_ < o_.in_flight) {
      publish(PayloadKind::data, ++sent_, now);
      if (phase_ == Phase::measuring) ++published_in_window_;
      queued = true;
    }
  }
  if (queued) pool_.flush(*publisher_);
}

// Where the in-flight messages are: how far each subscriber is behind the
// publisher when the window closes (stderr; a diagnostic, see --lag-report).
void Fanout::report_lag() const {
  static constexpr std::uint64_t kEdges[] = {16, 32, 64, 128, 256, 512};
  std::uint64_t counts[std::size(kEdges) + 1] = {};
  for (const std::uint64_t last : last_seq_) {
    std::size_t bucket = 0;
    while (bucket < std::size(kEdges) && sent_ - last >= kEdges[bucket]) ++bucket;
    ++counts[bucket];
  }
  std::fprintf(stderr, "lag behind the publisher (sent %llu, unsent bytes %zu), subscribers per range:",
               static_cast<unsigned long long>(sent_), publisher_->pending_bytes());
  for (std::size_t i = 0; i <= std::size(kEdges); ++i) {
    if (i < std::size(kEdges)) std::fprintf(stderr, " <%llu: %llu", static_cast<unsigned long long>(kEdges[i]),
                                            static_cast<unsigned long long>(counts[i]));
    else std::fprintf(stderr, " more: %llu\n", static_cast<unsigned long long>(counts[i]));
  }
}

int Fanout::run() {
  const std::uint64_t started = now_ns();
  const std::uint64_t connect_deadline = started + static_cast<std::uint64_t>(o_.connect_timeout * 1e9);
  const std::uint64_t stall_ns = static_cast<std::uint64_t>(o_.stall_timeout * 1e9);
  pool_.open(o_.connections, o_.connect_concurrency);
  std::uint64_t connected_at = 0;
  while (phase_ != Phase::done) {
    pool_.poll(phase_ == Phase::connecting ? 50 : 5);
    const std::uint64_t now = now_ns();
    if (phase_ == Phase::connecting || phase_ == Phase::syncing) {
      if (now > connect_deadline) {
        abort("start-up timed out: " + std::to_string(pool_.open_count()) + " open, " +
              std::to_string(subscribed_) + " subscribed, " + std::to_string(synced_count_) + " synced");
      }
    }
    if (phase_ == Phase::syncing && connected_at == 0) connected_at = now;
    pump(now);
    if (phase_ == Phase::warmup && now >= phase_end_ns_) {
      phase_ = Phase::measuring;
      phase_end_ns_ = now + static_cast<std::uint64_t>(o_.duration * 1e9);
      latency_.reset();
      deliveries_ = 0;
      reads_at_start_ = pool_.reads();
      window_.start(now);
    } else if (phase_ == Phase::measuring && now >= phase_end_ns_) {
      window_.stop(now);
      reads_in_window_ = pool_.reads() - reads_at_start_;
      if (o_.lag_report) report_lag();
      phase_ = Phase::done;
    }
    static constexpr const char* kPhaseNames[] = {"connecting", "syncing", "warm-up", "measuring", "done"};
    progress_.update(now, kPhaseNames[static_cast<int>(phase_)], all_deliveries_, out_of_order_ + unexpected_);
    if ((phase_ == Phase::warmup || phase_ == Phase::measuring) && now - progress_ns_ > stall_ns) {
      abort("stalled: no message reached every subscriber for " + std::to_string(o_.stall_timeout) +
            " s (sent " + std::to_string(sent_) + ", complete " + std::to_string(complete_) + ")");
    }
  }
  progress_.finish();
  if (!error_.empty()) {
    std::fprintf(stderr, "fanout: %s\n", error_.c_str());
    return 1;
  }
  const double seconds = window_.seconds();
  ResultLine result(o_);
  result.add("in_flight", static_cast<std::uint64_t>(o_.in_flight))
      .add("connect_s", static_cast<double>(connected_at - started) / 1e9, 2)
      .add("deliveries", deliveries_)
      .add("rate", static_cast<double>(deliveries_) / seconds, 0)
      .add("publishes_per_s", static_cast<double>(published_in_window_) / seconds, 0)
      .add("p50_us", static_cast<double>(latency_.quantile(0.50)) / 1e3)
      .add("p99_us", static_cast<double>(latency_.quantile(0.99)) / 1e3)
      .add("p999_us", static_cast<double>(latency_.quantile(0.999)) / 1e3)
      .add("max_us", static_cast<double>(latency_.max()) / 1e3)
      .add("mean_in_flight", in_flight_samples_ ? static_cast<double>(in_flight_sum_) / static_cast<double>(in_flight_samples_) : 0.0)
      .add("per_read", reads_in_window_ ? static_cast<double>(deliveries_) / static_cast<double>(reads_in_window_) : 0.0)
      .add("out_of_order", out_of_order_)
      .add("unexpected", unexpected_)
      .add(window_);
  result.print();
  return out_of_order_ == 0 && unexpected_ == 0 ? 0 : 1;
}

}  // namespace

int run_fanout(const Options& options) { return Fanout(options).run(); }

}  // namespace sluice::bench
