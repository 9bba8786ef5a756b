#include "cli/client_flags.hpp"

#include <poll.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace sluice::cli {

namespace {

extern "C" void on_stop_signal(int signal_number) { g_stop_signal = signal_number; }

}  // namespace

std::chrono::milliseconds seconds_to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

volatile std::sig_atomic_t g_stop_signal = 0;

void install_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

void add_connection_flags(CLI::App* command, ConnectionFlags& flags) {
  // One value per flag (repeat the flag), so a vector option never swallows a positional.
  command->add_option("-H,--header", flags.headers, "Extra handshake header \"Name: value\" (repeatable)")
      ->allow_extra_args(false);
  command->add_option("--token", flags.token,
                      "Connection token (JWT, see `sluice token`), sent as Authorization: Bearer "
                      "(default: $SLUICE_TOKEN)");
  command->add_option("--api-key", flags.api_key,
                      "API key, sent as Authorization: Bearer (default: $SLUICE_API_KEY)");
  command->add_option("--ca", flags.ca_file, "PEM CA bundle to verify a wss:// server with");
  command->add_flag("-k,--insecure", flags.insecure, "Do not verify the wss:// server's certificate");
  command->add_option("--failover-url", flags.failover_urls,
                      "Another node of the same cluster (repeatable): each reconnect moves to the next server in "
                      "turn, so a client resumes on another node when its node dies")
      ->allow_extra_args(false);
  command->add_option("--proxy", flags.proxy,
                      "HTTP CONNECT proxy http://host:port (default: $http_proxy for ws://, $https_proxy for wss://)");
  command->add_flag("--no-reconnect", flags.no_reconnect, "Exit when the connection ends instead of reconnecting");
  command->add_option("--max-attempts", flags.max_attempts, "Give up after this many failed reconnects (0: never)")
      ->capture_default_str();
  command->add_option("--connect-timeout", flags.connect_timeout, "Seconds for connect and for the handshake")
      ->capture_default_str();
  command->add_option("--ping-interval", flags.ping_interval,
                      "Ping when the server was quiet this many seconds (0: never)")
      ->capture_default_str();
  command->add_option("--backoff-min", flags.backoff_min, "Shortest wait before a reconnect, seconds")
      ->capture_default_str();
  command->add_option("--backoff-max", flags.backoff_max, "Longest wait before a reconnect, seconds")
      ->capture_default_str();
  command->add_flag("-q,--quiet", flags.quiet, "Nothing on stderr but argument errors");
}

std::string apply_connection_flags(const ConnectionFlags& flags, client::ClientOptions& options) {
  if (!flags.token.empty() && !flags.api_key.empty()) return "give --token or --api-key, not both";
  bool header_credential = false;
  for (const auto& header : flags.headers) {
    const auto colon = header.find(':');
    if (colon == std::string::npos || colon == 0) return "-H wants \"Name: value\", not '" + header + "'";
    std::string value = header.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    header_credential = header_credential || strncasecmp(header.c_str(), "authorization:", colon + 1) == 0;
    options.headers.emplace_back(header.substr(0, colon), value);
  }
  // A flag wins over the variables; so does a credential given with -H.
  std::string credential = !flags.token.empty() ? flags.token : flags.api_key;
  if (!credential.empty() && header_credential) {
    return "-H Authorization and --token/--api-key both give a credential: give one";
  }
  if (credential.empty() && !header_credential) {
    const char* token = std::getenv("SLUICE_TOKEN");
    const char* key = std::getenv("SLUICE_API_KEY");
    const bool has_token = token && *token;
    const bool has_key = key && *key;
    if (has_token && has_key) {
      return "SLUICE_TOKEN and SLUICE_API_KEY are both set: unset one, or give --token or --api-key";
    }
    credential = has_token ? token : has_key ? key : "";
  }
  options.auth.bearer = std::move(credential);
  options.tls.ca_file = flags.ca_file;
  options.tls.verify_peer = !flags.insecure;
  options.proxy.url = flags.proxy;
  options.failover_urls = flags.failover_urls;
  options.reconnect.enabled = !flags.no_reconnect;
  options.reconnect.max_attempts = flags.max_attempts;
  options.reconnect.backoff.floor = seconds_to_ms(flags.backoff_min);
  options.reconnect.backoff.max = seconds_to_ms(flags.backoff_max);
  options.timeouts.connect = seconds_to_ms(flags.connect_timeout);
  options.timeouts.handshake = seconds_to_ms(flags.connect_timeout);
  options.liveness.ping_interval = seconds_to_ms(flags.ping_interval);
  return {};
}

void read_stdin_lines(const std::atomic<bool>& stop, const std::function<void(std::string)>& on_line) {
  std::string pending;
  char buffer[16 * 1024];
  auto emit = [&](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    on_line(std::move(line));
  };
  while (!stop) {
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&fd, 1, 100);
    if (ready == 0) continue;
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      emit(pending.substr(start, nl - start));
    }
    pending.erase(0, start);
  }
  if (!stop && !pending.empty()) emit(pending);
}

void report_connection(client::Client& c, bool quiet) {
  if (quiet) return;
  c.on_error([](const client::ErrorEvent& e) { std::fprintf(stderr, "%s\n", e.message.c_str()); });
  c.on_reconnecting([](std::uint32_t attempt, std::chrono::milliseconds delay) {
    std::fprintf(stderr, "reconnecting in %.1f s (attempt %u)\n", static_cast<double>(delay.count()) / 1000.0, attempt);
  });
  c.on_close([](const client::CloseEvent& e) {
    // A lost connection was already reported by on_error; a clean close by the server was not.
    if (e.will_retry && e.code != 1006 && !e.error) std::fprintf(stderr, "%s\n", e.description.c_str());
  });
}

void add_server_option(CLI::App* command, std::string& url) {
  const char* env = std::getenv("SLUICE_URL");
  url = env && *env ? env : "ws://127.0.0.1:8080";
  command->add_option("-u,--url", url, "The server (default: $SLUICE_URL, else ws://127.0.0.1:8080)")
      ->capture_default_str();
}

std::string server_endpoint(std::string url, std::string_view path) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.ends_with("/v1/ws")) url.resize(url.size() - 6);
  return url.append(path);
}

std::unique_ptr<client::TopicClient> open_topic_client(const std::string& url, client::TopicClientOptions options,
                                                       std::string_view command) {
  try {
    return std::make_unique<client::TopicClient>(server_endpoint(url, "/v1/ws"), std::move(options));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "sluice %.*s: %s\n", static_cast<int>(command.size()), command.data(), e.what());
    return nullptr;
  }
}

}  // namespace sluice::cli
