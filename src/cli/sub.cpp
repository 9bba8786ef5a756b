// `sluice sub TOPIC|--subscription ID`: follows a topic pattern (in-band
// protocol, resuming from the last event printed after every reconnect) or a
// server-side subscription's stream, and prints each event as one JSON line
// on stdout. What happens to the connection is said on stderr. Exit status:
// 0 after --count events or on SIGINT/SIGTERM, 1 when the subscription or the
// connection ended for good, 2 for bad arguments.
#include <CLI/CLI.hpp>

#include <boost/json.hpp>

#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "cli/client_flags.hpp"
#include "cli/commands.hpp"
#include "sluice/topic/topic.hpp"
#include "sluice/client/topic_client.hpp"
#include "sluice/util/unix_time.hpp"

namespace sluice::cli {

namespace {

namespace json = boost::json;

struct SubOptions {
  std::string pattern;
  std::string subscription;
  std::string url;
  std::string since;
  std::string fallback = "oldest";
  std::uint64_t count = 0;
  ConnectionFlags connection;
};

// What the main thread waits for.
struct ExitStatus {
  std::mutex mutex;
  std::condition_variable changed;
  int status = -1;  // set once: the exit status
  void set(int s) {
    std::lock_guard lock(mutex);
    if (status < 0) status = s;
    changed.notify_all();
  }
};

// "2026-11-22T18:08:11.426Z" -> ms since the Unix epoch (0 if unreadable or out of range).
std::int64_t parse_time(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &millis) < 6) {
    return 0;
  }
  // timegm() would roll a month 13 or an hour 99 over instead of refusing it.
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60 || tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0 || millis < 0 || millis > 999) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + millis;
}

// "--since": N, an offset (per topic: one exact topic only); a duration ago
// (30s, 5m, 2h, 1d); or a UTC time (2026-11-22T18:08:11Z, optionally with
// .mmm). A bare number is never a time: read as ms since the epoch on a
// pattern it silently replayed all history (issue 11 item 13).
struct SinceArg {
  bool is_time = false;
  std::int64_t value = 0;
};
const char* const kSinceForms = "an offset (one exact topic), a duration ago such as 10m, or a UTC time such as "
                                "2026-11-22T18:08:11Z";
