// A tiny HTTP CONNECT proxy on loopback, for the client's proxy support: it
// reads "CONNECT host:port", optionally demands a Proxy-Authorization value
// (407 otherwise), connects to the target, answers 200 and copies bytes both
// ways. Runs on its own thread; records each CONNECT request head.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/test_support.hpp"

namespace sluice::test {

class ConnectProxy {
 public:
  /// `required_auth`: the exact Proxy-Authorization value to demand; empty: none.
  explicit ConnectProxy(std::string required_auth = {});
  ~ConnectProxy();

  std::uint16_t port() const noexcept { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// The request heads received so far.
  std::vector<std::string> requests() const;
  Signal signal;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

}  // namespace sluice::test
