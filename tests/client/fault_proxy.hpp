// A fault-injecting TCP proxy on loopback, for driving the client through
// network failures: it forwards every accepted connection to a target port
// and, on request, cuts every connection, stalls (stops forwarding, sockets
// stay open), delays each forwarded chunk, refuses new connections (closes
// them right after accept), or cuts a connection in the middle of a frame.
//
// Runs on its own thread. Every control method is thread-safe and takes
// effect before it returns.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>
#include <memory>
#include <string>

#include "client/test_support.hpp"

namespace sluice::test {

class FaultProxy {
 public:
  explicit FaultProxy(std::uint16_t target_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::string url(const std::string& path = "/") const {
    return "ws://127.0.0.1:" + std::to_string(port_) + path;
  }

  /// New connections go to `port` (after a server restart on another port).
  void set_target(std::uint16_t port);
  /// Closes every proxied connection, both sides, at once.
  void cut_all();
  /// While on, nothing is forwarded in either direction (a hung peer or network).
  void stall(bool on);
  /// Holds each forwarded chunk this long before writing it (0: none).
  void set_delay(std::chrono::milliseconds delay);
  /// While on, new connections are closed right after accept.
  void refuse(bool on);
  /// The next chunk from a server to a client: forward only its first
  /// `bytes`, then cut that connection (a frame cut in the middle).
  void cut_mid_frame(std::size_t bytes);

  /// Connections accepted so far (refused ones included).
  std::size_t accepted() const noexcept { return accepted_.load(); }
  /// Connections being forwarded now.
  std::size_t active() const noexcept { return active_.load(); }
  /// The first chunk each client sent (for a WebSocket client: its request head).
  std::vector<std::string> first_chunks() const;
  /// The headers of the last request head seen, by name.
  std::map<std::string, std::string> last_request_headers() const;

  Signal signal;  // notified on every accept and every closed link

 private:
  struct Impl;
  void sync(std::function<void()> f);

  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> active_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> first_chunks_;
};

}  // namespace sluice::test
