// Replay to a reconnecting client: publishes N events to one topic of a
// running `sluice serve` over /v1/ws, then, R times, connects afresh and
// subscribes with since {offset 0, epoch}, timing from the subscribe request
// to the last replayed event (every offset checked, in order, once).
//
// Usage: sluice_replay_bench --port P [--events 100000] [--payload 64]
//          [--rounds 5] [--topic bench.replay]
// The server needs history for N events: --history-max-events >= N and a
// --history-max-bytes that holds them (see bench/run_http_bench.sh).
#include <boost/asio/io_context.hpp>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/net/connection.hpp"

namespace {

namespace net = sluice::net;
using Clock = std::chrono::steady_clock;

// The number after `"name":` in `text` at or after `from` (0 if none).
std::uint64_t number_after(std::string_view text, std::string_view name, std::size_t from = 0) {
  const std::string needle = "\"" + std::string(name) + "\":";
  const auto at = text.find(needle, from);
  if (at == std::string_view::npos) return 0;
  std::uint64_t value = 0;
  for (std::size_t i = at + needle.size(); i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  return value;
}

std::string string_after(std::string_view text, std::string_view name) {
  const std::string needle = "\"" + std::string(name) + "\":\"";
  const auto at = text.find(needle);
  if (at == std::string_view::npos) return {};
  const auto start = at + needle.size();
  return std::string(text.substr(start, text.find('"', start) - start));
}

// One /v1/ws connection driven by `io` on this thread; `on_text` sees every message.
struct Session {
  std::shared_ptr<net::Connection> connection;
  bool open = false, closed = false;
  std::function<void(std::string_view)> on_text;

  Session(boost::asio::io_context& io, std::uint16_t port) {
    net::ConnectionCallbacks callbacks;
    callbacks.on_open = [this](net::Connection&) { open = true; };
    callbacks.on_message = [this](net::Connection&, sluice::protocol::MessageType, std::span<const std::uint8_t> p) {
      if (on_text) on_text({reinterpret_cast<const char*>(p.data()), p.size()});
    };
    callbacks.on_closed = [this](net::Connection&, const net::CloseInfo&) { closed = true; };
    net::ClientOptions options;
    options.codec.max_message_size = 16 * 1024 * 1024;
    connection = net::connect(io, net::WsUrl{false, "127.0.0.1", port, "/v1/ws"}, options, std::move(callbacks));
  }
};

template <class Done>
bool run_until(boost::asio::io_context& io, Done done, std::chrono::seconds bound) {
  const auto deadline = Clock::now() + bound;
  while (!done() && Clock::now() < deadline) {
    if (io.run_one_for(std::chrono::milliseconds(10)) == 0 && io.stopped()) io.restart();
  }
  return done();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Replay of N events to a reconnecting /v1/ws client");
  std::uint16_t port = 0;
  std::size_t events = 100'000, payload = 64, rounds = 5;
  std::string topic = "bench.replay";
  app.add_option("--port", port, "sluice serve's port")->required();
  app.add_option("--events", events, "events to publish, then replay")->capture_default_str();
  app.add_option("--payload", payload, "bytes of padding in each event's data")->capture_default_str();
  app.add_option("--rounds", rounds, "reconnect + replay rounds")->capture_default_str();
  app.add_option("--topic", topic, "topic (use a fresh one per run)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  boost::asio::io_context io;
  // 1. Publish, with a bounded window of acks outstanding.
  std::string epoch;
  std::uint64_t first_offset = 0, last_offset = 0;
  {
    Session s(io, port);
    if (!run_until(io, [&] { return s.open || s.closed; }, std::chrono::seconds(10)) || !s.open) {
      std::fprintf(stderr, "cannot connect to 127.0.0.1:%u\n", port);
      return 1;
    }
    std::size_t sent = 0, acked = 0, errors = 0;
    const std::string body = "{\"op\":\"publish\",\"topic\":\"" + topic + "\",\"data\":{\"pad\":\"" +
                             std::string(payload, 'x') + "\"},\"id\":";
    s.on_text = [&](std::string_view text) {
      if (text.find("\"type\":\"ack\"") == std::string_view::npos) {
        ++errors;
        return;
      }
      ++acked;
      const auto offset = number_after(text, "offset");
      if (first_offset == 0 || offset < first_offset) first_offset = offset;
      last_offset = std::max(last_offset, offset);
      if (epoch.empty()) epoch = string_after(text, "epoch");
    };
    const auto t0 = Clock::now();
    constexpr std::size_t kWindow = 2000;
    while (acked + errors < events) {
      while (sent < events && sent - acked - errors < kWindow) {
        (void)s.connection->send_text(body + std::to_string(sent++) + "}");
      }
      io.run_one_for(std::chrono::milliseconds(100));
      if (s.closed) break;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (errors > 0 || acked != events) {
      std::fprintf(stderr, "publish: %zu acked, %zu errors of %zu\n", acked, errors, events);
      return 1;
    }
    std::printf("published %zu events (offsets %llu..%llu) in %.3f s (%.0f/s, in-band, acked)\n", events,
                static_cast<unsigned long long>(first_offset), static_cast<unsigned long long>(last_offset), seconds,
                static_cast<double>(events) / seconds);
    s.connection->close(1000, "bye");
    run_until(io, [&] { return s.closed; }, std::chrono::seconds(5));
  }

  // 2. Reconnect and replay, `rounds` times.
  std::vector<double> times;
  for (std::size_t round = 0; round < rounds; ++round) {
    Session s(io, port);
    if (!run_until(io, [&] { return s.open || s.closed; }, std::chrono::seconds(10)) || !s.open) return 1;
    std::uint64_t expected = first_offset, received = 0;
    bool recovered = false, in_order = true;
    s.on_text = [&](std::string_view text) {
      if (text.starts_with("{\"type\":\"event\"")) {
        if (number_after(text, "offset") != expected) in_order = false;
        ++expected;
        ++received;
      } else if (text.find("\"recovered\":true") != std::string_view::npos) {
        recovered = true;
      }
    };
    const auto t0 = Clock::now();
    (void)s.connection->send_text("{\"op\":\"subscribe\",\"id\":1,\"topic\":\"" + topic +
                                  "\",\"since\":{\"offset\":" + std::to_string(first_offset - 1) +
                                  ",\"epoch\":\"" + epoch + "\"}}");
    const bool done = run_until(io, [&] { return received >= events || s.closed; }, std::chrono::seconds(60));
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!done || received != events || !in_order || !recovered) {
      std::fprintf(stderr, "round %zu: %llu of %zu events, in order: %d, recovered: %d\n", round,
                   static_cast<unsigned long long>(received), events, in_order, recovered);
      return 1;
    }
    times.push_back(seconds);
    std::printf("round %zu: replayed %zu events in %.3f s (%.0f events/s)\n", round, events, seconds,
                static_cast<double>(events) / seconds);
    s.connection->close(1000, "bye");
    run_until(io, [&] { return s.closed; }, std::chrono::seconds(5));
  }
  std::sort(times.begin(), times.end());
  std::printf("replay of %zu events: min %.3f s, median %.3f s, max %.3f s\n", events, times.front(),
              times[times.size() / 2], times.back());
  return 0;
}
