// sluice_loadgen: the load client of bench/run_server_bench.sh (docs/benchmarks.md);
// the same scenarios as `sluice bench`, printing one RESULT line the script parses.
// One thread, raw epoll, non-blocking sockets, Sluice's sans-I/O protocol
// core for the handshake and framing. Pin it to its own core (taskset).
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <exception>

#include "options.hpp"
#include "payload.hpp"
#include "scenarios.hpp"

int main(int argc, char** argv) {
  using namespace sluice::bench;
  Options o;
  CLI::App app{"sluice_loadgen: WebSocket load client for fan-out, echo and idle-connection benchmarks"};
  app.add_option("mode", o.mode, "fanout, echo or idle")->required()->check(CLI::IsMember({"fanout", "echo", "idle"}));
  std::string protocol = "sluice";
  app.add_option("--protocol", protocol,
                 "sluice (subscribe/publish on /v1/ws), centrifugo (Centrifugo's JSON protocol on "
                 "/connection/websocket) or broadcast (peers)")
      ->check(CLI::IsMember({"sluice", "centrifugo", "broadcast"}))->capture_default_str();
  app.add_option("--host", o.host, "Server address (loopback only)")->capture_default_str();
  app.add_option("--port", o.port, "Server port")->capture_default_str();
  app.add_option("--path", o.path,
                 "Request target (default: /v1/ws for sluice fanout/idle, /connection/websocket for centrifugo, / "
                 "otherwise)");
  app.add_option("-n,--connections", o.connections, "fanout: subscribers; echo, idle: connections")
      ->capture_default_str();
  app.add_option("--payload", o.payload, "Payload bytes (default 64 for fanout, 512 for echo)");
  app.add_option("--in-flight", o.in_flight, "fanout: messages the slowest subscriber may lag behind")
      ->capture_default_str();
  app.add_option("--topic", o.topic, "fanout, sluice: the topic")->capture_default_str();
  app.add_option("--warmup", o.warmup, "Seconds before the measured window")->capture_default_str();
  app.add_option("--duration", o.duration, "Seconds measured (idle: longest hold)")->capture_default_str();
  app.add_option("--stall-timeout", o.stall_timeout, "fanout: seconds without progress before failing")
      ->capture_default_str();
  app.add_option("--connect-timeout", o.connect_timeout, "Seconds to open every connection")->capture_default_str();
  app.add_option("--connect-concurrency", o.connect_concurrency, "Handshakes in progress at once")
      ->capture_default_str();
  app.add_option("--server-pid", o.server_pid, "Server process: report its CPU use over the window too");
  app.add_flag("--lag-report", o.lag_report, "fanout: print how far subscribers lag behind the publisher at the end");
  app.add_option("--message-prefix", o.message_prefix,
                 "broadcast: prefix of every published message, stripped on receipt (uWebSockets peer: b:)");
  app.add_option("--label", o.label, "Free text copied into the RESULT line (no spaces)");
  CLI11_PARSE(app, argc, argv);

  o.protocol = protocol == "sluice" ? Protocol::sluice
               : protocol == "centrifugo" ? Protocol::centrifugo
                                          : Protocol::broadcast;
  if (o.protocol == Protocol::centrifugo && o.mode != "fanout") {
    std::fprintf(stderr, "--protocol centrifugo is for fanout only\n");
    return 2;
  }
  if (o.path.empty()) {
    o.path = o.protocol == Protocol::centrifugo                      ? "/connection/websocket"
             : (o.protocol == Protocol::sluice && o.mode != "echo") ? "/v1/ws"
                                                                     : "/";
  }
  if (o.payload == 0) o.payload = o.mode == "echo" ? 512 : 64;
  if (o.payload < kMinPayloadSize) {
    std::fprintf(stderr, "--payload must be at least %zu bytes\n", kMinPayloadSize);
    return 2;
  }
  if (o.connections == 0 || o.in_flight == 0) {
    std::fprintf(stderr, "--connections and --in-flight must be positive\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    if (o.mode == "fanout") return run_fanout(o);
    if (o.mode == "echo") return run_echo(o);
    return run_idle(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice_loadgen: %s\n", e.what());
    return 1;
  }
}
