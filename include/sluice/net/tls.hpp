// TLS contexts for wss:// servers and clients (OpenSSL through Asio).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <system_error>

namespace sluice::net {

/// A server context (TLS 1.2+) with a PEM certificate chain and private key.
/// Returns nullptr and sets `error` (with a message naming the file) on failure.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_chain_file,
                                                                   const std::string& private_key_file,
                                                                   std::string& error);

struct ClientTlsOptions {
  bool verify_peer = true;   ///< verify the certificate chain and the host name
  std::string ca_file;       ///< PEM CA bundle; empty: the system's default paths
  /// A client certificate chain and its private key (PEM), for servers that
  /// ask for one (mutual TLS); both or neither.
  std::string cert_file = {};
  std::string key_file = {};
};

/// A client context (TLS 1.2+). Returns nullptr and sets `error` (naming the
/// file) on failure. Thread-safe.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const ClientTlsOptions& options,
                                                                   std::string& error);

}  // namespace sluice::net
