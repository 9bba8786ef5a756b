// Publish: HTTP publish rate. N keep-alive connections (spread over --threads
// load threads), each with --pipeline requests in flight: every response
// sends the next request on its connection. The same request every time on
// a connection: POST /v1/events {"topic":T,"data":<payload>} (--preset
// centrifugo: POST /api/publish {"channel":T,"data":<payload>}); with
// --topics N, connection i publishes to T.<i mod N>. Counts 2xx answers per second
// and every response's latency in the window, non-2xx answers by status, and
// connections lost (each reconnected). After the window no new request goes
// out and what is in flight is awaited, so `published` is exactly the number
// of events the server accepted.
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/util/json_text.hpp"
#include "histogram.hpp"
#include "http_pool.hpp"
#include "load_threads.hpp"
#include "payload.hpp"
#include "report.hpp"
#include "scenarios.hpp"

namespace sluice::bench {

namespace {

std::string publish_request(const Options& o, const std::string& topic) {
  std::string payload;
  encode_payload(payload, o.payload, {PayloadKind::data, 0, 0});
  const std::string body = std::string(o.protocol == Protocol::centrifugo ? "{\"channel\":" : "{\"topic\":") +
                           util::quoted(topic) + ",\"data\":" + payload + "}";
  std::string request = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
                        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : o.headers) request += name + ": " + value + "\r\n";
  return request + "\r\n" + body;
}

// What one load thread counted; the threads' tallies are added up at the end.
struct PublishTally {
  std::uint64_t responses_in_window = 0, ok_in_window = 0;
  std::uint64_t ok_total = 0;        // 2xx over the whole run: events published
  std::uint64_t api_errors = 0;      // centrifugo: 2xx with {"error":...}
  std::map<unsigned, std::uint64_t> non_2xx;  // by status, whole run
  std::uint64_t failures = 0;        // connections lost
  std::uint64_t lost_requests = 0;   // in flight on a connection that was lost
  std::uint64_t unanswered = 0;      // still in flight when the drain gave up
  LatencyHistogram latency;
  std::string first_failure;

  void add(const PublishTally& t) {
    responses_in_window += t.responses_in_window;
    ok_in_window += t.ok_in_window;
    ok_total += t.ok_total;
    api_errors += t.api_errors;
    for (const auto& [status, n] : t.non_2xx) non_2xx[status] += n;
    failures += t.failures;
    lost_requests += t.lost_requests;
    unanswered += t.unanswered;
    latency.merge(t.latency);
    if (first_failure.empty()) first_failure = t.first_failure;
  }
};

class PublishThread final : public LoadThread, private HttpEvents {
 public:
  PublishThread(const Options& o, std::size_t connections, const std::vector<std::string>& requests)
      : o_(o),
        connections_(connections),
        requests_(requests),
        pool_(target_of(o), *this),
        sent_at_(connections) {}

  void run(const WindowClock& clock) override;

  PublishTally tally;  // read once run() returned

 private:
  void send(HttpConnection& c, std::uint64_t now) {
    c.queue(requests_[c.index() % requests_.size()]);
    sent_at_[c.index()].push_back(now);
    ++in_flight_;
  }
  void on_open(HttpConnection& c) override;
  void on_response(HttpConnection& c, unsigned status, std::string_view body, std::uint64_t received_ns) override;
  void on_closed(HttpConnection& c, const std::string& why) override;

