// `sluice pub TOPIC [DATA]`: publishes DATA, or each line of stdin when DATA
// is not given, and prints each acknowledgement as a JSON line
// ({"id","topic","offset","epoch"}) on stdout, in order. Data is JSON; text
// that is not JSON is refused (a typo must not become a string event), unless
// --string sends it as a JSON string as it is. Publishes survive reconnects
// (resent with their idempotency keys). Exit status: 0 when every publish was
// acknowledged, 1 when one failed, was refused (a stdin line that is not
// JSON) or was not acknowledged within --timeout, 2 for bad arguments (DATA
// that is not JSON included).
#include <CLI/CLI.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cli/client_flags.hpp"
#include "cli/commands.hpp"
#include "sluice/topic/topic.hpp"
#include "sluice/client/topic_client.hpp"

namespace sluice::cli {

namespace {

namespace json = boost::json;

struct PubOptions {
  std::string topic;
  std::optional<std::string> data;
  std::string url;
  std::string type;
  std::string key;
  bool as_string = false;  // --string
  double timeout = 30;
  ConnectionFlags connection;
};

// Counts what was sent and answered; the main thread waits on it.
struct Tally {
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t sent = 0, acked = 0, failed = 0;  // failed: answered, not published
  std::uint64_t refused = 0;  // never sent (not JSON, or refused by the client): no answer will come
  bool input_done = false;
  bool client_done = false;  // the client stopped for good on its own
};

// The event data `text` stands for: a JSON string of it with --string, else
// the JSON it holds (nullopt and `why` when it is not JSON).
std::optional<json::value> event_data(const std::string& text, bool as_string, std::string& why) {
  if (as_string) return json::value(json::string(text));
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    why = ec.message();
    return std::nullopt;
  }
  return v;
}

// TOPIC and DATA checked; DATA, if given, into `argument_data`. False: a bad
// argument, reported on stderr (exit status 2).
bool check_arguments(const PubOptions& o, std::optional<json::value>& argument_data) {
  if (auto why = topic::topic_error(o.topic); !why.empty()) {
    std::fprintf(stderr, "sluice pub: '%s' is not a topic: %s\n", o.topic.c_str(), why.c_str());
    return false;
  }
  if (o.data) {
    std::string why;
    argument_data = event_data(*o.data, o.as_string, why);
    if (!argument_data) {
      std::fprintf(stderr, "sluice pub: DATA is not JSON (%s): '%s'; add --string to send it as a string\n",
                   why.c_str(), o.data->c_str());
      return false;
    }
  }
  return true;
}

// Waits until the input ended and everything sent was answered (or the client
// stopped, a signal came, or --timeout passed); returns the exit status.
int await_answers(Tally& tally, const PubOptions& o) {
  const bool quiet = o.connection.quiet;
  // The timeout counts from the end of the input.
  std::unique_lock lock(tally.mutex);
  std::optional<std::chrono::steady_clock::time_point> deadline;
  while (g_stop_signal == 0 && !tally.client_done &&
         !(tally.input_done && tally.acked + tally.failed >= tally.sent)) {
    if (tally.input_done && !deadline) {
      deadline = std::chrono::steady_clock::now() + seconds_to_ms(o.timeout);
    }
    if (deadline && std::chrono::steady_clock::now() >= *deadline) break;
    tally.changed.wait_for(lock, std::chrono::milliseconds(100));
  }
  const std::uint64_t unanswered = tally.sent - std::min(tally.sent, tally.acked + tally.failed);
  if (unanswered > 0 && !quiet) {
    std::fprintf(stderr, "sluice pub: %llu publishes not acknowledged\n", static_cast<unsigned long long>(unanswered));
  }
  return (tally.failed > 0 || tally.refused > 0 || unanswered > 0) ? 1 : 0;
}

// The reader thread: publishes each non-empty stdin line (a line that is not
// JSON is refused and counted) until stdin ends or `stop_reading` is set.
void publish_stdin_lines(const PubOptions& o, Tally& tally, std::atomic<bool>& stop_reading,
                         const std::function<void(const json::value&)>& publish) {
  const bool quiet = o.connection.quiet;
  std::uint64_t line_number = 0;
  read_stdin_lines(stop_reading, [&](std::string line) {
    ++line_number;
    if (line.empty()) return;
    std::string why;
    if (auto data = event_data(line, o.as_string, why)) return publish(*data);
    if (!quiet) {
      std::fprintf(stderr, "sluice pub: line %llu is not JSON (%s); not published (--string sends lines as strings)\n",
                   static_cast<unsigned long long>(line_number), why.c_str());
    }
    std::lock_guard lock(tally.mutex);
    ++tally.refused;
  });
  std::lock_guard lock(tally.mutex);
  tally.input_done = true;
  tally.changed.notify_all();
}

int run(const PubOptions& o) {
  std::optional<json::value> argument_data;
  if (!check_arguments(o, argument_data)) return 2;
  client::TopicClientOptions options;
  if (auto why = apply_connection_flags(o.connection, options.client); !why.empty()) {
    std::fprintf(stderr, "sluice pub: %s\n", why.c_str());
    return 2;
  }
  auto c = open_topic_client(o.url, std::move(options), "pub");
  if (!c) return 2;
  const bool quiet = o.connection.quiet;
  Tally tally;
  report_connection(c->client(), quiet);
  c->client().on_close([&, quiet](const client::CloseEvent& e) {
    if (e.will_retry) return;
    if (e.error == client::Error::closed_by_user) return;
    if (!quiet) std::fprintf(stderr, "%s\n", e.description.c_str());
    std::lock_guard lock(tally.mutex);
    tally.client_done = true;
    tally.changed.notify_all();
  });
  c->connect();

  client::PublishOptions publish_options;
  publish_options.type = o.type;
  publish_options.key = o.key;
  // Acks come in publish order (one connection, one server loop), so printing as they come keeps the order.
  auto publish = [&](const json::value& data) {
    const auto status = c->publish(o.topic, data, publish_options, [&, quiet](const client::PublishResult& r) {
      if (r.ok) {
        const json::object ack{{"id", r.event_id}, {"topic", r.topic}, {"offset", r.offset}, {"epoch", r.epoch}};
        std::printf("%s\n", json::serialize(ack).c_str());
        std::fflush(stdout);
      } else if (!quiet) {
        std::fprintf(stderr, "sluice pub: not published: %s%s%s\n", r.code.c_str(), r.message.empty() ? "" : ": ",
                     r.message.c_str());
      }
      std::lock_guard lock(tally.mutex);
      ++(r.ok ? tally.acked : tally.failed);
      tally.changed.notify_all();
    });
    std::lock_guard lock(tally.mutex);
    if (client::accepted(status)) {
      ++tally.sent;
    } else {
      ++tally.refused;
      if (!quiet) std::fprintf(stderr, "sluice pub: not sent: %s\n", client::to_string(status));
    }
  };

  install_stop_signals();
  std::atomic<bool> stop_reading{false};
  std::thread reader;
  if (argument_data) {
    publish(*argument_data);
    std::lock_guard lock(tally.mutex);
    tally.input_done = true;
  } else {
    reader = std::thread([&] { publish_stdin_lines(o, tally, stop_reading, publish); });
  }
  const int status = await_answers(tally, o);
  stop_reading = true;
  if (reader.joinable()) reader.join();
  c->close(1000, "");
  return status;
}

}  // namespace

void add_pub_command(CLI::App& app) {
  auto o = std::make_shared<PubOptions>();
  CLI::App* pub = app.add_subcommand(
      "pub", "Publish DATA (or each stdin line) on TOPIC; prints each acknowledgement as a JSON line");
  pub->add_option("topic", o->topic, "Topic to publish on (e.g. orders.eu)")->required();
  pub->add_option("data", o->data, "Event data, as JSON (e.g. '{\"amount\":120}' or '\"text\"'); "
                                   "without it, each line of stdin is one event");
  pub->add_flag("--string", o->as_string, "Send DATA (or each stdin line) as a JSON string, as it is");
  add_server_option(pub, o->url);
  pub->add_option("-t,--type", o->type, "The events' type");
  pub->add_option("--key", o->key, "The events' key");
  pub->add_option("--timeout", o->timeout, "Seconds to wait for the last acknowledgements after the input ended")
      ->capture_default_str();
  add_connection_flags(pub, o->connection);
  pub->callback([o] { std::exit(run(*o)); });
}

}  // namespace sluice::cli
