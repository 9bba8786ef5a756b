// A broadcast (or echo) WebSocket server on uWebSockets, the peer Sluice is
// compared with in docs/benchmarks.md. uWebSockets is published only as
// source: bench/peers/build_uws_peer.sh builds this file against a clone of it
// outside the repository (never vendored). Written after uWebSockets' own
// examples: one App on one thread, every connection subscribed to one topic,
// the library's TopicTree doing the fan-out (each message serialized once).
//
//   uws_broadcast [--mode broadcast|echo] [--port 9005] [--deflate on|off]
//
// broadcast: every message a client sends goes to every other client.
// echo:      every message goes back to its sender.
// Listens on 127.0.0.1, no automatic pings; prints
// "listening on ws://127.0.0.1:PORT" once it accepts connections.
// --deflate on (a build with zlib: build_uws_peer.sh --zlib): permessage-deflate
// with uWebSockets' SHARED_COMPRESSOR, every message published compressed: the
// loop's one deflate stream, reset per message, compresses each send.
#include "App.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// A subscriber more than this far behind is closed, as Sluice's default
// send-queue limit would.
constexpr unsigned kMaxQueuedBytes = 1024 * 1024;

struct PerSocket {};

}  // namespace

int main(int argc, char** argv) {
  bool echo = false, deflate = false;
  int port = 9005;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--mode") {
      echo = std::string_view(argv[i + 1]) == "echo";
    } else if (flag == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (flag == "--deflate" && (std::string_view(argv[i + 1]) == "on" || std::string_view(argv[i + 1]) == "off")) {
      deflate = std::string_view(argv[i + 1]) == "on";
    } else {
      std::fprintf(stderr, "usage: uws_broadcast [--mode broadcast|echo] [--port N] [--deflate on|off]\n");
      return 2;
    }
  }
#ifdef UWS_NO_ZLIB
  if (deflate) {
    std::fprintf(stderr, "uws_broadcast: built without zlib; --deflate on needs build_uws_peer.sh --zlib\n");
    return 2;
  }
#endif
  uWS::App app;
  app.ws<PerSocket>("/*", {
      .compression = deflate ? uWS::CompressOptions(uWS::SHARED_COMPRESSOR | uWS::SHARED_DECOMPRESSOR) : uWS::DISABLED,
      .maxPayloadLength = 16 * 1024 * 1024,
      .idleTimeout = 0,
      .maxBackpressure = kMaxQueuedBytes,
      .closeOnBackpressureLimit = true,
      .resetIdleTimeoutOnSend = false,
      .sendPingsAutomatically = false,
      .open = [echo](auto* ws) {
        if (!echo) ws->subscribe("b");
      },
      .message = [echo, deflate](auto* ws, std::string_view message, uWS::OpCode op) {
        if (echo) {
          ws->send(message, op, deflate);
        } else {
          ws->publish("b", message, op, deflate);  // every subscriber but the sender
        }
      },
  });
  app.listen("127.0.0.1", port, [port](auto* token) {
    if (!token) {
      std::fprintf(stderr, "uws_broadcast: cannot listen on 127.0.0.1:%d\n", port);
      std::exit(1);
    }
    std::printf("listening on ws://127.0.0.1:%d\n", port);
    std::fflush(stdout);
  });
  app.run();
  return 0;
}