  const Options& o_;
  std::size_t connections_;
  const std::vector<std::string>& requests_;  // one per topic
  HttpPool pool_;
  const WindowClock* clock_ = nullptr;
  std::vector<std::deque<std::uint64_t>> sent_at_;  // per connection: send times of the requests in flight
  std::uint64_t in_flight_ = 0;
  std::vector<HttpConnection*> to_reconnect_;        // lost; connected again after the poll
  bool stopping_ = false;
};

void PublishThread::on_open(HttpConnection& c) {
  c.user = 0;  // responses since connected
  if (stopping_) return;
  const std::uint64_t now = now_ns();
  for (std::size_t i = 0; i < o_.pipeline; ++i) send(c, now);  // the pool flushes them
}

void PublishThread::on_response(HttpConnection& c, unsigned status, std::string_view body, std::uint64_t received_ns) {
  auto& sent = sent_at_[c.index()];
  if (sent.empty()) {  // an answer to nothing: the connection is out of step
    pool_.close(c);
    return on_closed(c, "a response to no request");
  }
  const std::uint64_t sent_ns = sent.front();
  sent.pop_front();
  --in_flight_;
  ++c.user;
  const bool success = status / 100 == 2;
  // Centrifugo's API answers errors with 200 and {"error":{...}}.
  const bool api_error =
      success && o_.protocol == Protocol::centrifugo && body.find("\"error\"") != std::string_view::npos;
  if (success && !api_error) {
    ++tally.ok_total;
  } else if (api_error) {
    ++tally.api_errors;
  } else {
    ++tally.non_2xx[status];
  }
  if (!success || api_error) errors.fetch_add(1, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
  if (clock_->measuring(received_ns)) {
    ++tally.responses_in_window;
    if (success && !api_error) ++tally.ok_in_window;
    tally.latency.record(received_ns - sent_ns);
  }
  if (!stopping_) send(c, received_ns);
}

void PublishThread::on_closed(HttpConnection& c, const std::string& why) {
  auto& sent = sent_at_[c.index()];
  tally.lost_requests += sent.size();
  in_flight_ -= sent.size();
  sent.clear();
  ++tally.failures;
  errors.fetch_add(1, std::memory_order_relaxed);
  const std::string what = "connection " + std::to_string(c.index()) + ": " + why;
  if (tally.first_failure.empty()) tally.first_failure = what;
  // Lost before any answer: the server cannot be reached (or refuses us); a retry would only spin.
  if (c.user == 0 && error.empty()) error = what;
  if (!stopping_) to_reconnect_.push_back(&c);
}

void PublishThread::run(const WindowClock& clock) {
  clock_ = &clock;
  pool_.open(connections_);
  std::uint64_t drain_deadline = 0;
  for (;;) {
    pool_.poll(5);
    const std::uint64_t now = now_ns();
    if (!error.empty() || clock.stop.load(std::memory_order_relaxed)) return;
    if (!ready.load(std::memory_order_relaxed) && pool_.open_count() == connections_) ready.store(true);
    if (!stopping_) {
      for (HttpConnection* c : to_reconnect_) pool_.reconnect(*c);
    }
    to_reconnect_.clear();
    if (!stopping_ && clock.over(now)) {
      stopping_ = true;
      drain_deadline = now + static_cast<std::uint64_t>(o_.stall_timeout * 1e9);
    }
    if (stopping_ && (in_flight_ == 0 || now > drain_deadline)) {
      tally.unanswered = in_flight_;
      return;
    }
  }
}

}  // namespace

int run_publish(const Options& o) {
  std::vector<std::string> requests;
  if (o.topics <= 1) {
    requests.push_back(publish_request(o, o.topic));
  } else {
    for (std::size_t i = 0; i < o.topics; ++i) requests.push_back(publish_request(o, o.topic + "." + std::to_string(i)));
  }
  std::vector<std::unique_ptr<PublishThread>> threads;
  std::vector<LoadThread*> load;
  for (std::size_t t = 0; t < o.threads; ++t) {
    threads.push_back(std::make_unique<PublishThread>(o, share_of(o.connections, o.threads, t), requests));
    load.push_back(threads.back().get());
  }
  MeasuredWindow window(o.server_pid);
  ProgressLine progress(o.progress, "responses");
  const std::uint64_t started = now_ns();
  std::uint64_t connected_at = started;
  if (const std::string failure = run_load_threads(load, o, window, progress, connected_at); !failure.empty()) {
    std::fprintf(stderr, "publish: %s\n", failure.c_str());
    return 1;
  }
  PublishTally total;
  for (const auto& t : threads) total.add(t->tally);
  std::uint64_t non_2xx = 0;
  for (const auto& [status, n] : total.non_2xx) non_2xx += n;
  const double seconds = window.seconds();
  ResultLine result(o);
  result.add("pipeline", static_cast<std::uint64_t>(o.pipeline))
      .add("connect_s", static_cast<double>(connected_at - started) / 1e9, 2)
      .add("responses", total.responses_in_window)
      .add("rate", static_cast<double>(total.ok_in_window) / seconds, 0)
      .add("p50_us", static_cast<double>(total.latency.quantile(0.50)) / 1e3)
      .add("p99_us", static_cast<double>(total.latency.quantile(0.99)) / 1e3)
      .add("max_us", static_cast<double>(total.latency.max()) / 1e3)
      .add("published", total.ok_total)
      .add("non_2xx", non_2xx);
  for (const auto& [status, n] : total.non_2xx) result.add("status_" + std::to_string(status), n);
  if (o.protocol == Protocol::centrifugo) result.add("api_errors", total.api_errors);
  result.add("errors", total.failures)
      .add("lost_requests", total.lost_requests)
      .add("unanswered", total.unanswered)
      .add(window);
  result.print();
  if (!total.first_failure.empty()) std::fprintf(stderr, "publish: first error: %s\n", total.first_failure.c_str());
  if (total.ok_total == 0) std::fprintf(stderr, "publish: nothing was published (no 2xx answer without an error)\n");
  return total.failures == 0 && total.unanswered == 0 && total.ok_total > 0 ? 0 : 1;
}

}  // namespace sluice::bench
