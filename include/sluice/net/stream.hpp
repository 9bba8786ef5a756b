// A byte stream that is either plain TCP or TLS over TCP, so one connection
// type serves ws:// and wss://. A server's TLS is a TlsSession on the
// connection's own descriptor (driven by the loop's Readiness); a client's is
// Asio's ssl::stream. Not thread-safe: used from its connection's
// executor only, with at most one read and one write in flight.
//
// The TLS stream (about 440 bytes, with its buffers) and a plain socket live on
// the heap: a plain server connection, whose descriptor its connection owns,
// pays one word for none.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "sluice/net/tls_session.hpp"

namespace sluice::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// A TCP socket bound to an io_context's executor rather than any_io_executor:
/// 40 bytes instead of 88, and every pending operation on it is smaller too.
using Socket = tcp::socket::rebind_executor<asio::io_context::executor_type>::other;

class AnyStream {
 public:
  using TlsStream = asio::ssl::stream<Socket>;

  /// A TLS stream and what only TLS connections need.
  struct Tls {
    Tls(TlsStream s, std::shared_ptr<asio::ssl::context> c) : context(std::move(c)), stream(std::move(s)) {}
    std::shared_ptr<asio::ssl::context> context;        // outlives the stream's SSL object
    TlsStream stream;
    std::vector<std::uint8_t> read_buffer;              // TLS records decrypt into it
    std::vector<asio::const_buffer> write_buffers;      // the gather write in flight
  };

  /// A server's TLS: the session on the descriptor its connection owns.
  struct ServerTls {
    asio::io_context* io;
    std::unique_ptr<TlsSession> session;
  };

  using executor_type = asio::io_context::executor_type;

  /// No socket of its own: the connection owns a bare descriptor (a plain
  /// server connection in its loop's Readiness set) and uses this stream only
  /// for its executor.
  explicit AnyStream(asio::io_context& io) noexcept : word_(tag(&io, Kind::bare)) {}
  explicit AnyStream(Socket socket) : word_(tag(new Socket(std::move(socket)), Kind::plain)) {}
  /// `context` is kept alive as long as the stream (its SSL object refers to it).
  AnyStream(TlsStream stream, std::shared_ptr<asio::ssl::context> context)
      : word_(tag(new Tls(std::move(stream), std::move(context)), Kind::tls)) {}

  /// A server's TLS on the connection's descriptor (see TlsSession).
  AnyStream(asio::io_context& io, std::unique_ptr<TlsSession> session)
      : word_(tag(new ServerTls{&io, std::move(session)}, Kind::server_tls)) {}

  AnyStream(AnyStream&& other) noexcept : word_(std::exchange(other.word_, tag(&other.context(), Kind::bare))) {}
  AnyStream& operator=(AnyStream&& other) noexcept {
    if (this != &other) {
      release();
      word_ = std::exchange(other.word_, tag(&other.context(), Kind::bare));
    }
    return *this;
  }
  AnyStream(const AnyStream&) = delete;
  AnyStream& operator=(const AnyStream&) = delete;
  ~AnyStream() { release(); }

  /// For Asio's composed operations (async_write) and posts.
  executor_type get_executor() const noexcept { return context().get_executor(); }

  /// An Asio socket (plain or under Asio's TLS); false for a bare or server-TLS stream.
  bool has_socket() const noexcept { return kind() == Kind::plain || kind() == Kind::tls; }
  /// Asio's TLS (a client's).
  bool is_tls() const noexcept { return kind() == Kind::tls; }
  /// A server's TLS session, or null.
  TlsSession* server_tls() const noexcept {
    return kind() == Kind::server_tls ? pointer<ServerTls>()->session.get() : nullptr;
  }
  Tls& tls_state() { return *pointer<Tls>(); }
  TlsStream& tls() { return tls_state().stream; }

  /// Precondition: has_socket().
  Socket& socket() {
    if (kind() == Kind::plain) return *pointer<Socket>();
    return tls().next_layer();
  }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (is_tls()) return tls().async_read_some(buffers, std::forward<Handler>(handler));
    socket().async_read_some(buffers, std::forward<Handler>(handler));
  }

  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (is_tls()) return tls().async_write_some(buffers, std::forward<Handler>(handler));
    socket().async_write_some(buffers, std::forward<Handler>(handler));
  }

  /// Closes the TCP socket at once (no TLS close_notify); errors are ignored
  /// because the connection is over either way.
  void close() noexcept {
    if (!has_socket()) return;
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  // One word (idle memory): the io_context of a stream without a socket, or
  // the heap-held Socket, Tls or ServerTls, told apart by the two low bits
  // (each is at least 8-byte aligned).
  enum class Kind : std::uintptr_t { bare = 0, plain = 1, tls = 2, server_tls = 3 };
  static constexpr std::uintptr_t kKindBits = 3;
  template <class T>
  static std::uintptr_t tag(T* p, Kind kind) noexcept {
    static_assert(alignof(T) > kKindBits);
    return reinterpret_cast<std::uintptr_t>(p) | static_cast<std::uintptr_t>(kind);
  }
  Kind kind() const noexcept { return static_cast<Kind>(word_ & kKindBits); }
  template <class T>
  T* pointer() const noexcept {
    return reinterpret_cast<T*>(word_ & ~kKindBits);
  }
  asio::io_context& context() const noexcept {
    switch (kind()) {
      case Kind::plain: return pointer<Socket>()->get_executor().context();
      case Kind::tls: return pointer<Tls>()->stream.next_layer().get_executor().context();
      case Kind::server_tls: return *pointer<ServerTls>()->io;
      case Kind::bare: break;
    }
    return *pointer<asio::io_context>();
  }
  void release() noexcept {
    if (kind() == Kind::plain) delete pointer<Socket>();
    if (kind() == Kind::tls) delete pointer<Tls>();
    if (kind() == Kind::server_tls) delete pointer<ServerTls>();
  }

  std::uintptr_t word_;
};

}  // namespace sluice::net
