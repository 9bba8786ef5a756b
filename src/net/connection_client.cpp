// Connection, client side: resolve, TCP connect, TLS handshake, then the
// WebSocket handshake request; and connect(), which makes such a connection.
#include "sluice/net/connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <openssl/ssl.h>

#include "sluice/net/tls.hpp"

namespace sluice::net {

void Connection::start_client(const WsUrl& url, ClientOptions options) {
  if (options.handshake.host.empty()) options.handshake.host = url.host_header();
  if (options.handshake.target == "/") options.handshake.target = url.target;
  auto& side = uncommon().client;
  if (!side) side = std::make_unique<ClientSide>();
  side->timeouts = options.timeouts;
  side->codec = options.codec;
  side->handshake = std::make_unique<protocol::ClientHandshake>(std::move(options.handshake));
  if (const auto bad = side->handshake->error()) {
    // Nothing is sent; reported like any failure before the open, from the loop.
    asio::post(stream_.get_executor(), [self = shared_from_this(), bad] { self->finish(bad); });
    return;
  }
  queue_.set_limit(options.send_queue_limit);
  arm_timer(timeouts().connect, DeadlineAction::finish_timed_out);

  auto resolver = std::make_shared<tcp::resolver>(stream_.get_executor());
  const bool redirected = !options.dial_host.empty();
  resolver->async_resolve(
      redirected ? options.dial_host : url.host, std::to_string(redirected ? options.dial_port : url.port),
      [self = shared_from_this(), resolver, host = url.host](const boost::system::error_code& ec,
                                                              const tcp::resolver::results_type& results) {
        if (ec) return self->finish(ec);
        if (self->finished_) return;
        asio::async_connect(
            self->stream_.socket(), results,
            [self, host](const boost::system::error_code& connect_ec, const tcp::endpoint&) {
              if (connect_ec) return self->finish(connect_ec);
              if (self->finished_) return;
              boost::system::error_code ignored;
              self->stream_.socket().set_option(tcp::no_delay(true), ignored);
              auto send_request = [self] {
                self->state_ = State::handshaking;
                self->arm_timer(self->timeouts().handshake, DeadlineAction::finish_timed_out);
                self->write_raw(self->client()->handshake->request(), /*finish_after=*/false);
                self->read_more();
              };
              if (!self->stream_.is_tls()) return send_request();
              auto& tls = self->stream_.tls();
              // SNI, and verification of the certificate against the host name.
              SSL_set_tlsext_host_name(tls.native_handle(), host.c_str());
              tls.set_verify_callback(asio::ssl::host_name_verification(host));
              tls.async_handshake(asio::ssl::stream_base::client,
                                  [self, send_request](const boost::system::error_code& tls_ec) {
                                    if (tls_ec) return self->finish(tls_ec);
                                    if (self->finished_) return;
                                    send_request();
                                  });
            });
      });
}

std::shared_ptr<Connection> connect(asio::io_context& io, const WsUrl& url, ClientOptions options,
                                    ConnectionCallbacks callbacks) {
  std::shared_ptr<Connection> connection;
  if (url.secure) {
    if (!options.tls) {
      std::string error;
      options.tls = make_client_tls_context({}, error);
      if (!options.tls) options.tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    }
    connection = std::make_shared<Connection>(AnyStream(AnyStream::TlsStream(io, *options.tls), options.tls),
                                              protocol::Role::client, std::move(callbacks), options.timeouts);
  } else {
    connection = std::make_shared<Connection>(AnyStream(Socket(io)), protocol::Role::client,
                                              std::move(callbacks), options.timeouts);
  }
  asio::post(io, [connection, url, options = std::move(options)]() mutable {
    connection->start_client(url, std::move(options));
  });
  return connection;
}

}  // namespace sluice::net
