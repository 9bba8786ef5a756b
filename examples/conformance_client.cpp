// A client testee in the Autobahn|Testsuite convention: asks the fuzzing
// server for its case count, runs every case by echoing each message until the
// server closes, then asks it to write its reports.
//
//   conformance_client --url ws://127.0.0.1:9001 --agent sluice
#include <CLI/CLI.hpp>

#include <boost/asio/io_context.hpp>

#include <charconv>
#include <functional>
#include <iostream>
#include <string>

#include "sluice/net/connection.hpp"

namespace {

namespace net = sluice::net;
using sluice::protocol::MessageType;

struct Runner {
  boost::asio::io_context& io;
  net::WsUrl base;
  std::string agent;
  bool deflate = true;
  int case_count = -1;
  int failures = 0;

  net::ClientOptions options_for(const std::string& target) {
    net::ClientOptions options;
    options.handshake.target = target;
    options.handshake.deflate.enabled = deflate;
    options.codec.max_message_size = 64 * 1024 * 1024;
    options.codec.max_frame_size = 64 * 1024 * 1024;
    options.timeouts.handshake = std::chrono::seconds(30);
    return options;
  }

  // Opens `target`; echoes messages when `echo`; calls `done` when it closed.
  void open(const std::string& target, bool echo, std::function<void(const std::string&)> on_text,
            std::function<void()> done) {
    net::ConnectionCallbacks callbacks;
    callbacks.on_message = [echo, on_text](net::Connection& c, MessageType type,
                                           std::span<const std::uint8_t> payload) {
      if (echo) {
        (void)c.send(type, payload);
      } else if (on_text) {
        on_text(std::string(reinterpret_cast<const char*>(payload.data()), payload.size()));
      }
    };
    callbacks.on_closed = [this, target, done](net::Connection&, const net::CloseInfo& info) {
      if (!info.was_open) {
        std::cerr << "conformance_client: " << target << ": " << info.error.message() << "\n";
        ++failures;
      }
      done();
    };
    net::connect(io, base, options_for(target), std::move(callbacks));
  }

  void run_case(int n) {
    if (n > case_count) {
      return open("/updateReports?agent=" + agent, false, nullptr,
                  [this] { std::cout << "reports updated for agent " << agent << "\n"; });
    }
    open("/runCase?case=" + std::to_string(n) + "&agent=" + agent, true, nullptr,
         [this, n] { run_case(n + 1); });
  }

  void start() {
    open("/getCaseCount", false,
         [this](const std::string& text) {
           int count = -1;
           const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
           if (ec == std::errc() && end == text.data() + text.size() && count >= 0) case_count = count;
         },
         [this] {
           if (case_count < 0) {
             std::cerr << "conformance_client: no valid case count from " << base.host_header() << "\n";
             ++failures;
             return;
           }
           std::cout << "running " << case_count << " cases as agent " << agent << "\n";
           run_case(1);
         });
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Autobahn-style conformance client testee"};
  std::string url = "ws://127.0.0.1:9001";
  std::string agent = "sluice";
  bool no_deflate = false;
  app.add_option("--url", url, "Fuzzing server URL")->capture_default_str();
  app.add_option("--agent", agent, "Agent name for the reports")->capture_default_str();
  app.add_flag("--no-deflate", no_deflate, "Do not offer permessage-deflate");
  CLI11_PARSE(app, argc, argv);

  auto base = net::parse_ws_url(url);
  if (!base) {
    std::cerr << "conformance_client: not a ws:// or wss:// URL: " << url << "\n";
    return 2;
  }
  boost::asio::io_context io;
  Runner runner{io, *base, agent, !no_deflate};
  runner.start();
  io.run();
  return runner.failures == 0 ? 0 : 1;
}
