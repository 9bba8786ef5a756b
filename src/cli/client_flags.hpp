// The connection flags `sluice cat`, `pub` and `sub` share (headers, TLS,
// proxy, reconnect and liveness), and the plumbing they share: stdin read as
// lines, and signals that ask to stop.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/client/client.hpp"
#include "sluice/client/options.hpp"
#include "sluice/client/topic_client.hpp"

namespace sluice::cli {

struct ConnectionFlags {
  std::vector<std::string> failover_urls;  // other nodes of the cluster, tried in turn on reconnect
  std::vector<std::string> headers;
  std::string ca_file;
  std::string proxy;
  bool insecure = false;
  bool no_reconnect = false;
  bool quiet = false;
  std::string token;    ///< --token, else $SLUICE_TOKEN
  std::string api_key;  ///< --api-key, else $SLUICE_API_KEY
  std::uint32_t max_attempts = 0;
  double connect_timeout = 10, ping_interval = 15, backoff_min = 0.5, backoff_max = 20;
};

/// Adds -H, --token, --api-key, --ca, -k, --proxy, --no-reconnect,
/// --max-attempts, --connect-timeout, --ping-interval, --backoff-min/max and
/// -q to `command`.
void add_connection_flags(CLI::App* command, ConnectionFlags& flags);
/// Fills `options` from the flags; "" or a message for a bad value (a header
/// without ':', both --token and --api-key). The credential comes from
/// --token / --api-key, else from $SLUICE_TOKEN / $SLUICE_API_KEY (a flag
/// wins over both variables); it is never printed.
std::string apply_connection_flags(const ConnectionFlags& flags, client::ClientOptions& options);

/// Set by SIGINT/SIGTERM once install_stop_signals() ran.
extern volatile std::sig_atomic_t g_stop_signal;
void install_stop_signals();

/// Reads stdin until EOF or `stop`, calling `on_line` for each line (without
/// the newline or a trailing '\r'; a last line without a newline too).
/// Polls, so setting `stop` ends it within 100 ms.
void read_stdin_lines(const std::atomic<bool>& stop, const std::function<void(std::string)>& on_line);

/// Says on stderr, in plain words, what happens to `c`'s connection (errors,
/// reconnects, a server's close that will be retried); nothing when `quiet`.
/// The final ending (will_retry false) is left to the command.
void report_connection(client::Client& c, bool quiet);

/// Adds -u/--url (the server for pub/sub), defaulting `url` to $SLUICE_URL,
/// else ws://127.0.0.1:8080.
void add_server_option(CLI::App* command, std::string& url);
/// `path` on the server `url` names: "ws://h:8080", "ws://h:8080/" and
/// "ws://h:8080/v1/ws" all give "ws://h:8080" + path.
std::string server_endpoint(std::string url, std::string_view path);
/// A TopicClient on /v1/ws of the server `url` names; if the URL is refused,
/// prints "sluice <command>: <why>" to stderr and returns null.
std::unique_ptr<client::TopicClient> open_topic_client(const std::string& url, client::TopicClientOptions options,
                                                       std::string_view command);

/// Seconds given on the command line, as a duration.
std::chrono::milliseconds seconds_to_ms(double seconds);

}  // namespace sluice::cli
