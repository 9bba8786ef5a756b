// An asynchronous HTTP(S) POST client for webhook deliveries (issue #14), on
// one Boost.Asio io_context (one of the project's event loops), with Beast.
//
// - DNS through async_resolve; then only the resolved addresses that the SSRF
//   guard (AddressPolicy) permits are connected to, one after the other: a
//   refused address is never connected to, and a name that resolves only to
//   refused addresses fails as `forbidden_address` before any packet is sent.
// - A connect timeout (DNS + TCP + TLS) and a total timeout (post() to the
//   complete response, waiting for a connection included).
// - No redirects: a 3xx is a response like any other.
// - https verifies the certificate chain (system CA store, plus an optional
//   extra CA file) and the host name; SNI is sent for names.
// - Keep-alive: a connection whose response allowed it goes back to a pool
//   keyed by scheme, host and port; idle connections are closed after
//   idle_timeout, or as soon as the peer closes them. The pool is bounded in
//   total and per host; requests beyond it wait in a bounded FIFO. A request
//   that fails on a reused connection before any response byte is retried
//   once on another connection (the peer may have closed it meanwhile).
//
// Threading: an HttpClient and its handles belong to the thread that runs
// the io_context; call them there only (or before the io_context runs).
// Callbacks run on that thread too, never inside post() or cancel().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/webhook/address_policy.hpp"
#include "sluice/webhook/retry_policy.hpp"
#include "sluice/webhook/webhook_url.hpp"

namespace sluice::webhook {

namespace detail {
class ClientCore;
class Exchange;
}  // namespace detail

/// Tests and tools: a replacement for DNS. It must call the handler exactly
/// once (it may do so inline; the client defers it).
using ResolveHandler = std::function<void(boost::system::error_code, std::vector<boost::asio::ip::tcp::endpoint>)>;
using ResolveFunction = std::function<void(const std::string& host, std::uint16_t port, ResolveHandler)>;

/// Settings, with their defaults.
struct HttpClientOptions {
  AddressPolicy address_policy;                        ///< the SSRF guard; default refuses all non-global
  std::chrono::milliseconds connect_timeout{5'000};    ///< DNS + TCP connect + TLS handshake
  std::chrono::milliseconds total_timeout{15'000};     ///< post() to complete response
  std::size_t max_connections = 256;                   ///< open connections in all (connecting, busy, idle)
  std::size_t max_connections_per_host = 8;            ///< per scheme + host + port
  std::size_t max_waiting = 4096;                      ///< requests waiting for a connection
  std::chrono::milliseconds idle_timeout{30'000};      ///< an idle kept-alive connection lives this long
  std::size_t max_response_body = 64 * 1024;           ///< larger: the status counts, the connection is not reused
  std::string extra_ca_file;                           ///< PEM CAs trusted besides the system's ("" = none)
  /// The TLS settings and trust store (make_client_tls_context), shared by
  /// the clients of several loops so the store is loaded once. Null: create()
  /// makes one from extra_ca_file.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string user_agent = "Sluice-Webhook/0.1";
  ResolveFunction resolve;                             ///< empty: the system resolver (async_resolve)
  /// Called with every address just before a connection attempt to it (metrics, tests).
  std::function<void(const boost::asio::ip::tcp::endpoint&)> on_connect_attempt;

  /// "" when valid, otherwise a message naming the bad field.
  std::string validate() const;
};

/// One POST. Extra headers must not be Host, Content-Length, Transfer-Encoding
/// or Connection (the client sets those), and names and values must be free
/// of CR, LF and NUL.
struct HttpRequest {
  WebhookUrl url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  /// Per-request timeouts (a subscription's own); 0: the client's options.
  std::chrono::milliseconds connect_timeout{0};
  std::chrono::milliseconds total_timeout{0};
};

/// How one request ended.
struct HttpResult {
  enum class Kind {
    response,           ///< a complete response: status, retry_after, body_excerpt
    connection_error,   ///< DNS, connect, TLS, I/O, peer closed mid-request, or too many waiting
    timeout,            ///< connect_timeout or total_timeout ran out
    forbidden_address,  ///< every resolved address refused by the SSRF guard (nothing was connected)
    cancelled,          ///< RequestHandle::cancel() or the client's destruction
    invalid_request,    ///< a forbidden or malformed extra header (nothing was sent)
  };
  Kind kind = Kind::connection_error;
  unsigned status = 0;
  std::string retry_after;   ///< the Retry-After header, if any
  std::string body_excerpt;  ///< the response body's first bytes (at most 256)
  std::string error;         ///< why, when not a response; names the origin, never the path or query
  std::optional<boost::asio::ip::tcp::endpoint> peer;  ///< the address connected to, if any
  bool reused_connection = false;  ///< the response came on a kept-alive connection

  /// For the retry policy; `invalid_request` counts as a connection error.
  /// Not meaningful for `cancelled`.
  AttemptOutcome outcome() const;
};

std::string_view to_string(HttpResult::Kind kind) noexcept;

/// Abandons one in-flight request. Cheap to copy; outliving the request or
/// the client is fine (cancel() then does nothing). Loop thread only.
class RequestHandle {
 public:
  RequestHandle() = default;
  /// Ends the request now if it is still running: its connection (if any) is
  /// closed, and its callback is called (later, on the loop) with `cancelled`.
  void cancel();
  /// True while the request has not ended.
  bool active() const;

 private:
  friend class HttpClient;
  explicit RequestHandle(std::weak_ptr<detail::Exchange> exchange) : exchange_(std::move(exchange)) {}
  std::weak_ptr<detail::Exchange> exchange_;
};

/// A TLS client context trusting the system's store and `extra_ca_file`
/// (PEM, "" = none), verifying peers, TLS 1.2 and up; nullptr with `error`
/// set if a store cannot be read. Reads files (tens of milliseconds for the
/// system's store): call it off the event loops. The context may be shared
/// by clients on any threads.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::string& extra_ca_file,
                                                                   std::string& error);

class HttpClient {
 public:
  using Callback = std::function<void(HttpResult)>;

  /// A client on `io`, or nullptr with `error` set (invalid options, or an
  /// unreadable CA file).
  static std::unique_ptr<HttpClient> create(boost::asio::io_context& io, HttpClientOptions options,
                                            std::string& error);
  /// Abandons every request (their callbacks get `cancelled`, if the
  /// io_context runs again) and closes every connection. Loop thread only.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends `request`; `callback` is called exactly once, on the loop, with the
  /// result (never inside this call).
  RequestHandle post(HttpRequest request, Callback callback);

  /// Replaces the SSRF guard (a reload of --webhook-allow): later connections
  /// are checked against `policy`, idle connections it refuses are closed,
  /// and busy ones are closed after their response. Loop thread only.
  void set_address_policy(AddressPolicy policy);

  std::size_t open_connections() const noexcept;  ///< connecting, busy or idle
  std::size_t idle_connections() const noexcept;
  std::size_t waiting_requests() const noexcept;  ///< waiting for a connection slot

 private:
  explicit HttpClient(std::shared_ptr<detail::ClientCore> core) : core_(std::move(core)) {}
  std::shared_ptr<detail::ClientCore> core_;
};

}  // namespace sluice::webhook
