// `sluice cat URL`: an interactive WebSocket client (like wscat) on
// sluice::Client. Lines from stdin go out as text messages; messages received
// are printed to stdout, one per line; what happens to the connection is said
// in plain words on stderr. Reconnects with the client's backoff unless
// --no-reconnect. Exit status: 0 after stdin ended and the close completed,
// 1 when the connection ended for good on its own, 2 for bad arguments.
#include <CLI/CLI.hpp>

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "cli/commands.hpp"
#include "sluice/client/client.hpp"

namespace sluice::cli {

namespace {

using Seconds = double;
std::chrono::milliseconds ms(Seconds s) { return std::chrono::milliseconds(static_cast<long long>(s * 1000)); }

struct CatOptions {
  std::string url;
  std::vector<std::string> headers;
  std::vector<std::string> subprotocols;
  std::string origin;
  std::string ca_file;
  std::string proxy;
  bool insecure = false;
  bool no_reconnect = false;
  bool deflate = false;
  bool quiet = false;
  std::uint32_t max_attempts = 0;
  Seconds connect_timeout = 10, ping_interval = 15, backoff_min = 0.5, backoff_max = 20, drain_timeout = 10;
};

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int signal_number) { g_signal = signal_number; }

// What the main thread waits for.
struct Exit {
  std::mutex mutex;
  std::condition_variable changed;
  bool stdin_done = false;
  bool client_done = false;  // the client stopped for good on its own
};

std::string hex(std::span<const std::uint8_t> data) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (auto b : data) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

// Reads stdin until EOF or `stop`, sending each line. poll() keeps it stoppable.
void read_stdin(client::Client& c, const std::atomic<bool>& stop, Exit& exit, bool quiet) {
  std::string pending;
  char buffer[16 * 1024];
  auto send_line = [&](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto status = c.send_text(line);
    if (!client::accepted(status) && !quiet) {
      std::fprintf(stderr, "sluice cat: line not sent: %s\n", client::to_string(status));
    }
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
      send_line(pending.substr(start, nl - start));
    }
    pending.erase(0, start);
  }
  if (!stop && !pending.empty()) send_line(pending);  // a last line without a newline
  std::lock_guard lock(exit.mutex);
  exit.stdin_done = true;
  exit.changed.notify_all();
}