std::optional<SinceArg> parse_since(const std::string& text, std::string& why) {
  if (text.find('T') != std::string::npos && text.ends_with('Z')) {
    const std::int64_t ms = parse_time(text);
    if (ms <= 0) {
      why = "--since: '" + text + "' is not a UTC time such as 2026-11-22T18:08:11Z";
      return std::nullopt;
    }
    return SinceArg{true, ms};
  }
  std::size_t used = 0;
  long long n = -1;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
  }
  if (n < 0) {
    why = std::string("--since wants ") + kSinceForms + " (got '" + text + "')";
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  if (unit.empty()) return SinceArg{false, n};
  const std::map<std::string, std::int64_t> units{{"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  auto it = units.find(unit);
  if (it == units.end()) {
    why = "--since: unknown unit '" + unit + "' (s, m, h or d)";
    return std::nullopt;
  }
  return SinceArg{true, unix_time_ms() - n * it->second};
}

void print_line(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Waits for the exit status (or a signal), then closes.
template <class CloseFn>
int wait_and_close(ExitStatus& exit, CloseFn close) {
  install_stop_signals();
  int status;
  {
    std::unique_lock lock(exit.mutex);
    while (exit.status < 0 && g_stop_signal == 0) exit.changed.wait_for(lock, std::chrono::milliseconds(100));
    status = exit.status < 0 ? 0 : exit.status;
  }
  close();
  return status;
}

int follow_topic(const SubOptions& o, client::ClientOptions options) {
  client::TopicClientOptions topic_options;
  topic_options.client = std::move(options);
  auto c = open_topic_client(o.url, std::move(topic_options), "sub");
  if (!c) return 2;
  client::SubscribeOptions so;
  so.fallback = o.fallback == "latest" ? client::Fallback::latest : client::Fallback::oldest;
  if (!o.since.empty()) {
    std::string why;
    const auto since = parse_since(o.since, why);
    if (!since) {
      std::fprintf(stderr, "sluice sub: %s\n", why.c_str());
      return 2;
    }
    if (!since->is_time && topic::is_wildcard_pattern(o.pattern)) {
      std::fprintf(stderr, "sluice sub: --since %s is an offset, and offsets are per topic: '%s' is a pattern; "
                   "give a duration ago (10m) or a UTC time (2026-11-22T18:08:11Z)\n",
                   o.since.c_str(), o.pattern.c_str());
      return 2;
    }
    client::Since s;
    if (since->is_time) {
      s.time_ms = since->value;
    } else {
      s.topics[o.pattern] = client::Position{static_cast<std::uint64_t>(since->value), ""};
    }
    so.since = s;
  }
  ExitStatus exit{};
  const bool quiet = o.connection.quiet;
  so.on_status = [&, quiet](const client::SubscriptionStatus& s) {
    using Kind = client::SubscriptionStatus::Kind;
    if (s.kind == Kind::failed || s.kind == Kind::ended) {
      if (!quiet) std::fprintf(stderr, "sluice sub: %s%s%s\n", s.code.c_str(), s.code.empty() ? "" : ": ", s.message.c_str());
      return exit.set(1);
    }
    if (quiet) return;
    if (s.kind == Kind::gap) return (void)std::fprintf(stderr, "%s\n", s.message.c_str());
    std::fprintf(stderr, "%s %s%s\n", s.kind == Kind::subscribed ? "subscribed to" : "resubscribed to",
                 o.pattern.c_str(),
                 !s.recovered ? " (history no longer covers where it left off: events were missed)"
                 : s.replayed ? (" (" + std::to_string(s.replayed) + " from history)").c_str()
                              : "");
  };
  std::uint64_t printed = 0;
  const std::uint64_t limit = o.count;
  const auto id = c->subscribe(
      o.pattern,
      [&, limit](const client::TopicEvent& e) {
        if (limit && printed >= limit) return;
        print_line(e.json);
        if (limit && ++printed == limit) exit.set(0);
      },
      std::move(so));
  if (id == 0) {
    std::fprintf(stderr, "sluice sub: '%s' is not a valid topic pattern: %s\n", o.pattern.c_str(),
                 topic::pattern_error(o.pattern).c_str());
    return 2;
  }
  report_connection(c->client(), quiet);
  c->client().on_close([&, quiet](const client::CloseEvent& e) {
    if (e.will_retry || e.error == client::Error::closed_by_user) return;
    if (!quiet) std::fprintf(stderr, "%s\n", e.description.c_str());
    exit.set(1);
  });
  c->connect();
  return wait_and_close(exit, [&] { c->close(1000, ""); });
}

// What follow_subscription's callbacks share; used on the client's thread
// (`exit` excepted: the main thread waits on it).
struct StreamFollow {
  const SubOptions& o;
  const std::string path;  // the stream's, without ?since=
  const std::optional<SinceArg> since;
  ExitStatus exit{};
  client::Positions positions{};
  std::int64_t last_time_ms = 0;
  bool one_topic = false;
  bool since_refused = false;  // --since does not fit this subscription: print nothing
  std::uint64_t printed = 0;
};

// The stream's first message: the subscription it follows. Refuses --since
// when it does not fit (exit status 2).
void on_stream_connected(StreamFollow& f, const json::value& v) {
  const json::value* topics = v.at("subscription").as_object().if_contains("topics");
  f.one_topic = topics && topics->is_array() && topics->as_array().size() == 1 &&
                topics->as_array()[0].is_string() && !topic::is_wildcard_pattern(topics->as_array()[0].as_string());
  // The server reads ?since= as an offset for a one-topic subscription, as a time otherwise.
  if (f.since && f.printed == 0 && f.positions.empty() && f.since->is_time == f.one_topic) {
    f.since_refused = true;
    std::fprintf(stderr, "sluice sub: subscription %s %s\n", f.o.subscription.c_str(),
                 f.one_topic ? "follows one topic, and its stream starts from an offset: give --since an offset"
                             : "follows several topics or a pattern: give --since a duration ago (10m) or a UTC "
                               "time (2026-11-22T18:08:11Z), not an offset");
    return f.exit.set(2);
  }
  if (!f.o.connection.quiet) std::fprintf(stderr, "following subscription %s\n", f.o.subscription.c_str());
}

// An event: printed unless seen before a reconnect or past --count.
void on_stream_event(StreamFollow& f, const json::object& event) {
  const std::string topic(event.at("topic").as_string());
  const std::uint64_t offset = event.at("offset").to_number<std::uint64_t>();
  const std::string epoch(event.at("epoch").as_string());
  if (!client::record_delivery(f.positions, topic, offset, epoch)) return;  // seen before a reconnect
  if (const json::value* time = event.if_contains("time"); time && time->is_string()) {
    f.last_time_ms = std::max(f.last_time_ms, parse_time(std::string(time->as_string())));
  }
  if (f.o.count && f.printed >= f.o.count) return;
  print_line(json::serialize(event));
  if (f.o.count && ++f.printed == f.o.count) f.exit.set(0);
}

void on_stream_message(StreamFollow& f, const client::Message& m) {
  if (f.since_refused) return;
  json::value v;
  try {
    v = json::parse(m.text());
  } catch (const std::exception&) {
    return;
  }
  const json::object* object = v.if_object();
  if (!object) return;
  const json::value* type = object->if_contains("type");
  if (type && *type == "connected") return on_stream_connected(f, v);
  if (!type || *type != "event") return;
  on_stream_event(f, v.at("event").as_object());
}

// The connection dropped and will be retried: resume where we are, by offset
// for one exact topic, else by time (a second back, for events of the same
// millisecond; repeats are skipped).
void resume_stream_from_here(StreamFollow& f, client::Client& c) {
  if (f.one_topic && !f.positions.empty()) {
    c.set_target(f.path + "?since=" + std::to_string(f.positions.begin()->second.offset));
  } else if (f.last_time_ms > 0) {
    c.set_target(f.path + "?since=" + std::to_string(std::max<std::int64_t>(0, f.last_time_ms - 1000)));
  }
}

// A subscription's stream: the resume point goes in the URL (?since=), so it
// is set again before every reconnect; events already printed are skipped.
int follow_subscription(const SubOptions& o, client::ClientOptions options) {
  const std::string path = "/v1/subscriptions/" + o.subscription + "/stream";
  std::optional<SinceArg> since;
  if (!o.since.empty()) {
    std::string why;
    since = parse_since(o.since, why);
    if (!since) {
      std::fprintf(stderr, "sluice sub: %s\n", why.c_str());
      return 2;
    }
  }
  std::unique_ptr<client::Client> c;
  try {
    c = std::make_unique<client::Client>(server_endpoint(o.url, path), std::move(options));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "sluice sub: %s\n", e.what());
    return 2;
  }
  if (since) c->set_target(path + "?since=" + std::to_string(since->value));
  StreamFollow f{.o = o, .path = path, .since = since};
  const bool quiet = o.connection.quiet;
  c->on_message([&](const client::Message& m) { on_stream_message(f, m); });
  report_connection(*c, quiet);
  c->on_close([&, quiet](const client::CloseEvent& e) {
    if (e.will_retry) return resume_stream_from_here(f, *c);
    if (e.error == client::Error::closed_by_user) return;
    if (!quiet) std::fprintf(stderr, "%s\n", e.description.c_str());
    f.exit.set(1);
  });
  c->connect();
  return wait_and_close(f.exit, [&] { c->close(1000, ""); });
}

int run(const SubOptions& o) {
  if (o.pattern.empty() == o.subscription.empty()) {
    std::fprintf(stderr, "sluice sub: give a TOPIC pattern or --subscription ID (one of them)\n");
    return 2;
  }
  if (o.fallback != "oldest" && o.fallback != "latest") {
    std::fprintf(stderr, "sluice sub: --fallback is oldest or latest, not '%s'\n", o.fallback.c_str());
    return 2;
  }
  client::ClientOptions options;
  if (auto why = apply_connection_flags(o.connection, options); !why.empty()) {
    std::fprintf(stderr, "sluice sub: %s\n", why.c_str());
    return 2;
  }
  return o.subscription.empty() ? follow_topic(o, std::move(options)) : follow_subscription(o, std::move(options));
}

}  // namespace

void add_sub_command(CLI::App& app) {
  auto o = std::make_shared<SubOptions>();
  CLI::App* sub = app.add_subcommand(
      "sub", "Follow a topic pattern or a subscription: events as JSON lines on stdout, resuming after reconnects");
  sub->add_option("topic", o->pattern, "Topic or pattern (orders.*, orders.>)");
  sub->add_option("--subscription", o->subscription, "Follow this server-side subscription's stream instead");
  add_server_option(sub, o->url);
  sub->add_option("--since", o->since,
                  "Start from history: an offset (one exact topic, or a one-topic subscription), a duration "
                  "ago such as 10m, or a UTC time such as 2026-11-22T18:08:11Z");
  sub->add_option("--fallback", o->fallback,
                  "When history no longer covers the start: oldest (what is left) or latest (from now)")
      ->capture_default_str();
  sub->add_option("-n,--count", o->count, "Exit 0 after this many events (0: follow until interrupted)")
      ->capture_default_str();
  add_connection_flags(sub, o->connection);
  sub->callback([o] { std::exit(run(*o)); });
}

}  // namespace sluice::cli
