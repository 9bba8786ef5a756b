// `sluice bench SCENARIO`: the load generator of the server benchmarks as a
// user command (docs/benchmarks.md). One thread, raw epoll, Sluice's sans-I/O
// protocol core. It loads Sluice (`--preset sluice`: subscribe and publish on
// /v1/ws), Sluice or Centrifugo through Centrifugo's client protocol
// (`--preset centrifugo`, fanout only) or any broadcast server (`--preset
// broadcast`: every message goes to every other client), prints a live progress line on a terminal and a summary
// table at the end (`--json`: plus one JSON object as the last line; `--csv`).
// Exit status: 0 after a clean run, 1 when the run failed or saw a message
// out of order, 2 for bad arguments.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "loadgen/options.hpp"
#include "loadgen/payload.hpp"
#include "loadgen/scenarios.hpp"
#include "sluice/net/url.hpp"

namespace sluice::cli {

namespace {

struct BenchOptions {
  bench::Options load;
  std::string url;
  std::string preset = "sluice";
  bool json = false;
  bool csv = false;
  bool no_progress = false;
};

int run(BenchOptions& o) {
  bench::Options& load = o.load;
  const bool sluice_preset = o.preset == "sluice";
  const bool centrifugo_preset = o.preset == "centrifugo";
  if (centrifugo_preset && load.mode != "fanout") {
    std::fprintf(stderr, "sluice bench: --preset centrifugo is for fanout only\n");
    return 2;
  }
  if (o.url.empty()) {
    o.url = centrifugo_preset                            ? "ws://127.0.0.1:8080/connection/websocket"
            : sluice_preset && load.mode != "echo" ? "ws://127.0.0.1:8080/v1/ws"
                                                   : "ws://127.0.0.1:8080/";
  }
  const auto url = net::parse_ws_url(o.url);
  if (!url) {
    std::fprintf(stderr, "sluice bench: --url must be ws://HOST[:PORT][/PATH], not '%s'\n", o.url.c_str());
    return 2;
  }
  if (url->secure) {
    std::fprintf(stderr, "sluice bench: wss:// is not supported yet; use ws://\n");
    return 2;
  }
  if (load.payload != 0 && load.payload < bench::kMinPayloadSize) {
    std::fprintf(stderr, "sluice bench: --payload must be at least %zu bytes\n", bench::kMinPayloadSize);
    return 2;
  }
  load.host = url->host;
  load.port = url->port;
  load.path = url->target;
  load.protocol = sluice_preset       ? bench::Protocol::sluice
                  : centrifugo_preset ? bench::Protocol::centrifugo
                                      : bench::Protocol::broadcast;
  if (load.payload == 0) load.payload = load.mode == "echo" ? 512 : 64;
  load.output = o.json ? bench::Output::json : o.csv ? bench::Output::csv : bench::Output::table;
  load.progress = !o.no_progress && isatty(STDERR_FILENO) == 1;
  load.hold_until_stdin_eof = false;
  if (load.output != bench::Output::csv) {
    std::printf("sluice bench %s: %s, %zu %s, %zu-byte payloads, %.1f s warm-up + %.1f s\n", load.mode.c_str(),
                o.url.c_str(), load.connections, load.mode == "fanout" ? "subscribers" : "connections",
                load.payload, load.warmup, load.duration);
    std::fflush(stdout);
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    if (load.mode == "fanout") return bench::run_fanout(load);
    if (load.mode == "echo") return bench::run_echo(load);
    return bench::run_idle(load);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice bench: %s\n", e.what());
    return 1;
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  bench::Options& load = o->load;
  CLI::App* cmd = app.add_subcommand(
      "bench", "Load a WebSocket server and measure it: fanout (deliveries/s, latency), echo (round trips/s), "
               "idle (connections held)");
  cmd->add_option("scenario", load.mode,
                  "fanout: N subscribers and one publisher, at most --in-flight messages ahead of the slowest; "
                  "echo: N connections, one message each in flight; idle: open N connections and hold them")
      ->required()
      ->check(CLI::IsMember({"fanout", "echo", "idle"}));
  cmd->add_option("--url", o->url,
                  "Server to load (default ws://127.0.0.1:8080/v1/ws; --preset centrifugo: "
                  "ws://127.0.0.1:8080/connection/websocket; echo, or --preset broadcast: ws://127.0.0.1:8080/)");
  cmd->add_option("--preset", o->preset,
                  "sluice: subscribe and publish with Sluice's /v1/ws protocol; centrifugo: with Centrifugo's JSON "
                  "client protocol (fanout; Sluice's /connection/websocket or a Centrifugo server); broadcast: a "
                  "server that sends every message to every other client (echo servers for `echo`)")
      ->check(CLI::IsMember({"sluice", "centrifugo", "broadcast"}))
      ->capture_default_str();
  cmd->add_option("-n,--connections", load.connections, "fanout: subscribers; echo, idle: connections")
      ->capture_default_str();
  cmd->add_option("--payload", load.payload, "Payload bytes (default 64; echo 512; at least 36)");
  cmd->add_option("--in-flight", load.in_flight, "fanout: messages the slowest subscriber may lag behind")
      ->capture_default_str();
  cmd->add_option("--topic", load.topic, "fanout, sluice preset: the topic; centrifugo preset: the channel")
      ->capture_default_str();
  cmd->add_option("--message-prefix", load.message_prefix,
                  "broadcast preset: put before every published message and strip on receipt");
  cmd->add_option("--warmup", load.warmup, "Seconds before the measured window")->capture_default_str();
  cmd->add_option("--duration", load.duration, "Seconds measured (idle: seconds held)")->capture_default_str();
  cmd->add_option("--connect-timeout", load.connect_timeout, "Seconds to open every connection")
      ->capture_default_str();
  cmd->add_option("--connect-concurrency", load.connect_concurrency, "Handshakes in progress at once")
      ->capture_default_str();
  cmd->add_option("--server-pid", load.server_pid,
                  "A server process on this machine: report its CPU use over the measured window too");
  cmd->add_flag("--json", o->json, "After the table, print the result as one JSON object on the last line");
  cmd->add_flag("--csv", o->csv, "Print the result as CSV: a header line and one row")->excludes("--json");
  cmd->add_flag("--no-progress", o->no_progress, "No live progress line (it is shown only on a terminal anyway)");
  cmd->footer(
      "The result: rates over the measured window, latency percentiles, and the load client's own CPU use\n"
      "(loadgen_cpu_pct; above 90% it warns: the load client, not the server, may be the limit).\n"
      "Example: sluice bench fanout -n 1000 --duration 10 --json");
  cmd->callback([o] { std::exit(run(*o)); });
}

}  // namespace sluice::cli
