// rediss:// (Redis over TLS). Debian's hiredis (0.14) speaks no TLS, so each
// rediss:// server gets a tunnel: hiredis connects to a Unix socket in a
// private directory (mode 0700) and the tunnel carries each such connection
// over its own TLS connection to Redis (certificate and host name verified),
// on the tunnel's own thread. Nothing is added to or read from the stream:
// AUTH and every command pass through encrypted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "sluice/net/tls.hpp"

namespace sluice::engine {

struct RedisTlsOptions {
  std::string host;  ///< Redis' host name or address: connected to, and checked against its certificate
  std::uint16_t port = 6379;
  /// Trust (ca_file: a PEM bundle instead of the system's store) and an
  /// optional client certificate (cert_file + key_file) for Redis'
  /// `tls-auth-clients yes`.
  net::ClientTlsOptions tls;
  /// Bytes buffered per direction and connection: a reader waits until its
  /// bytes are written on (the tunnel never queues more).
  std::size_t buffer_bytes = 16 * 1024;
};

/// Thread safety: path() may be called from any thread; stop() and the
/// destructor from any thread but the tunnel's. Lives as long as a
/// connection may be opened through it.
class RedisTlsTunnel {
 public:
  /// Loads the TLS settings (a bad file fails here, with the reason in
  /// `error`), listens on a fresh Unix socket and starts the thread. Null on failure.
  static std::unique_ptr<RedisTlsTunnel> start(RedisTlsOptions options, std::string& error);
  ~RedisTlsTunnel();  ///< stop()
  RedisTlsTunnel(const RedisTlsTunnel&) = delete;
  RedisTlsTunnel& operator=(const RedisTlsTunnel&) = delete;

  /// The Unix socket to connect hiredis to (redisConnectUnix*). Fixed for the tunnel's life.
  const std::string& path() const noexcept;
  /// Closes the listener and every tunnelled connection, joins the thread and
  /// removes the socket and its directory. Idempotent.
  void stop();

  struct State;  // the listener, connections and thread (redis_tls_tunnel.cpp)

 private:
  explicit RedisTlsTunnel(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sluice::engine
