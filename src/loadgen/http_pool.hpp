// Many keep-alive HTTP/1.1 client connections on one epoll instance and one
// thread, for the `publish` scenario: non-blocking TCP (tcp.hpp), requests
// written as the caller formats them, responses parsed in order by Beast's
// parser (pipelining: several requests may be in flight on a connection).
// TLS when the target asks for it (stream.hpp); IPv4 only.
//
// Thread safety: none; everything runs on the thread that calls poll().
// Callbacks run inside poll() and may queue requests, flush, close or
// reconnect connections, but must not destroy the pool.
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stream.hpp"
#include "tcp.hpp"

namespace sluice::bench {

class HttpPool;

/// One keep-alive connection. Owned by its HttpPool; the reference stays
/// valid for the pool's lifetime, across reconnects.
class HttpConnection {
 public:
  /// connecting: TCP connect, then (https://) the TLS handshake.
  enum class State { connecting, open, closed };

  std::size_t index() const noexcept { return index_; }
  State state() const noexcept { return state_; }
  /// Scenario data: a free slot for whatever a scenario tracks per connection.
  std::uint64_t user = 0;

  /// Appends request bytes; they go out on HttpPool::flush(). Ignored unless open.
  void queue(std::string_view request) {
    if (state_ == State::open) out_.append(request);
  }

 private:
  friend class HttpPool;
  HttpConnection(std::size_t index) : index_(index) {}

  std::size_t index_;
  State state_ = State::closed;
  Stream stream_;
  bool want_write_ = false;
  std::string out_;         // queued, not yet written: [out_start_, end)
  std::size_t out_start_ = 0;
  std::string in_;          // the start of a response not complete yet
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
};

class HttpEvents {
 public:
  virtual ~HttpEvents() = default;
  /// TCP connected; requests may be queued.
  virtual void on_open(HttpConnection& c) = 0;
  /// One complete response, in request order. `body` is valid during the call only.
  virtual void on_response(HttpConnection& c, unsigned status, std::string_view body, std::uint64_t received_ns) = 0;
  /// The connection failed or the server closed it (`why` says how); the
  /// requests still in flight on it get no response. Not called for close().
  virtual void on_closed(HttpConnection& c, const std::string& why) = 0;
};

class HttpPool {
 public:
  /// Largest response body accepted (a larger one fails its connection).
  static constexpr std::size_t kMaxBody = 1024 * 1024;

  /// Resolves the target's host (blocking, once) and throws
  /// std::runtime_error when it has no IPv4 address.
  HttpPool(Target target, HttpEvents& events);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  /// Creates `count` connections and starts connecting them all.
  void open(std::size_t count);
  /// Connects a closed connection again. Ignored unless closed.
  void reconnect(HttpConnection& c);
  /// Closes a connection without a callback (what is in flight is dropped).
  void close(HttpConnection& c);
  /// Writes what is queued; the rest goes out when the socket has room.
  void flush(HttpConnection& c);
  /// Waits for readiness up to `timeout_ms` (0: do not wait) and handles it.
  void poll(int timeout_ms);

  std::size_t size() const noexcept { return connections_.size(); }
  HttpConnection& at(std::size_t i) { return *connections_[i]; }
  std::size_t open_count() const noexcept { return open_; }

 private:
  void connect(HttpConnection& c);
  void on_ready(HttpConnection& c, std::uint32_t events);
  void continue_tls(HttpConnection& c);
  void on_connected(HttpConnection& c);
  void on_readable(HttpConnection& c);
  /// Parses whole responses off `bytes`; returns how many bytes were used, or npos if `c` failed.
  std::size_t parse(HttpConnection& c, std::string_view bytes, std::uint64_t received_ns);
  void set_want_write(HttpConnection& c, bool want);
  void release(HttpConnection& c);
  void fail(HttpConnection& c, const std::string& why);

  Target target_;
  HttpEvents& events_;
  Epoll epoll_;
  std::uint32_t address_ = 0;
  std::vector<std::unique_ptr<HttpConnection>> connections_;
  std::size_t open_ = 0;
  std::vector<char> read_buffer_;
};

}  // namespace sluice::bench
