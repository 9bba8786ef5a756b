#include "stream.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "sluice/net/tls.hpp"
#include "tcp.hpp"

namespace sluice::bench {

TlsClient::TlsClient(bool verify_peer, const std::string& ca_file, bool lean) : verify_peer_(verify_peer) {
  std::string error;
  context_ = net::make_client_tls_context({verify_peer, ca_file}, error);
  if (!context_) throw std::runtime_error(error);
  SSL_CTX* ctx = context_->native_handle();
  // Writes go out record by record from the codec's output, which may move
  // between retries; a peer closing TCP without close_notify is an EOF.
  long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
  if (lean) mode |= SSL_MODE_RELEASE_BUFFERS;
  SSL_CTX_set_mode(ctx, mode);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Read whole socket buffers, not a record header and then its body: half the recv() calls.
  SSL_CTX_set_read_ahead(ctx, 1);
}

TlsClient::~TlsClient() = default;

bool Stream::start_tls(const TlsClient& tls, const std::string& host, std::string& error) {
  ssl_ = SSL_new(tls.context_->native_handle());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    error = "TLS: cannot make a session";
    ERR_clear_error();
    return false;
  }
  SSL_set_connect_state(ssl_);
  in_addr ipv4{};
  in6_addr ipv6{};
  const bool address = inet_pton(AF_INET, host.c_str(), &ipv4) == 1 || inet_pton(AF_INET6, host.c_str(), &ipv6) == 1;
  bool ok = address || SSL_set_tlsext_host_name(ssl_, host.c_str()) == 1;  // SNI takes names only
  if (ok && tls.verify_peer_) {
    ok = address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str()) == 1
                 : SSL_set1_host(ssl_, host.c_str()) == 1;
  }
  if (!ok) {
    error = "TLS: cannot set the server name '" + host + "'";
    ERR_clear_error();
    return false;
  }
  return true;
}

IoStatus Stream::handshake() {
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return IoStatus::done;
  const IoStatus status = tls_status(rc, true);
  if (status == IoStatus::failed) verify_result_ = SSL_get_verify_result(ssl_);
  return status == IoStatus::eof ? IoStatus::failed : status;
}

IoResult Stream::tls_read(void* into, std::size_t size) {
  std::size_t n = 0;
  const int rc = SSL_read_ex(ssl_, into, size, &n);
  if (rc == 1) return {n, IoStatus::done};
  return {0, tls_status(rc, true)};
}

IoResult Stream::tls_write(const void* data, std::size_t size) {
  std::size_t n = 0;
  const int rc = SSL_write_ex(ssl_, data, size, &n);
  if (rc == 1) return {n, IoStatus::done};
  return {0, tls_status(rc, false)};
}

// SSL_get_error's verdict; a failure keeps the errno and OpenSSL's first
// error, and empties the thread's error queue (the next call needs it empty).
IoStatus Stream::tls_status(int rc, bool reading) {
  const int why = SSL_get_error(ssl_, rc);
  switch (why) {
    case SSL_ERROR_WANT_READ:
      return IoStatus::want_read;
    case SSL_ERROR_WANT_WRITE:
      return IoStatus::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return reading ? IoStatus::eof : IoStatus::failed;
    default:
      error_ = why == SSL_ERROR_SYSCALL ? errno : 0;
      tls_error_ = ERR_get_error();
      ERR_clear_error();
      if (reading && why == SSL_ERROR_SYSCALL && error_ == 0 && tls_error_ == 0) return IoStatus::eof;
      return IoStatus::failed;
  }
}

std::string Stream::error_text() const {
  if (verify_result_ != X509_V_OK) {
    return std::string("the server's certificate is not trusted: ") +
           X509_verify_cert_error_string(verify_result_) + " (--cafile FILE trusts its CA; --insecure skips the check)";
  }
  if (tls_error_ != 0) {
    char text[256];
    ERR_error_string_n(tls_error_, text, sizeof text);
    return std::string("TLS: ") + text;
  }
  if (error_ != 0) return errno_text(error_);
  return "the connection ended in the middle of TLS";
}

void Stream::close(bool reset) noexcept {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    if (reset) {
      close_with_reset(fd_);
    } else {
      ::close(fd_);
    }
    fd_ = -1;
  }
  error_ = 0;
  tls_error_ = 0;
  verify_result_ = 0;
}

}  // namespace sluice::bench
