// The plain-HTTP side of every connection: each parsed request is copied into
// its loop's reused buffers, handed to the handler chain (API, metrics, CORS),
// and the answer is serialized and routed back to the connection's loop —
// directly when answered there, through the loop's ReplyInbox when answered on
// another thread (a durable publish completes on the store's writer).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sluice/net/connection.hpp"
#include "sluice/net/event_loop.hpp"
#include "sluice/server/http_types.hpp"

namespace sluice::server::detail {

class ServerMetrics;

class HttpFrontDoor {
 public:
  struct Options {
    bool access_log = false;  ///< one log line per answered request (never the query nor a header)
    bool needs_ip = false;    ///< fill HttpRequest::remote_ip (a getpeername() per request)
  };

  /// `loops` and `metrics` must outlive this object and every connection that
  /// uses handler(). `handler` answers every request (any thread, once).
  HttpFrontDoor(net::LoopGroup& loops, HttpHandler handler, ServerMetrics& metrics, Options options);
  ~HttpFrontDoor();
  HttpFrontDoor(const HttpFrontDoor&) = delete;
  HttpFrontDoor& operator=(const HttpFrontDoor&) = delete;

  /// What net::ConnectionOptions::http_handler takes. Runs on a connection's
  /// loop; the answer it gets (on any thread) is written by that loop.
  decltype(net::ServerConnectionConfig::http_handler) handler();

 private:
  struct LoopState;
  void handle(net::Connection& connection, net::ParsedRequest& request,
              std::function<void(std::string, bool)> reply);
  std::size_t current_loop() const;

  net::LoopGroup& loops_;
  HttpHandler handler_;
  ServerMetrics& metrics_;
  Options options_;
  std::vector<std::unique_ptr<LoopState>> states_;  // one per loop, touched only by it
};

}  // namespace sluice::server::detail
