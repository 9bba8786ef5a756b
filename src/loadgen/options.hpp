// Settings of the load client (sluice_loadgen, `sluice bench`), shared by every scenario.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tcp.hpp"

namespace sluice::bench {

/// How a run reports its result on stdout.
enum class Output {
  result_line,  ///< one "RESULT k=v ..." line (bench/run_server_bench.sh parses it)
  table,        ///< a summary table for a person
  json,         ///< the table, then one JSON object as the last line
  csv,          ///< a header line and one row
};

enum class Protocol {
  sluice,     ///< Sluice's in-band JSON protocol on /v1/ws (subscribe, publish)
  broadcast,  ///< the peers' protocol: every message goes to all other clients
  /// Centrifugo's JSON client protocol on /connection/websocket (connect,
  /// subscribe, publish; pushes may share a frame, newline-separated)
  centrifugo,
};

struct Options {
  std::string mode;  ///< fanout, echo, idle, publish, churn or storm
  Protocol protocol = Protocol::sluice;
  std::string host = "127.0.0.1";   ///< a name or an IPv4 address
  std::uint16_t port = 9001;
  std::string path;                 ///< default: /v1/ws for sluice, /connection/websocket for centrifugo, / otherwise
  /// wss://, https://: TLS with these settings, shared by every connection and thread; null: plain TCP.
  std::shared_ptr<const TlsClient> tls;
  bool deflate = false;             ///< WebSocket scenarios: offer permessage-deflate
  /// Extra request headers: on every HTTP request (publish) and every
  /// WebSocket upgrade (an API key: Authorization: Bearer).
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t connections = 1000;   ///< fanout, storm: subscribers; echo, idle, publish: connections; churn: workers
  /// fanout, echo, publish, churn: load threads, each with its own loop and its
  /// share of the connections (fanout: of the subscribers; the publisher is on the first)
  std::size_t threads = 1;
  std::size_t pipeline = 1;         ///< publish: requests in flight per connection
  double rate = 200;                ///< storm: publishes per second
  std::size_t cuts = 1;             ///< storm: times every subscriber is cut
  bool topic_given = false;         ///< storm: --topic was given (else a fresh topic per run)
  std::string restart_cmd;          ///< storm: a shell command that restarts the server, run instead of each cut
  std::size_t payload = 0;          ///< bytes; default 64 (fanout), 512 (echo)
  std::size_t in_flight = 64;       ///< fanout: messages the slowest subscriber may lag
  std::string topic = "bench";      ///< fanout, publish, storm: the topic; churn: the topic subscribed
  std::size_t topics = 1;           ///< publish: > 1 spreads the connections over <topic>.0 .. <topic>.N-1
  /// fanout: where the subscribers connect instead of --url (nodes of one
  /// cluster): subscriber i to the target i mod count; the publisher to --url.
  std::vector<Target> subscriber_targets;
  double warmup = 2;                ///< seconds before the measured window
  double duration = 10;             ///< seconds of the measured window
  double stall_timeout = 10;        ///< seconds without progress before giving up
  double connect_timeout = 120;     ///< seconds to open every connection
  std::size_t connect_concurrency = 256;
  pid_t server_pid = 0;             ///< when set, the server's CPU use is reported too
  bool lag_report = false;          ///< fanout: print each subscriber's lag at the end (stderr)
  std::string label;                ///< free text copied into the RESULT line
  /// broadcast: put before every published message and strip from what arrives
  /// (the uWebSockets peer publishes only messages that start with "b:").
  std::string message_prefix;
  Output output = Output::result_line;
  bool progress = false;            ///< a live progress line on stderr, once a second
  bool hold_until_stdin_eof = true; ///< idle: also stop holding when stdin closes
};

/// Where a scenario's connections go.
inline Target target_of(const Options& o) { return {o.host, o.port, o.path, o.headers, o.tls, o.deflate}; }

}  // namespace sluice::bench
