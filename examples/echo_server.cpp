// Echoes every WebSocket message back to its sender. For conformance tools
// (Autobahn|Testsuite's fuzzingclient pointed at ws://127.0.0.1:9001) and for
// interop tests with other WebSocket implementations.
#include <CLI/CLI.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <iostream>

#include "sluice/net/server.hpp"
#include "sluice/net/tls.hpp"

int main(int argc, char** argv) {
  namespace net = sluice::net;
  CLI::App app{"sluice echo server: echoes every WebSocket message back"};
  net::ServerOptions options;
  std::string cert_file, key_file;
  bool no_deflate = false;
  std::size_t max_message = 64 * 1024 * 1024;
  app.add_option("--address", options.address, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "Port to listen on (0: any free port, printed at start)")
      ->capture_default_str();
  app.add_option("--max-message", max_message, "Largest message accepted, in bytes")->capture_default_str();
  app.add_flag("--no-deflate", no_deflate, "Do not offer permessage-deflate");
  app.add_option("--tls-cert", cert_file, "PEM certificate chain: serve wss://");
  app.add_option("--tls-key", key_file, "PEM private key for --tls-cert");
  CLI11_PARSE(app, argc, argv);

  if (cert_file.empty() != key_file.empty()) {
    std::cerr << "echo_server: --tls-cert and --tls-key go together\n";
    return 2;
  }
  if (!cert_file.empty()) {
    std::string error;
    options.tls = net::make_server_tls_context(cert_file, key_file, error);
    if (!options.tls) {
      std::cerr << "echo_server: " << error << "\n";
      return 2;
    }
  }
  options.connection.handshake.deflate.enabled = !no_deflate;
  options.connection.codec.max_message_size = max_message;
  options.connection.codec.max_frame_size = max_message;
  // Room for a couple of echoes in flight: an echo server's client is not slow
  // because its messages are big.
  options.connection.send_queue_limit = 2 * max_message;

  net::ConnectionCallbacks callbacks;
  callbacks.on_message = [](net::Connection& c, sluice::protocol::MessageType type,
                            std::span<const std::uint8_t> payload) { (void)c.send(type, payload); };

  boost::asio::io_context io;
  net::Server server(io, options, callbacks);
  if (auto ec = server.listen()) {
    std::cerr << "echo_server: cannot listen on " << options.address << ":" << options.port << ": "
              << ec.message() << "\n";
    return 1;
  }
  server.start();
  // The first line on stdout names the URL: scripts wait for it to know the server is up.
  std::printf("listening on %s://%s:%u\n", options.tls ? "wss" : "ws", options.address.c_str(),
              static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  io.run();
  return 0;
}