int run(const CatOptions& o) {
  client::ClientOptions options;
  for (const auto& header : o.headers) {
    const auto colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      std::fprintf(stderr, "sluice cat: -H wants \"Name: value\", not '%s'\n", header.c_str());
      return 2;
    }
    std::string value = header.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    options.headers.emplace_back(header.substr(0, colon), value);
  }
  options.subprotocols = o.subprotocols;
  options.origin = o.origin;
  options.deflate = o.deflate;
  options.tls.ca_file = o.ca_file;
  options.tls.verify_peer = !o.insecure;
  options.proxy.url = o.proxy;
  options.reconnect.enabled = !o.no_reconnect;
  options.reconnect.max_attempts = o.max_attempts;
  options.reconnect.backoff.floor = ms(o.backoff_min);
  options.reconnect.backoff.max = ms(o.backoff_max);
  options.timeouts.connect = ms(o.connect_timeout);
  options.timeouts.handshake = ms(o.connect_timeout);
  options.liveness.ping_interval = ms(o.ping_interval);

  std::unique_ptr<client::Client> c;
  try {
    c = std::make_unique<client::Client>(o.url, std::move(options));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "sluice cat: %s\n", e.what());
    return 2;
  }

  Exit exit;
  const bool quiet = o.quiet;
  c->on_open([&, quiet](const client::OpenEvent& e) {
    if (quiet) return;
    std::fprintf(stderr, "%s %s%s\n", e.reconnected ? "reconnected to" : "connected to", o.url.c_str(),
                 e.subprotocol.empty() ? "" : (" (subprotocol " + e.subprotocol + ")").c_str());
  });
  c->on_message([](const client::Message& m) {
    if (m.type == client::MessageType::text) {
      std::fwrite(m.data.data(), 1, m.data.size(), stdout);
      std::fputc('\n', stdout);
    } else {
      std::fprintf(stdout, "<binary %zu bytes> %s\n", m.data.size(), hex(m.data).c_str());
    }
    std::fflush(stdout);
  });
  c->on_error([quiet](const client::ErrorEvent& e) {
    if (!quiet) std::fprintf(stderr, "%s\n", e.message.c_str());
  });
  c->on_reconnecting([quiet](std::uint32_t attempt, std::chrono::milliseconds delay) {
    if (!quiet) {
      std::fprintf(stderr, "reconnecting in %.1f s (attempt %u)\n", static_cast<double>(delay.count()) / 1000.0,
                   attempt);
    }
  });
  c->on_close([&, quiet](const client::CloseEvent& e) {
    if (e.will_retry) {
      // A lost connection was already reported by on_error; a clean close by the server was not.
      if (!quiet && e.code != 1006 && !e.error) std::fprintf(stderr, "%s\n", e.description.c_str());
      return;
    }
    if (e.error == client::Error::closed_by_user) return;  // our own close, after stdin ended
    if (!quiet) std::fprintf(stderr, "%s\n", e.description.c_str());
    std::lock_guard lock(exit.mutex);
    exit.client_done = true;
    exit.changed.notify_all();
  });

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  c->connect();
  std::atomic<bool> stop_reading{false};
  std::thread reader([&] { read_stdin(*c, stop_reading, exit, quiet); });

  bool ended_by_client = false;
  {
    std::unique_lock lock(exit.mutex);
    while (!exit.stdin_done && !exit.client_done && g_signal == 0) {
      exit.changed.wait_for(lock, std::chrono::milliseconds(100));  // also notices signals
    }
    ended_by_client = exit.client_done;
  }
  stop_reading = true;
  reader.join();

  int status = ended_by_client ? 1 : 0;
  if (!ended_by_client && g_signal == 0) {
    // stdin ended: let what was typed go out before closing.
    if (!c->flush(ms(o.drain_timeout))) {
      if (!quiet) std::fprintf(stderr, "sluice cat: %zu bytes were never sent\n", c->queued_bytes());
      status = 1;
    }
  }
  c->close(1000, "");
  c.reset();
  return status;
}

}  // namespace

void add_cat_command(CLI::App& app) {
  auto o = std::make_shared<CatOptions>();
  CLI::App* cat = app.add_subcommand("cat", "Interactive WebSocket client: stdin lines out, messages to stdout");
  cat->add_option("url", o->url, "ws:// or wss:// URL")->required();
  // One value per flag (repeat the flag), so a vector option never swallows the URL.
  cat->add_option("-H,--header", o->headers, "Extra handshake header \"Name: value\" (repeatable)")
      ->allow_extra_args(false);
  cat->add_option("-s,--subprotocol", o->subprotocols, "Offer this subprotocol (repeatable)")
      ->allow_extra_args(false);
  cat->add_option("-o,--origin", o->origin, "Origin header");
  cat->add_option("--ca", o->ca_file, "PEM CA bundle to verify a wss:// server with");
  cat->add_flag("-k,--insecure", o->insecure, "Do not verify the wss:// server's certificate");
  cat->add_option("--proxy", o->proxy, "HTTP CONNECT proxy http://host:port (default: $http_proxy for ws://)");
  cat->add_flag("--deflate", o->deflate, "Offer permessage-deflate");
  cat->add_flag("--no-reconnect", o->no_reconnect, "Exit when the connection ends instead of reconnecting");
  cat->add_option("--max-attempts", o->max_attempts, "Give up after this many failed reconnects (0: never)")
      ->capture_default_str();
  cat->add_option("--connect-timeout", o->connect_timeout, "Seconds for connect and for the handshake")
      ->capture_default_str();
  cat->add_option("--ping-interval", o->ping_interval, "Ping when the server was quiet this many seconds (0: never)")
      ->capture_default_str();
  cat->add_option("--backoff-min", o->backoff_min, "Shortest wait before a reconnect, seconds")->capture_default_str();
  cat->add_option("--backoff-max", o->backoff_max, "Longest wait before a reconnect, seconds")->capture_default_str();
  cat->add_option("--drain-timeout", o->drain_timeout, "After stdin ends, wait this long for unsent lines, seconds")
      ->capture_default_str();
  cat->add_flag("-q,--quiet", o->quiet, "Nothing on stderr but argument errors");
  cat->callback([o] { std::exit(run(*o)); });
}

}  // namespace sluice::cli
