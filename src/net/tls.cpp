#include "sluice/net/tls.hpp"

namespace sluice::net {

namespace ssl = boost::asio::ssl;

namespace {
// A certificate chain and its private key (PEM) into `ctx`; false with
// `error` naming the file that failed (`chain_what`, `key_what` say what it is).
bool use_chain_and_key(ssl::context& ctx, const std::string& chain_file, const std::string& key_file,
                       const char* chain_what, const char* key_what, std::string& error) {
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(chain_file, ec);
  if (ec) {
    error = std::string("cannot load ") + chain_what + " '" + chain_file + "': " + ec.message();
    return false;
  }
  ctx.use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) {
    error = std::string("cannot load ") + key_what + " '" + key_file + "': " + ec.message();
    return false;
  }
  return true;
}
}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const std::string& cert_chain_file,
                                                      const std::string& private_key_file,
                                                      std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (ec) {
    error = "cannot load TLS certificate chain '" + cert_chain_file + "': " + ec.message();
    return nullptr;
  }
  // TLS 1.3: AES-128-GCM first (as Go and Mozilla's recommended configurations
  // order it; OpenSSL's own default starts with AES-256-GCM, which costs about
  // a third more per byte), the others still offered.
  SSL_CTX_set_ciphersuites(ctx->native_handle(),
                           "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (!use_chain_and_key(*ctx, cert_chain_file, private_key_file, "TLS certificate chain", "TLS private key", error)) {
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
  if (!options.cert_file.empty() && !use_chain_and_key(*ctx, options.cert_file, options.key_file,
                                                        "TLS client certificate", "TLS client key", error)) {
    return nullptr;
  }
  return ctx;
}

}  // namespace sluice::net
