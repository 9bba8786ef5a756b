// A byte stream that is either plain TCP or TLS over TCP, so one connection
// type serves ws:// and wss://. Not thread-safe: used from its connection's
// executor only, with at most one read and one write in flight.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <utility>
#include <variant>

namespace sluice::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class AnyStream {
 public:
  using TlsStream = asio::ssl::stream<tcp::socket>;

  using executor_type = asio::any_io_executor;

  explicit AnyStream(tcp::socket socket) : stream_(std::move(socket)) {}

  /// For Asio's composed operations (async_write).
  executor_type get_executor() { return socket().get_executor(); }
  explicit AnyStream(TlsStream stream) : stream_(std::move(stream)) {}

  bool is_tls() const noexcept { return std::holds_alternative<TlsStream>(stream_); }
  TlsStream& tls() { return std::get<TlsStream>(stream_); }

  tcp::socket& socket() {
    if (auto* plain = std::get_if<tcp::socket>(&stream_)) return *plain;
    return std::get<TlsStream>(stream_).next_layer();
  }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { s.async_read_some(buffers, std::forward<Handler>(handler)); }, stream_);
  }

  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { s.async_write_some(buffers, std::forward<Handler>(handler)); }, stream_);
  }

  /// Closes the TCP socket at once (no TLS close_notify); errors are ignored
  /// because the connection is over either way.
  void close() noexcept {
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  std::variant<tcp::socket, TlsStream> stream_;
};

}  // namespace sluice::net
