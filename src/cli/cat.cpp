// `sluice cat URL`: an interactive WebSocket client (like wscat) on
// sluice::Client. Lines from stdin go out as text messages; messages received
// are printed to stdout, one per line; what happens to the connection is said
// in plain words on stderr. Reconnects with the client's backoff unless
// --no-reconnect. Exit status: 0 after stdin ended, every line was handed to
// the connection and the close completed; 1 when lines were never sent or
// the connection ended for good on its own; 2 for bad arguments.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "cli/client_flags.hpp"
#include "cli/commands.hpp"
#include "sluice/client/client.hpp"

namespace sluice::cli {

namespace {

using Seconds = double;

struct CatOptions {
  std::string url;
  ConnectionFlags connection;
  std::vector<std::string> subprotocols;
  std::string origin;
  bool deflate = false;
  Seconds drain_timeout = 10;
};

// What the main thread waits for.
struct CatEnding {
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

// Sends each line of stdin until EOF or `stop`, then says stdin is done.
void read_stdin(client::Client& c, const std::atomic<bool>& stop, CatEnding& exit, bool quiet) {
  read_stdin_lines(stop, [&](std::string line) {
    const auto status = c.send_text(line);
    if (!client::accepted(status) && !quiet) {
      std::fprintf(stderr, "sluice cat: line not sent: %s\n", client::to_string(status));
    }
  });
  std::lock_guard lock(exit.mutex);
  exit.stdin_done = true;
  exit.changed.notify_all();
}

// The client for --url with the connection flags; null after saying why (exit status 2).
std::unique_ptr<client::Client> make_client(const CatOptions& o) {
  client::ClientOptions options;
  if (auto why = apply_connection_flags(o.connection, options); !why.empty()) {
    std::fprintf(stderr, "sluice cat: %s\n", why.c_str());
    return nullptr;
  }
  options.subprotocols = o.subprotocols;
  options.origin = o.origin;
  options.deflate = o.deflate;
  try {
    return std::make_unique<client::Client>(o.url, std::move(options));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "sluice cat: %s\n", e.what());
    return nullptr;
  }
}

// A message received, as one line on stdout (binary: its size and hex).
void print_message(const client::Message& m) {
  if (m.type == client::MessageType::text) {
    std::fwrite(m.data.data(), 1, m.data.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    std::fprintf(stdout, "<binary %zu bytes> %s\n", m.data.size(), hex(m.data).c_str());
  }
  std::fflush(stdout);
}

// The client's callbacks: what happens to the connection on stderr, messages
// on stdout, and `exit` told when the client stops for good on its own.
void watch_client(client::Client& c, const CatOptions& o, CatEnding& exit) {
  const bool quiet = o.connection.quiet;
  c.on_open([&, quiet](const client::OpenEvent& e) {
    if (quiet) return;
    std::fprintf(stderr, "%s %s%s\n", e.reconnected ? "reconnected to" : "connected to", o.url.c_str(),
                 e.subprotocol.empty() ? "" : (" (subprotocol " + e.subprotocol + ")").c_str());
  });
  c.on_message(print_message);
  report_connection(c, quiet);
  c.on_close([&, quiet](const client::CloseEvent& e) {
    if (e.will_retry) return;  // reported by report_connection
    if (e.error == client::Error::closed_by_user) return;  // our own close, after stdin ended
    if (!quiet) std::fprintf(stderr, "%s\n", e.description.c_str());
    if (!quiet && e.error == client::Error::terminal_http_status && c.info().http_status == 404 &&
        c.url().target == "/") {
      // Unlike pub and sub, cat talks to any WebSocket server, so it takes the path as given.
      std::fprintf(stderr, "hint: a Sluice server's WebSocket endpoint is /v1/ws: try %s\n",
                   server_endpoint(o.url, "/v1/ws").c_str());
    }
    std::lock_guard lock(exit.mutex);
    exit.client_done = true;
    exit.changed.notify_all();
  });
}

// Waits until stdin ended, the client stopped for good or a signal came;
// true when it was the client.
bool wait_for_end(CatEnding& exit) {
  std::unique_lock lock(exit.mutex);
  while (!exit.stdin_done && !exit.client_done && g_stop_signal == 0) {
    exit.changed.wait_for(lock, std::chrono::milliseconds(100));  // also notices signals
  }
  return exit.client_done;
}

// The exit status when the client did not end on its own: 0, or 1 when stdin
// ended and its lines never went out or the connection ended meanwhile.
int flush_typed_lines(client::Client& c, const CatOptions& o, CatEnding& exit) {
  if (g_stop_signal != 0) return 0;
  int status = 0;
  // stdin ended: let what was typed go out before closing. flush() is false
  // on timeout, and when the client stopped for good and dropped lines.
  if (!c.flush(seconds_to_ms(o.drain_timeout))) {
    if (!o.connection.quiet) std::fprintf(stderr, "sluice cat: lines were never sent\n");
    status = 1;
  }
  std::lock_guard lock(exit.mutex);
  if (exit.client_done) status = 1;  // the connection ended on its own meanwhile
  return status;
}

int run(const CatOptions& o) {
  std::unique_ptr<client::Client> c = make_client(o);
  if (!c) return 2;
  CatEnding exit;
  watch_client(*c, o, exit);

  install_stop_signals();
  c->connect();
  std::atomic<bool> stop_reading{false};
  std::thread reader([&] { read_stdin(*c, stop_reading, exit, o.connection.quiet); });
  const bool ended_by_client = wait_for_end(exit);
  stop_reading = true;
  reader.join();

  const int status = ended_by_client ? 1 : flush_typed_lines(*c, o, exit);
  c->close(1000, "");
  c.reset();
  return status;
}

}  // namespace

void add_cat_command(CLI::App& app) {
  auto o = std::make_shared<CatOptions>();
  CLI::App* cat = app.add_subcommand("cat", "Interactive WebSocket client: stdin lines out, messages to stdout");
  cat->add_option("url", o->url, "ws:// or wss:// URL")->required();
  add_connection_flags(cat, o->connection);
  cat->add_option("-s,--subprotocol", o->subprotocols, "Offer this subprotocol (repeatable)")
      ->allow_extra_args(false);
  cat->add_option("-o,--origin", o->origin, "Origin header");
  cat->add_flag("--deflate", o->deflate, "Offer permessage-deflate");
  cat->add_option("--drain-timeout", o->drain_timeout, "After stdin ends, wait this long for unsent lines, seconds")
      ->capture_default_str();
  cat->callback([o] { std::exit(run(*o)); });
}

}  // namespace sluice::cli
