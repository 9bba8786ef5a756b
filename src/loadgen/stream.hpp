// A load-client connection's byte stream: a non-blocking TCP socket, and for
// wss:// and https:// an OpenSSL session over it. Plain TCP stays an inline
// recv()/send() behind one null check (no virtual call, no extra copy); TLS
// goes through OpenSSL's non-blocking SSL_read_ex/SSL_write_ex.
//
// Thread safety: a TlsClient is immutable once made and shared by every pool
// and load thread of a run (an SSL_CTX may make sessions on several threads).
// A Stream belongs to the thread that polls its pool.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

struct ssl_st;

namespace boost::asio::ssl {
class context;
}

namespace sluice::bench {

/// What one read, write or handshake step did.
enum class IoStatus : std::uint8_t {
  done,        ///< bytes moved (read, write) or the handshake completed
  want_read,   ///< nothing now: retry once the socket is readable
  want_write,  ///< nothing now: retry once the socket is writable
  eof,         ///< the peer closed (read only)
  failed,      ///< see Stream::error_text()
};

struct IoResult {
  std::size_t bytes = 0;
  IoStatus status = IoStatus::done;
};

/// The client side of TLS for one run: whom to trust (a PEM CA file, the
/// system's store, or nobody's check with `verify_peer` false) and the
/// server's name or address, checked against its certificate.
class TlsClient {
 public:
  /// `lean`: give a session's buffers back while it is idle (for runs that
  /// hold many quiet connections). Throws std::runtime_error naming the file
  /// when the trust store cannot be loaded.
  TlsClient(bool verify_peer, const std::string& ca_file, bool lean);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool verifies_peer() const noexcept { return verify_peer_; }

 private:
  friend class Stream;
  std::shared_ptr<boost::asio::ssl::context> context_;
  bool verify_peer_;
};

/// One connection's socket and, over TLS, its session. Owns both from
/// attach()/start_tls() until close().
class Stream {
 public:
  Stream() = default;
  ~Stream() { close(false); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int fd() const noexcept { return fd_; }
  bool secure() const noexcept { return ssl_ != nullptr; }

  /// Takes a socket (connecting or connected); a previous one must be closed.
  void attach(int fd) noexcept { fd_ = fd; }

  /// Starts TLS on the connected socket: SNI and the certificate check for
  /// `host`. False with `error` set when OpenSSL refuses.
  bool start_tls(const TlsClient& tls, const std::string& host, std::string& error);

  /// One step of the TLS handshake: done, want_read, want_write or failed.
  IoStatus handshake();

  /// Up to `size` bytes. Over plain TCP a short read means the socket is
  /// drained; over TLS it may only end a record: read until want_read.
  IoResult read(void* into, std::size_t size) {
    if (ssl_ != nullptr) return tls_read(into, size);
    for (;;) {
      const ssize_t n = ::recv(fd_, into, size, 0);
      if (n > 0) return {static_cast<std::size_t>(n), IoStatus::done};
      if (n == 0) return {0, IoStatus::eof};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {0, IoStatus::want_read};
      return plain_failed();
    }
  }

  /// Writes a prefix of `data` (at least one byte when done). Over TLS a
  /// retry after want_read/want_write must start with the same bytes (it may
  /// carry more after them).
  IoResult write(const void* data, std::size_t size) {
    if (ssl_ != nullptr) return tls_write(data, size);
    for (;;) {
      const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (n >= 0) return {static_cast<std::size_t>(n), IoStatus::done};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {0, IoStatus::want_write};
      return plain_failed();
    }
  }

  /// Why the last call failed: the system's or OpenSSL's words.
  std::string error_text() const;

  /// Frees the session and closes the socket (`reset`: with a TCP reset, no
  /// TLS close_notify). Safe to call when nothing is open.
  void close(bool reset) noexcept;

 private:
  IoResult tls_read(void* into, std::size_t size);
  IoResult tls_write(const void* data, std::size_t size);
  IoStatus tls_status(int rc, bool reading);
  IoResult plain_failed() noexcept {
    error_ = errno;
    tls_error_ = 0;
    return {0, IoStatus::failed};
  }

  int fd_ = -1;
  ssl_st* ssl_ = nullptr;
  int error_ = 0;                  // errno of the last failure
  unsigned long tls_error_ = 0;    // OpenSSL's first queued error of the last failure
  long verify_result_ = 0;         // X509_V_OK unless the certificate check failed
};

}  // namespace sluice::bench
