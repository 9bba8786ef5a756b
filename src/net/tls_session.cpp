#include "sluice/net/tls_session.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

namespace sluice::net {

namespace asio = boost::asio;

namespace {

// OpenSSL's socket BIO writes with write(2): a peer that reset the connection
// would raise SIGPIPE and end the process. This one sends with MSG_NOSIGNAL
// (as the plain-TCP path does) and leaves signal dispositions alone.
int descriptor(BIO* bio) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio))); }

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

int socket_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(descriptor(bio), data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n >= 0) {
    *written = static_cast<std::size_t>(n);
    return 1;
  }
  if (would_block()) BIO_set_retry_write(bio);
  return 0;
}

int socket_read(BIO* bio, char* data, std::size_t size, std::size_t* read) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::recv(descriptor(bio), data, size, MSG_DONTWAIT);
  if (n > 0) {
    *read = static_cast<std::size_t>(n);
    return 1;
  }
  if (n < 0 && would_block()) BIO_set_retry_read(bio);
  return 0;  // 0 bytes: the peer closed TCP; else errno says why
}

long socket_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH: return 1;  // nothing is buffered here
    case BIO_C_GET_FD: return descriptor(bio);
    default: return 0;
  }
}

BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "sluice socket");
    if (m) {
      BIO_meth_set_write_ex(m, socket_write);
      BIO_meth_set_read_ex(m, socket_read);
      BIO_meth_set_ctrl(m, socket_ctrl);
    }
    return m;
  }();
  return method;
}

}  // namespace

std::unique_ptr<TlsSession> TlsSession::accept(std::shared_ptr<asio::ssl::context> context, int fd) {
  BIO_METHOD* method = socket_method();
  if (!method) return nullptr;
  SSL* ssl = SSL_new(context->native_handle());
  if (!ssl) return nullptr;
  BIO* bio = BIO_new(method);
  if (!bio) {
    SSL_free(ssl);
    return nullptr;
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // one reference for both directions: SSL_free frees it
  // Partial writes and a moving buffer: a record that waits for the socket is
  // offered again from the session's own copy. Idle sessions free their
  // record buffers (about 34 KiB). Read-ahead: a record in one recv, not two.
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_set_read_ahead(ssl, 1);
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsSession>(new TlsSession(std::move(context), ssl));
}

TlsSession::TlsSession(std::shared_ptr<asio::ssl::context> context, SSL* ssl) noexcept
    : context_(std::move(context)), ssl_(ssl) {}

TlsSession::~TlsSession() { SSL_free(ssl_); }

namespace {
// An OpenSSL error queue code as Asio reports it (its message names the reason).
boost::system::error_code ssl_error(unsigned long code) {
  return {static_cast<int>(code), asio::error::get_ssl_category()};
}
}  // namespace

TlsSession::Result TlsSession::outcome(int ret) {
  Result r;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: r.want = Want::read; break;
    case SSL_ERROR_WANT_WRITE: r.want = Want::write; break;
    case SSL_ERROR_ZERO_RETURN: r.error = asio::error::eof; break;  // close_notify
    case SSL_ERROR_SYSCALL:
      if (const unsigned long code = ERR_get_error()) {
        r.error = ssl_error(code);
      } else {
        // errno 0: the peer closed TCP without close_notify.
        r.error = errno != 0 ? boost::system::error_code(errno, boost::system::system_category())
                             : boost::system::error_code(asio::error::eof);
      }
      break;
    default: {
      const unsigned long code = ERR_get_error();
      if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        r.error = asio::error::eof;  // TCP closed without close_notify (OpenSSL 3 says so)
      } else {
        r.error = code == 0 ? boost::system::error_code(asio::ssl::error::unspecified_system_error) : ssl_error(code);
      }
    }
  }
  ERR_clear_error();  // the queue is per thread: another session must not find this one's
  return r;
}

TlsSession::Result TlsSession::handshake() {
  errno = 0;
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    established_ = true;
    return {};
  }
  return outcome(ret);
}

TlsSession::Result TlsSession::read(std::span<std::uint8_t> into) {
  std::size_t n = 0;
  errno = 0;
  const int ret = SSL_read_ex(ssl_, into.data(), into.size(), &n);
  if (ret == 1) return {n, Want::nothing, {}};
  return outcome(ret);
}

TlsSession::Result TlsSession::write(std::span<const std::uint8_t> bytes) {
  std::size_t n = 0;
  errno = 0;
  const int ret = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n);
  if (ret == 1) return {n, Want::nothing, {}};
  Result r = outcome(ret);
  if (r.want != Want::nothing) {
    // Encrypted, not sent: the same bytes are offered again by flush().
    retry_.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    r.bytes = bytes.size();
  }
  return r;
}

TlsSession::Result TlsSession::flush() {
  std::size_t n = 0;
  errno = 0;
  const int ret = SSL_write_ex(ssl_, retry_.data(), retry_.size(), &n);
  if (ret == 1) {
    std::string().swap(retry_);  // up to a record: not kept by an idle connection
    return {};
  }
  return outcome(ret);
}

void TlsSession::close_notify() noexcept {
  if (!established_ || pending()) return;
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace sluice::net
