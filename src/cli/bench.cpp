// `sluice bench SCENARIO`: the load generator of the server benchmarks as a
// user command (docs/benchmarks.md). Raw epoll, Sluice's sans-I/O protocol
// core, one thread (fanout, echo, publish and churn: --threads). It loads Sluice
// (`--preset sluice`: subscribe and publish on /v1/ws, publish with POST
// /v1/events), Sluice or Centrifugo through Centrifugo's protocols
// (`--preset centrifugo`: the client protocol for fanout and churn, the
// server API's /api/publish for publish) or any broadcast server (`--preset
// broadcast`: every message goes to every other client), prints a live
// progress line on a terminal and a summary table at the end (`--json`: plus
// one JSON object as the last line; `--csv`).
// Exit status: 0 after a clean run, 1 when the run failed or saw an error it
// reports (out of order, lost or duplicated, failed cycles, lost
// connections), 2 for bad arguments.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "loadgen/options.hpp"
#include "loadgen/payload.hpp"
#include "loadgen/scenarios.hpp"
#include "loadgen/stream.hpp"
#include "sluice/net/url.hpp"
#include "sluice/protocol/handshake.hpp"

namespace sluice::cli {

namespace {

struct BenchOptions {
  bench::Options load;
  std::string url;
  std::vector<std::string> sub_urls;  // fanout: where the subscribers connect (other nodes)
  std::string preset = "sluice";
  std::vector<std::string> headers;  // "Name: value"
  std::string api_key;
  std::string ca_file;  // wss://, https://: trust this PEM CA bundle instead of the system's
  bool insecure = false;  // wss://, https://: no certificate check
  bool json = false;
  bool csv = false;
  bool no_progress = false;
  bool connections_given = false;
};

int bad(const std::string& why) {
  std::fprintf(stderr, "sluice bench: %s\n", why.c_str());
  return 2;
}

// The default target of a scenario under a preset.
std::string default_url(const std::string& mode, const std::string& preset) {
  if (mode == "publish") {
    return preset == "centrifugo" ? "http://127.0.0.1:8080/api/publish" : "http://127.0.0.1:8080/v1/events";
  }
  if (preset == "centrifugo") return "ws://127.0.0.1:8080/connection/websocket";
  return preset == "sluice" && mode != "echo" ? "ws://127.0.0.1:8080/v1/ws" : "ws://127.0.0.1:8080/";
}

// publish takes http(s)://HOST[:PORT][/PATH]; the others ws:// or wss://. Both have the same shape.
std::optional<net::WsUrl> parse_target(const std::string& mode, const std::string& url, std::string& why) {
  if (mode == "publish") {
    auto parsed = url.starts_with("http://")    ? net::parse_ws_url("ws://" + url.substr(7))
                  : url.starts_with("https://") ? net::parse_ws_url("wss://" + url.substr(8))
                                                : std::nullopt;
    if (!parsed) why = "--url must be http(s)://HOST[:PORT][/PATH] for publish, not '" + url + "'";
    return parsed;
  }
  auto parsed = net::parse_ws_url(url);
  if (!parsed) why = "--url must be ws(s)://HOST[:PORT][/PATH], not '" + url + "'";
  return parsed;
}

// wss://, https://: the TLS settings every connection shares; the --cafile and --insecure checks.
std::string set_up_tls(const BenchOptions& o, bool secure, bench::Options& load) {
  if (!secure) {
    if (!o.ca_file.empty() || o.insecure) return "--cafile and --insecure are for wss:// and https:// URLs";
    return {};
  }
  if (!o.ca_file.empty() && o.insecure) return "--cafile and --insecure exclude each other";
  if (o.insecure) {
    std::fprintf(stderr,
                 "sluice bench: warning: --insecure: the server's certificate is not checked; use it only "
                 "against a test server you run yourself\n");
  }
  try {
    // idle holds many quiet connections: their TLS buffers go back while idle.
    load.tls = std::make_shared<const bench::TlsClient>(!o.insecure, o.ca_file, load.mode == "idle");
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

// The preset, --threads, --rate, ... as the scenario allows them; empty when fine.
std::string check_scenario_options(const BenchOptions& o) {
  const bench::Options& load = o.load;
  const std::string& mode = load.mode;
  if (o.preset == "centrifugo" && mode != "fanout" && mode != "churn" && mode != "publish" && mode != "idle") {
    return "--preset centrifugo is for fanout, churn, idle and publish";
  }
  if (o.preset == "broadcast" && (mode == "publish" || mode == "storm")) {
    return "--preset broadcast has no publish over HTTP and no resume: " + mode + " needs --preset sluice";
  }
  if (mode == "storm" && o.preset != "sluice") return "storm needs --preset sluice (resume with \"since\")";
  if (load.connections == 0) return "--connections must be at least 1";
  if (load.deflate && load.mode == "publish") return "--deflate is for the WebSocket scenarios, not publish";
  if (load.threads == 0) return "--threads must be at least 1";
  if (load.threads > 1 && (mode == "idle" || mode == "storm")) return "--threads is for fanout, echo, publish and churn";
  if (load.threads > load.connections) return "--threads must not exceed --connections";
  if (load.pipeline == 0 || load.pipeline > 1024) return "--pipeline must be 1 to 1024";
  if (!(load.rate > 0 && load.rate <= 1e6)) return "--rate must be above 0 and at most 1000000";
  if (load.cuts == 0) return "--cuts must be at least 1";
  if (!load.restart_cmd.empty() && mode != "storm") return "--restart-cmd is for storm";
  if (load.topics == 0) return "--topics must be at least 1";
  if (load.topics > 1 && mode != "publish") return "--topics is for publish";
  if (!o.sub_urls.empty() && mode != "fanout") return "--sub-url is for fanout";
  if (load.payload != 0 && load.payload < bench::kMinPayloadSize) {
    return "--payload must be at least " + std::to_string(bench::kMinPayloadSize) + " bytes";
  }
  return {};
}

// --header "Name: value" and --api-key as request headers; empty when fine.
std::string collect_headers(const BenchOptions& o, std::vector<std::pair<std::string, std::string>>& out) {
  for (const std::string& line : o.headers) {
    const std::size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    if (colon == std::string::npos || !protocol::is_http_token(name) || protocol::breaks_header_line(value)) {
      return "--header must be 'Name: value' (a header name, a value without CR or LF)";
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  if (!o.api_key.empty()) {
    if (protocol::breaks_header_line(o.api_key)) return "--api-key must not hold CR, LF or NUL";
    // Centrifugo's server API takes its key as X-API-Key; Sluice's routes as a Bearer key.
    if (o.load.mode == "publish" && o.preset == "centrifugo") {
      out.emplace_back("X-API-Key", o.api_key);
    } else {
      out.emplace_back("Authorization", "Bearer " + o.api_key);
    }
  }
  return {};
}

const char* connection_noun(const std::string& mode) {
  if (mode == "fanout" || mode == "storm") return "subscribers";
  if (mode == "churn") return "workers";
  return "connections";
}

int run(BenchOptions& o) {
  bench::Options& load = o.load;
  if (!o.connections_given) load.connections = load.mode == "publish" ? 50 : load.mode == "churn" ? 100 : 1000;
  if (auto why = check_scenario_options(o); !why.empty()) return bad(why);
  if (o.url.empty()) o.url = default_url(load.mode, o.preset);
  std::string why;
  const auto url = parse_target(load.mode, o.url, why);
  if (!url) return bad(why);
  if (why = collect_headers(o, load.headers); !why.empty()) return bad(why);
  if (why = set_up_tls(o, url->secure, load); !why.empty()) return bad(why);
  load.host = url->host;
  load.port = url->port;
  load.path = url->target;
  if (load.path == "/") {
    // http://HOST:PORT alone means the preset's endpoint (POST / is never one;
    // broadcast servers and echo keep "/").
    std::string ignored;
    load.path = parse_target(load.mode, default_url(load.mode, o.preset), ignored)->target;
  }
  for (const std::string& sub_url : o.sub_urls) {
    const auto parsed = parse_target(load.mode, sub_url, why);
    if (!parsed) return bad("--sub-url: " + why);
    if (parsed->secure != url->secure) return bad("--sub-url must use the scheme of --url (ws:// or wss://)");
    load.subscriber_targets.push_back({parsed->host, parsed->port, parsed->target == "/" ? load.path : parsed->target,
                                       load.headers, load.tls, load.deflate});
  }
  load.protocol = o.preset == "sluice"       ? bench::Protocol::sluice
                  : o.preset == "centrifugo" ? bench::Protocol::centrifugo
                                             : bench::Protocol::broadcast;
  if (load.payload == 0) load.payload = load.mode == "echo" ? 512 : 64;
  load.output = o.json ? bench::Output::json : o.csv ? bench::Output::csv : bench::Output::table;
  load.progress = !o.no_progress && isatty(STDERR_FILENO) == 1;
  load.hold_until_stdin_eof = false;
  if (load.output != bench::Output::csv) {
    std::printf("sluice bench %s: %s, %zu %s, %zu-byte payloads, %.1f s warm-up + %.1f s\n", load.mode.c_str(),
                o.url.c_str(), load.connections, connection_noun(load.mode), load.payload, load.warmup,
                load.duration);
    std::fflush(stdout);
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    if (load.mode == "fanout") return bench::run_fanout(load);
    if (load.mode == "echo") return bench::run_echo(load);
    if (load.mode == "publish") return bench::run_publish(load);
    if (load.mode == "churn") return bench::run_churn(load);
    if (load.mode == "storm") return bench::run_storm(load);
    return bench::run_idle(load);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice bench: %s\n", e.what());
    return 1;
  }
}

// The scenario and the server: its URL, TLS trust and protocol preset.
void add_target_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o) {
  bench::Options& load = o->load;
  cmd->add_option("scenario", load.mode,
                  "fanout: N subscribers and one publisher, at most --in-flight messages ahead of the slowest; "
                  "echo: N connections, one message each in flight; idle: open N connections, each subscribed to --topic, "
                  "and hold them; "
                  "publish: N keep-alive HTTP connections POSTing events, --pipeline requests in flight each; "
                  "churn: N workers repeating connect, subscribe (acknowledged), close; storm: N subscribers and "
                  "a publisher at --rate, every subscriber cut at once after the warm-up (or the server restarted: "
                  "--restart-cmd), resubscribing from its last offset; fails if an event is lost or duplicated")
      ->required()
      ->check(CLI::IsMember({"fanout", "echo", "idle", "publish", "churn", "storm"}));
  cmd->add_option("--url", o->url,
                  "Server to load, ws:// or wss:// (publish: http:// or https://; default ws://127.0.0.1:8080/v1/ws; "
                  "--preset centrifugo: ws://127.0.0.1:8080/connection/websocket; echo, or --preset broadcast: "
                  "ws://127.0.0.1:8080/; publish: http://127.0.0.1:8080/v1/events, with --preset centrifugo "
                  "/api/publish); without a path, the scenario's default path on that host");
  cmd->add_option("--sub-url", o->sub_urls,
                  "fanout: the subscribers connect here instead of --url, spread round robin (repeatable: the nodes "
                  "of one cluster); the publisher stays on --url");
  cmd->add_option("--cafile,--ca", o->ca_file,
                  "wss://, https://: PEM CA bundle to verify the server's certificate with (default: the system's)");
  cmd->add_flag("-k,--insecure", o->insecure,
                "wss://, https://: do not verify the server's certificate (a self-signed test server)");
  cmd->add_flag("--deflate", o->load.deflate,
                "WebSocket scenarios: offer permessage-deflate; the load client inflates what arrives (its CPU "
                "use shows what that costs it)");
  cmd->add_option("--preset", o->preset,
                  "sluice: Sluice's /v1/ws protocol and POST /v1/events; centrifugo: Centrifugo's JSON client "
                  "protocol (fanout, churn; Sluice's /connection/websocket or a Centrifugo server) and its "
                  "/api/publish (publish); broadcast: a server that sends every message to every other client "
                  "(echo servers for `echo`; churn: connect and close only)")
      ->check(CLI::IsMember({"sluice", "centrifugo", "broadcast"}))
      ->capture_default_str();
}

// The load's shape: connections, threads, payload, rates, cuts and topic.
void add_load_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o) {
  bench::Options& load = o->load;
  cmd->add_option_function<std::size_t>(
         "-n,--connections",
         [o](std::size_t n) {
           o->load.connections = n;
           o->connections_given = true;
         },
         "fanout, storm: subscribers; echo, idle, publish: connections; churn: workers (default 1000; publish "
         "50, churn 100)");
  cmd->add_option("--threads", load.threads,
                  "fanout, echo, publish, churn: load threads, each with its own event loop, the connections "
                  "spread over them (fanout: the subscribers; the one publisher runs on the first thread). Use it "
                  "when the load client, not the server, is the limit (the warning at the end), e.g. fanout "
                  "--deflate")
      ->capture_default_str();
  cmd->add_option("--payload", load.payload, "Payload bytes (default 64; echo 512; at least 36)");
  cmd->add_option("--in-flight", load.in_flight, "fanout: messages the slowest subscriber may lag behind")
      ->capture_default_str();
  cmd->add_option("--pipeline", load.pipeline, "publish: requests in flight per connection")->capture_default_str();
  cmd->add_option("--rate", load.rate, "storm: events published per second")->capture_default_str();
  cmd->add_option("--cuts", load.cuts, "storm: times every subscriber is cut, --duration / K seconds apart")
      ->capture_default_str();
  cmd->add_option("--restart-cmd", load.restart_cmd,
                  "storm: restart the server with this shell command instead of cutting the connections, e.g. "
                  "'systemctl restart sluice' (the server must keep its history: Sluice with a durable store); "
                  "the time back counts from the command's start, and it must exit 0");
  cmd->add_option("--topic", load.topic,
                  "The topic (centrifugo preset: the channel); storm: default a fresh topic per run, which no "
                  "other publisher may use meanwhile")
      ->capture_default_str();
  cmd->add_option("--topics", load.topics,
                  "publish: spread the connections over N topics, TOPIC.0 .. TOPIC.N-1 (e.g. over Redis shards)")
      ->capture_default_str();
}

// Headers and API key for every request and upgrade; the broadcast preset's message prefix.
void add_request_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o) {
  bench::Options& load = o->load;
  cmd->add_option("--header", o->headers,
                  "'Name: value': an extra header on every HTTP request and WebSocket upgrade (repeatable)")
      ->allow_extra_args(false);  // one value per --header: the scenario after it stays the scenario
  cmd->add_option("--api-key", o->api_key,
                  "An API key, sent as Authorization: Bearer (centrifugo publish: X-API-Key); never printed");
  cmd->add_option("--message-prefix", load.message_prefix,
                  "broadcast preset: put before every published message and strip on receipt");
}

// Warm-up, duration, connect and stall timeouts.
void add_timing_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o) {
  bench::Options& load = o->load;
  cmd->add_option("--warmup", load.warmup, "Seconds before the measured window")->capture_default_str();
  cmd->add_option("--duration", load.duration,
                  "Seconds measured (idle: seconds held; storm: seconds of publishing after the cuts)")
      ->capture_default_str();
  cmd->add_option("--connect-timeout", load.connect_timeout,
                  "Seconds to open every connection (storm: also for all to be back after a cut)")
      ->capture_default_str();
  cmd->add_option("--connect-concurrency", load.connect_concurrency, "Handshakes in progress at once")
      ->capture_default_str();
  cmd->add_option("--stall-timeout", load.stall_timeout,
                  "Seconds without progress before giving up (fanout), failing a cycle (churn), or ending the "
                  "drain (publish, storm)")
      ->capture_default_str();
}

// What is reported and how: --server-pid, --json, --csv, progress, and the help's footer.
void add_output_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o) {
  bench::Options& load = o->load;
  cmd->add_option("--server-pid", load.server_pid,
                  "A server process on this machine: report its CPU use over the measured window too");
  cmd->add_flag("--json", o->json, "After the table, print the result as one JSON object on the last line");
  cmd->add_flag("--csv", o->csv, "Print the result as CSV: a header line and one row")->excludes("--json");
  cmd->add_flag("--no-progress", o->no_progress, "No live progress line (it is shown only on a terminal anyway)");
  cmd->footer(
      "The result: rates over the measured window, latency percentiles, and the load client's own CPU use\n"
      "(loadgen_cpu_pct: % of one core, all threads added up; with --threads N also the busiest thread's\n"
      "loadgen_busiest_thread_cpu_pct and _wait_pct). It warns when the load client (--threads N: its busiest\n"
      "thread) was busy, running or waiting for a core, above 90% of the window: then it, not the server, may\n"
      "be the limit.\n"
      "Examples: sluice bench fanout -n 1000 --duration 10 --json\n"
      "          sluice bench fanout --deflate --payload 1024 --threads 2\n"
      "          sluice bench publish -n 50 --threads 1 --duration 5\n"
      "          sluice bench storm -n 1000 --rate 500 --cuts 3\n"
      "          sluice bench storm --restart-cmd 'systemctl restart sluice'\n"
      "          sluice bench fanout --url wss://127.0.0.1:8443/v1/ws --cafile ca.pem");
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Load a server and measure it: fanout (deliveries/s, latency), echo (round trips/s), idle "
               "(connections held), publish (HTTP publishes/s), churn (connect+subscribe+close cycles/s), storm "
               "(every subscriber cut, or the server restarted, and resumed: time back, events lost)");
  add_target_options(cmd, o);
  add_load_options(cmd, o);
  add_request_options(cmd, o);
  add_timing_options(cmd, o);
  add_output_options(cmd, o);
  cmd->callback([o, cmd] {
    o->load.topic_given = cmd->get_option("--topic")->count() > 0;
    std::exit(run(*o));
  });
}

}  // namespace sluice::cli
