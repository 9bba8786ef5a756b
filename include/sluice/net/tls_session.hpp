// TLS on a server's non-blocking socket, driven by readiness: OpenSSL reads
// and writes the socket itself (through a small BIO of ours: send/recv with
// MSG_NOSIGNAL), so a record goes from OpenSSL's buffer to the kernel with no
// copy in between. Asio's ssl::stream, used by clients, passes every record
// through a memory BIO pair: two more copies, and records of at most 8 KiB.
//
// Not thread-safe: used by one owner (its connection, on its loop). The
// socket belongs to the owner and must outlive the session's last call.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

struct ssl_st;

namespace sluice::net {

class TlsSession {
 public:
  /// Largest plaintext in one TLS record: a write of at most this much is
  /// one record, taken whole or not at all.
  static constexpr std::size_t kMaxRecord = 16 * 1024;

  enum class Want : std::uint8_t { nothing, read, write };
  struct Result {
    std::size_t bytes = 0;  ///< read: plaintext received; write: plaintext taken
    Want want = Want::nothing;  ///< the socket must become readable / writable first
    boost::system::error_code error;  ///< the session is over (asio::error::eof: the peer closed)
  };

  /// A server session on `fd`; null when OpenSSL cannot make one (out of
  /// memory). `context` is kept alive by the session.
  static std::unique_ptr<TlsSession> accept(std::shared_ptr<boost::asio::ssl::context> context, int fd);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  bool established() const noexcept { return established_; }
  /// Advances the handshake: done (established()), a want, or an error.
  Result handshake();
  /// Plaintext into `into`, at most a record per call. Call until a want or
  /// an error: the socket is read edge-triggered.
  Result read(std::span<std::uint8_t> into);
  /// Encrypts and sends `bytes` (at most kMaxRecord) as one record. When the
  /// socket is full the bytes are still taken (bytes == size, want set): the
  /// session keeps them until flush() sends them. Precondition: !pending().
  Result write(std::span<const std::uint8_t> bytes);
  /// True while a taken record waits for the socket.
  bool pending() const noexcept { return !retry_.empty(); }
  /// Sends what write() took but could not send yet; bytes is 0.
  Result flush();
  /// Sends close_notify if the socket takes it now; never waits.
  void close_notify() noexcept;

 private:
  TlsSession(std::shared_ptr<boost::asio::ssl::context> context, ssl_st* ssl) noexcept;
  Result outcome(int ret);

  std::shared_ptr<boost::asio::ssl::context> context_;  // the SSL object refers to it
  ssl_st* ssl_;
  // A record OpenSSL could not send: it must be offered again, same bytes
  // (OpenSSL's rule for a write that wanted the socket).
  std::string retry_;
  bool established_ = false;
};

}  // namespace sluice::net
