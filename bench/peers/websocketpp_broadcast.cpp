// A broadcast (or echo) WebSocket server on websocketpp (asio transport, no
// TLS), a peer Sluice is compared with in docs/benchmarks.md. Written after
// websocketpp's broadcast_server and echo_server examples: a set of
// connection handles, the received message_ptr sent on to every other
// connection, everything on the one thread that runs the server.
//
//   websocketpp_broadcast [--mode broadcast|echo] [--address 127.0.0.1] [--port 9003]
//
// Prints "listening on ws://ADDRESS:PORT" once it accepts connections.
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

namespace {

using Server = websocketpp::server<websocketpp::config::asio>;
using websocketpp::connection_hdl;

// A subscriber more than this far behind is closed, as Sluice's default
// send-queue limit would (the example queues without bound).
constexpr std::size_t kMaxQueuedBytes = 1024 * 1024;

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1", mode = "broadcast", port = "9003";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--mode") mode = argv[i + 1];
    else if (flag == "--address") address = argv[i + 1];
    else if (flag == "--port") port = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: websocketpp_broadcast [--mode broadcast|echo] [--address A] [--port P]\n");
      return 2;
    }
  }
  if (mode != "broadcast" && mode != "echo") {
    std::fprintf(stderr, "websocketpp_broadcast: --mode is broadcast or echo\n");
    return 2;
  }
  const bool echo = mode == "echo";

  Server server;
  std::set<connection_hdl, std::owner_less<connection_hdl>> connections;
  server.clear_access_channels(websocketpp::log::alevel::all);
  server.clear_error_channels(websocketpp::log::elevel::all);
  server.init_asio();
  server.set_reuse_addr(true);
  server.set_listen_backlog(4096);
  server.set_open_handler([&](connection_hdl hdl) { connections.insert(hdl); });
  server.set_close_handler([&](connection_hdl hdl) { connections.erase(hdl); });
  server.set_fail_handler([&](connection_hdl hdl) { connections.erase(hdl); });
  server.set_message_handler([&](connection_hdl hdl, Server::message_ptr msg) {
    websocketpp::lib::error_code ec;
    if (echo) {
      server.send(hdl, msg->get_payload(), msg->get_opcode(), ec);
      return;
    }
    for (const auto& other : connections) {
      if (!connections.key_comp()(other, hdl) && !connections.key_comp()(hdl, other)) continue;  // the sender
      Server::connection_ptr connection = server.get_con_from_hdl(other, ec);
      if (ec) continue;
      if (connection->get_buffered_amount() > kMaxQueuedBytes) {
        connection->terminate(ec);  // slow consumer
        continue;
      }
      connection->send(msg);
    }
  });

  websocketpp::lib::error_code ec;
  server.listen(address, port, ec);
  if (!ec) server.start_accept(ec);
  if (ec) {
    std::fprintf(stderr, "websocketpp_broadcast: listen: %s\n", ec.message().c_str());
    return 1;
  }
  std::printf("listening on ws://%s:%s (%s)\n", address.c_str(), port.c_str(), mode.c_str());
  std::fflush(stdout);
  boost::asio::signal_set signals(server.get_io_service(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { server.stop(); });
  server.run();
  return 0;
}
