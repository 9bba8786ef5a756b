// sluice_loadgen: the load client of bench/run_server_bench.sh (docs/benchmarks.md);
// the same scenarios as `sluice bench`, printing one RESULT line the script parses.
// One thread (fanout, echo, publish, churn: --threads N), raw epoll, non-blocking sockets, Sluice's sans-I/O protocol
// core for the handshake and framing. Pin it to its own core (taskset).
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>

#include "options.hpp"
#include "payload.hpp"
#include "scenarios.hpp"
#include "stream.hpp"

int main(int argc, char** argv) {
  using namespace sluice::bench;
  Options o;
  CLI::App app{"sluice_loadgen: load client for the fan-out, echo, idle, publish, churn and storm benchmarks"};
  app.add_option("mode", o.mode, "fanout, echo, idle, publish (HTTP), churn or storm")
      ->required()
      ->check(CLI::IsMember({"fanout", "echo", "idle", "publish", "churn", "storm"}));
  std::string protocol = "sluice";
  app.add_option("--protocol", protocol,
                 "sluice (subscribe/publish on /v1/ws), centrifugo (Centrifugo's JSON protocol on "
                 "/connection/websocket) or broadcast (peers)")
      ->check(CLI::IsMember({"sluice", "centrifugo", "broadcast"}))->capture_default_str();
  app.add_option("--host", o.host, "Server address (loopback only)")->capture_default_str();
  app.add_option("--port", o.port, "Server port")->capture_default_str();
  app.add_option("--path", o.path,
                 "Request target (default: /v1/events for publish, /v1/ws for sluice, /connection/websocket for "
                 "centrifugo (/api/publish for publish), / otherwise)");
  app.add_option("-n,--connections", o.connections, "fanout: subscribers; echo, idle: connections")
      ->capture_default_str();
  app.add_option("--payload", o.payload, "Payload bytes (default 64 for fanout, 512 for echo)");
  app.add_option("--threads", o.threads,
                 "fanout, echo, publish, churn: load threads, the connections spread over them (fanout: the "
                 "subscribers; the publisher on the first)")
      ->capture_default_str();
  app.add_option("--pipeline", o.pipeline, "publish: requests in flight per connection")->capture_default_str();
  app.add_option("--rate", o.rate, "storm: events published per second")->capture_default_str();
  app.add_option("--cuts", o.cuts, "storm: times every subscriber is cut")->capture_default_str();
  app.add_option("--in-flight", o.in_flight, "fanout: messages the slowest subscriber may lag behind")
      ->capture_default_str();
  app.add_option("--topic", o.topic, "The topic (storm: default a fresh one per run)")->capture_default_str();
  app.add_option("--warmup", o.warmup, "Seconds before the measured window")->capture_default_str();
  app.add_option("--duration", o.duration, "Seconds measured (idle: longest hold)")->capture_default_str();
  app.add_option("--stall-timeout", o.stall_timeout, "fanout: seconds without progress before failing")
      ->capture_default_str();
  app.add_option("--connect-timeout", o.connect_timeout, "Seconds to open every connection")->capture_default_str();
  app.add_option("--connect-concurrency", o.connect_concurrency, "Handshakes in progress at once")
      ->capture_default_str();
  app.add_option("--server-pid", o.server_pid, "Server process: report its CPU use over the window too");
  app.add_flag("--deflate", o.deflate,
               "WebSocket scenarios: offer permessage-deflate and inflate what arrives (costs the load client CPU)");
  bool tls = false;
  app.add_flag("--tls", tls, "WebSocket scenarios: wss://, TLS without checking the certificate (a test server)");
  app.add_flag("--lag-report", o.lag_report, "fanout: print how far subscribers lag behind the publisher at the end");
  app.add_option("--message-prefix", o.message_prefix,
                 "broadcast: prefix of every published message, stripped on receipt (uWebSockets peer: b:)");
  app.add_option("--label", o.label, "Free text copied into the RESULT line (no spaces)");
  CLI11_PARSE(app, argc, argv);
  o.topic_given = app.count("--topic") > 0;

  o.protocol = protocol == "sluice" ? Protocol::sluice
               : protocol == "centrifugo" ? Protocol::centrifugo
                                          : Protocol::broadcast;
  if (o.protocol == Protocol::centrifugo && o.mode != "fanout" && o.mode != "churn" && o.mode != "publish") {
    std::fprintf(stderr, "--protocol centrifugo is for fanout, churn and publish\n");
    return 2;
  }
  if (o.deflate && o.mode == "publish") {
    std::fprintf(stderr, "--deflate is for the WebSocket scenarios, not publish\n");
    return 2;
  }
  if (o.threads > 1 && (o.mode == "idle" || o.mode == "storm")) {
    std::fprintf(stderr, "--threads is for fanout, echo, publish and churn\n");
    return 2;
  }
  if (o.protocol != Protocol::sluice && o.mode == "storm") {
    std::fprintf(stderr, "storm needs --protocol sluice\n");
    return 2;
  }
  if (o.path.empty()) {
    const bool centrifugo = o.protocol == Protocol::centrifugo;
    o.path = o.mode == "publish"                                      ? (centrifugo ? "/api/publish" : "/v1/events")
             : centrifugo                                             ? "/connection/websocket"
             : (o.protocol == Protocol::sluice && o.mode != "echo") ? "/v1/ws"
                                                                      : "/";
  }
  if (tls) o.tls = std::make_shared<const TlsClient>(false, "", o.mode == "idle");
  if (o.payload == 0) o.payload = o.mode == "echo" ? 512 : 64;
  if (o.payload < kMinPayloadSize) {
    std::fprintf(stderr, "--payload must be at least %zu bytes\n", kMinPayloadSize);
    return 2;
  }
  if (o.connections == 0 || o.in_flight == 0 || o.threads == 0 || o.threads > o.connections || o.pipeline == 0 ||
      o.cuts == 0 || !(o.rate > 0 && o.rate <= 1e6)) {
    std::fprintf(stderr, "--connections, --in-flight, --pipeline, --cuts and --rate must be positive, --threads 1 to --connections\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    if (o.mode == "fanout") return run_fanout(o);
    if (o.mode == "echo") return run_echo(o);
    if (o.mode == "publish") return run_publish(o);
    if (o.mode == "churn") return run_churn(o);
    if (o.mode == "storm") return run_storm(o);
    return run_idle(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice_loadgen: %s\n", e.what());
    return 1;
  }
}
