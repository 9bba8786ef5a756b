#include "sluice/net/tls.hpp"

namespace sluice::net {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> make_server_tls_context(const std::string& cert_chain_file,
                                                      const std::string& private_key_file,
                                                      std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (!ec) ctx->use_certificate_chain_file(cert_chain_file, ec);
  if (ec) {
    error = "cannot load TLS certificate chain '" + cert_chain_file + "': " + ec.message();
    return nullptr;
  }
  ctx->use_private_key_file(private_key_file, ssl::context::pem, ec);
  if (ec) {
    error = "cannot load TLS private key '" + private_key_file + "': " + ec.message();
    return nullptr;
  }
  return ctx;
}

std::shared_ptr<ssl::context> make_client_tls_context(const ClientTlsOptions& options, std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (options.verify_peer) {
    if (options.ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      ctx->load_verify_file(options.ca_file, ec);
    }
    if (ec) {
      error = "cannot load TLS trust store '" + (options.ca_file.empty() ? "system default" : options.ca_file) +
              "': " + ec.message();
      return nullptr;
    }
    ctx->set_verify_mode(ssl::verify_peer);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    error = "a TLS client certificate and its key go together";
    return nullptr;
  }
  if (!options.cert_file.empty()) {
    ctx->use_certificate_chain_file(options.cert_file, ec);
    if (ec) {
      error = "cannot load TLS client certificate '" + options.cert_file + "': " + ec.message();
      return nullptr;
    }
    ctx->use_private_key_file(options.key_file, ssl::context::pem, ec);
    if (ec) {
      error = "cannot load TLS client key '" + options.key_file + "': " + ec.message();
      return nullptr;
    }
  }
  return ctx;
}

}  // namespace sluice::net
