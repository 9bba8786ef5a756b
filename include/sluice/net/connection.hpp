// One WebSocket connection over Asio: the socket, the protocol Codec, and the
// one read and one write in flight that move bytes between them.
//
// Ownership: a Connection is kept alive by its pending operations (each holds
// a shared_ptr, as in Boost.Beast) and, for a plain-TCP server connection, by
// its registration in the loop's Readiness set until it finishes; when the
// last of these lets go it is freed.
// Only the connection itself closes its socket. Thread safety: every member
// function must be called on the connection's executor (the thread running
// its io_context); callbacks are invoked there too, one at a time, with no
// lock held, and may call any member function, including close() and abort().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sluice/net/connection_metrics.hpp"
#include "sluice/net/deadlines.hpp"
#include "sluice/net/http_request_reader.hpp"
#include "sluice/net/readiness.hpp"
#include "sluice/net/send_queue.hpp"
#include "sluice/net/stream.hpp"
#include "sluice/net/url.hpp"
#include "sluice/protocol/codec.hpp"
#include "sluice/protocol/handshake.hpp"

namespace sluice::net {

class Connection;
class WriteBatch;

/// How a connection ended. Passed to on_closed, exactly once.
struct CloseInfo {
  std::uint16_t code = 1006;  ///< the peer's close code; 1006 if none arrived
  std::string reason;         ///< the peer's close reason
  std::error_code error;      ///< what failed (protocol, handshake, transport, timeout); empty if clean
  bool was_open = false;      ///< whether the WebSocket handshake had completed
  unsigned http_status = 0;   ///< client: the status of a rejected handshake response
};

/// What a connection reports to its user, as one interface: a connection
/// holds one pointer to it rather than six std::functions (idle memory,
/// docs/benchmarks.md). Called on the connection's loop; on_closed is the
/// last call. Every member has an empty default.
/// Why an upgrade request is refused before its handshake: sent as a plain
/// text HTTP answer with this status, then the connection closes.
struct RouteRefusal {
  unsigned status = 404;
  std::string message;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers, e.g. WWW-Authenticate
};

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  /// Server side, after the route accepted an upgrade request and before the
  /// handshake is answered: may refuse it, or keep what it needs of it (the
  /// request is valid during the call only). On the connection's loop.
  virtual std::optional<RouteRefusal> on_upgrade_request(Connection&, const ParsedRequest&) { return std::nullopt; }
  virtual void on_open(Connection&) {}
  virtual void on_message(Connection&, protocol::MessageType, std::span<const std::uint8_t>) {}
  virtual void on_ping(Connection&, std::span<const std::uint8_t>) {}
  virtual void on_pong(Connection&, std::span<const std::uint8_t>) {}
  /// After notify_when_drained(): the send queue fell to half its limit or less.
  virtual void on_drained(Connection&) {}
  /// The last call for this connection; runs after the socket is closed.
  virtual void on_closed(Connection&, const CloseInfo&) {}

  /// A close code and a reason that outlives the connection (a literal).
  struct CloseCode {
    std::uint16_t code;
    const char* reason;
  };
  static constexpr CloseCode kSlowConsumer{4008, "slow consumer"};  ///< SPEC §3
  /// What Connection::close_slow_consumer() sends: kSlowConsumer, or a
  /// protocol's own (Centrifugo's 3008 "slow"). Asked when it happens, not
  /// kept per connection (idle memory). On the connection's loop.
  virtual CloseCode slow_consumer_close() const { return kSlowConsumer; }
};

/// User callbacks. Any may be empty. Called on the connection's executor.
struct ConnectionCallbacks {
  std::function<void(Connection&)> on_open;
  std::function<void(Connection&, protocol::MessageType, std::span<const std::uint8_t>)> on_message;
  std::function<void(Connection&, std::span<const std::uint8_t>)> on_ping;
  std::function<void(Connection&, std::span<const std::uint8_t>)> on_pong;
  /// After notify_when_drained(): the send queue fell to half its limit or less.
  std::function<void(Connection&)> on_drained;
  /// The last callback for this connection; runs after the socket is closed.
  std::function<void(Connection&, const CloseInfo&)> on_closed;
};

struct ConnectionTimeouts {
  std::chrono::milliseconds connect{10'000};    ///< client: resolve + TCP + TLS
  std::chrono::milliseconds handshake{10'000};  ///< WebSocket (and TLS) handshake (slowloris bound)
  std::chrono::milliseconds close{5'000};       ///< wait for the peer's close frame / EOF
  /// Send a ping when nothing arrived for this long; 0: no automatic pings.
  std::chrono::milliseconds ping_interval{0};
  /// After an automatic ping, end the connection if nothing arrives for this long.
  std::chrono::milliseconds pong_timeout{10'000};
  /// Close (1001 "idle timeout") when no message arrived for this long; 0: never.
  std::chrono::milliseconds idle{0};
};

/// What happens when a data frame does not fit the send queue's byte limit.
enum class OverflowPolicy : std::uint8_t {
  close,      ///< drop what is queued and close with 4008 "slow consumer" (default)
  drop,       ///< refuse the frame; the caller marks the gap (send_shared returns dropped)
};

/// The outcome of queueing a frame: never silent.
enum class SendStatus { queued, dropped, closed };

/// Server-side settings shared by every connection of one listener.
struct ServerConnectionConfig {
  protocol::ServerHandshakeOptions handshake;
  protocol::CodecSettings codec;
  ConnectionTimeouts timeouts;
  std::size_t send_queue_limit = 1024 * 1024;  ///< bytes queued per connection
  OverflowPolicy overflow = OverflowPolicy::close;
  /// Largest HTTP request body accepted (413 beyond).
  std::size_t max_body_bytes = 1024 * 1024;
  /// Checks an upgrade request (target and headers) before the handshake
  /// completes: returns nullopt to accept, or the refusal (e.g. 404 for an
  /// unknown path, 400 for a bad query parameter, 401 without credentials).
  /// Runs on the connection's loop; the request is valid during the call
  /// only. Unset: all accepted.
  std::function<std::optional<RouteRefusal>(const ParsedRequest& request)> websocket_route;
  /// Handles each complete request that is not a WebSocket upgrade, on the
  /// connection's loop; it must not block, and answers through the responder
  /// (any thread, exactly once). Requests on one connection are handled one
  /// at a time, so pipelined responses keep their order. Unset: every request
  /// is treated as an upgrade (and rejected if it is not one). The request is
  /// the connection's and valid only during the call (copy what an answer
  /// given later needs).
  std::function<void(Connection&, ParsedRequest&, std::function<void(std::string response, bool close)>)>
      http_handler;
  /// What the connections count for /metrics; null: nothing. Must outlive
  /// every connection of the listener.
  const ConnectionMetrics* metrics = nullptr;
};

/// Client-side settings for one connect().
struct ClientOptions {
  protocol::ClientHandshakeOptions handshake;  ///< host and target are filled from the URL when empty
  protocol::CodecSettings codec;
  ConnectionTimeouts timeouts;
  std::size_t send_queue_limit = 64 * 1024 * 1024;  ///< bytes queued; beyond: slow-consumer close
  /// TLS context for wss://; null: verify the server against the system CAs.
  std::shared_ptr<boost::asio::ssl::context> tls;
  /// Open the TCP connection here instead of the URL's host and port (a local
  /// relay into a proxy tunnel); empty host: the URL's. The handshake's Host,
  /// the TLS SNI and the certificate's host name check still use the URL's host.
  std::string dial_host;
  std::uint16_t dial_port = 0;
};

class Connection : public std::enable_shared_from_this<Connection>,
                   public Pollable,
                   private Deadlines::Entry {
 public:
  enum class State : std::uint8_t { connecting, handshaking, open, closing, closed };

  /// Use Server or connect(); public only for std::make_shared.
  /// A TLS stream carries its context (AnyStream keeps it alive). `timeouts`
  /// are a client's; a server connection takes its listener's in start_server.
  Connection(AnyStream stream, protocol::Role role, ConnectionCallbacks callbacks, ConnectionTimeouts timeouts);
  ~Connection() override;

  /// Queues a message; written in order after what was queued before.
  /// Returns protocol::Error::connection_closed once closing or closed.
  /// Over the send queue's limit, the overflow policy applies (close: the
  /// connection closes with 4008 and this returns connection_closed).
  std::error_code send(protocol::MessageType type, std::span<const std::uint8_t> payload);
  /// Queues a frame built once for many recipients (an unmasked server frame,
  /// see protocol::make_server_header). Server role only. Returns dropped when
  /// the queue is full under OverflowPolicy::drop, closed when the connection
  /// is closing or was just closed as a slow consumer.
  /// `messages`: how many data messages the frame holds (a run of events
  /// joined into one chunk), for /metrics.
  SendStatus send_shared(const std::shared_ptr<const std::string>& frame, std::size_t messages = 1);
  /// Queues `frames` in order, all or none (e.g. a gap marker and the event
  /// it announces): under OverflowPolicy::drop none is queued unless the
  /// queue takes them all.
  SendStatus send_shared_all(std::span<const std::shared_ptr<const std::string>> frames);
  std::error_code send_text(std::string_view text);
  std::error_code send_fragment(protocol::MessageType type, std::span<const std::uint8_t> payload,
                                bool first, bool fin);
  std::error_code ping(std::span<const std::uint8_t> payload = {});

  /// Starts the close handshake after what is already queued. Idempotent:
  /// later calls are no-ops. The connection ends when the peer answers, or
  /// after the close timeout.
  void close(std::uint16_t code = 1000, std::string_view reason = {});
  /// Drops queued data and closes with the handler's slow_consumer_close()
  /// (4008 "slow consumer", SPEC §3, unless it says otherwise).
  void close_slow_consumer();
  /// Ends the connection at once, without a close handshake. Idempotent.
  void abort();

  State state() const noexcept { return state_; }
  OverflowPolicy overflow_policy() const noexcept { return overflow_; }
  const std::string& subprotocol() const noexcept;
  bool deflate_enabled() const noexcept { return codec_ && codec_->deflate_enabled(); }
  /// Client: the server's handshake response head (valid after it arrived).
  const protocol::ClientHandshake* client_handshake() const noexcept;
  /// Accepted beyond the connection limit: plain HTTP gets one answer, then the
  /// connection closes (the answer should say `Connection: close`). Loop thread.
  bool over_capacity() const noexcept { return over_capacity_; }
  std::string remote_address() const;  ///< "ip:port"
  std::string remote_ip() const;       ///< "ip"
  /// The peer's address; empty once the socket is closed.
  std::optional<tcp::endpoint> remote_endpoint() const;
  /// The executor of the connection's loop: post work here to touch it.
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }
  /// The event loop this connection lives on.
  boost::asio::io_context& loop() { return stream_.get_executor().context(); }
  /// Bytes queued for sending (including the write in flight).
  std::size_t queued_bytes() const noexcept { return queue_.bytes(); }
  std::size_t send_queue_limit() const noexcept { return queue_.limit(); }
  /// Calls on_drained once, when the queue is at half its limit or less
  /// (posted at once if it already is). For producers that pace themselves.
  void notify_when_drained();

  /// Replaces the callbacks; only before the connection starts (Server's AcceptHandler).
  /// Replaces the callbacks (held by the connection). On the connection's
  /// loop, or before it starts.
  void set_callbacks(ConnectionCallbacks callbacks);
  /// Replaces the callbacks with `handler`, not owned: it must stay alive
  /// until its on_closed has returned or the connection is destroyed. On the
  /// connection's loop, or before it starts.
  void set_handler(ConnectionHandler* handler) noexcept;

  // --- used by Server and connect() ---
  /// `over_capacity` (max connections reached): a WebSocket upgrade gets 503;
  /// plain HTTP is answered, one request, then the connection closes.
  /// `fd`: the accepted non-blocking socket, owned by the connection from
  /// here on (plain, or under the stream's TlsSession).
  void start_server(std::shared_ptr<const ServerConnectionConfig> config, bool over_capacity, int fd);
  void start_client(const WsUrl& url, ClientOptions options);

 private:
  // What the one deadline (in the loop's Deadlines) means when it passes.
  enum class DeadlineAction : std::uint8_t { finish_timed_out, finish_clean, keepalive };

  // What the codec reports, through CodecEvents (built on the stack for each
  // receive() call: no vtable pointer per connection).
  struct CodecEvents;
  void receive_frames(std::span<std::uint8_t> bytes);
  void on_message(protocol::MessageType type, std::span<const std::uint8_t> payload);
  void on_ping(std::span<const std::uint8_t> payload);
  void on_pong(std::span<const std::uint8_t> payload);
  // on_close: not needed, the codec keeps the peer's close code and reason.

  // Pollable (server connections): the loop's Readiness reports the socket.
  void on_ready(std::uint32_t events) override;
  void read_until_blocked(bool peer_closed);
  void read_tls_until_blocked(TlsSession& tls);

  void read_more();
  void on_readable();
  void on_read_error(const boost::system::error_code& ec);
  void handle_input(std::span<std::uint8_t> bytes);
  void handle_bytes(std::span<std::uint8_t> bytes);
  void process_requests();
  void reject_request(const std::string& response, std::error_code error);
  /// Queues an HTTP answer; false when the connection closes after it (or already did).
  bool take_http_response(std::string response, bool close);
  // `target`: the upgrade request's, for the metrics ("" for a client).
  void open_with(protocol::Role role, const protocol::CodecSettings& settings, std::string_view target,
                 std::optional<protocol::DeflateParams> deflate, std::string_view leftover);
  void take_codec_output();
  void flush();
  SendStatus queue_shared(std::span<const std::shared_ptr<const std::string>> frames);
  void schedule_write();
  friend class WriteBatch;
  void run_scheduled_write();  // WriteBatch: the corked write of this loop turn
  void start_write();
  void start_tls_write();         // a client's, through Asio's ssl::stream
  void start_server_tls_write(TlsSession& tls);
  bool advance_tls_handshake(TlsSession& tls);  // true once established
  void after_write();
  void after_codec_activity();
  void arm_timer(std::chrono::milliseconds timeout, DeadlineAction action);
  void on_deadline() override;
  CloseInfo close_info() const;
  void post_on_drained();
  const ConnectionTimeouts& timeouts() const noexcept;
  void arm_keepalive();
  void on_keepalive_tick();
  void finish(std::error_code error);
  void write_raw(std::string bytes, bool finish_after);
  const ConnectionMetrics* metrics() const noexcept { return server_config_ ? server_config_->metrics : nullptr; }
  /// The close code this connection sent (1006: none), for /metrics.
  std::uint16_t sent_close_code() const noexcept;

  // Per-connection state is kept small (idle memory, docs/benchmarks.md): what
  // only TLS or only clients need lives behind pointers, and the flags are bits.
  AnyStream stream_;
  // A server connection owns its socket as a bare descriptor in the loop's
  // Readiness set (plain, or under stream_'s TlsSession); -1 for a client.
  int raw_fd_ = -1;
  protocol::Role role_;
  State state_ = State::connecting;
  DeadlineAction deadline_action_ = DeadlineAction::finish_timed_out;
  OverflowPolicy overflow_ = OverflowPolicy::close;
  ConnectionHandler* handler_ = nullptr;

  std::shared_ptr<const ServerConnectionConfig> server_config_;
  // What only a client connection needs (a server's timeouts and codec
  // settings are in server_config_, shared by all its connections).
  struct ClientSide {
    ConnectionTimeouts timeouts;
    protocol::CodecSettings codec;
    std::unique_ptr<protocol::ClientHandshake> handshake;
    std::uint16_t http_status = 0;  // of a rejected handshake
  };
  // What an open, idle server connection does not need: behind one pointer,
  // freed once empty (trim_uncommon()), so such a connection pays 8 bytes.
  struct Uncommon {
    std::unique_ptr<HttpRequestReader> http_reader;  // server: until the upgrade, or while it serves HTTP
    std::unique_ptr<ClientSide> client;
    std::string subprotocol;      // when one was negotiated
    std::error_code close_error;  // what ended the connection (CloseInfo::error)
  };
  std::unique_ptr<Uncommon> uncommon_;
  Uncommon& uncommon();
  void trim_uncommon() noexcept;
  HttpRequestReader* http_reader() const noexcept { return uncommon_ ? uncommon_->http_reader.get() : nullptr; }
  void drop_http_reader() noexcept;  // its buffers are large: gone once the head was read
  ClientSide* client() const noexcept { return uncommon_ ? uncommon_->client.get() : nullptr; }
  std::error_code close_error() const noexcept { return uncommon_ ? uncommon_->close_error : std::error_code{}; }
  void note_close_error(std::error_code error);  // the first one is kept
  std::optional<protocol::Codec> codec_;

  SendQueue queue_;
  std::chrono::steady_clock::time_point last_message_at_;
  std::uint16_t close_code_sent_ = 0;       // close()'s code once it sent one; 0: none (or the codec's own)
  std::uint8_t metrics_route_ = 0;          // what ConnectionMetrics::opened returned
  bool owns_handler_ = false;               // set_callbacks()' adapter, deleted with the connection
  bool finished_ = false;
  bool finish_after_write_ : 1 = false;     // end the connection once the queue is written
  bool reading_ : 1 = false;
  bool write_wanted_ : 1 = false;           // queued output waits for start_write()
  bool write_posted_ : 1 = false;           // a corked start_write() is posted
  bool handling_input_ : 1 = false;         // inside handle_input(): it writes at its end
  bool awaiting_writable_ : 1 = false;      // the socket was full: on_ready (or a wait_write) resumes the write
  bool drain_wanted_ : 1 = false;           // on_drained is owed
  bool received_since_tick_ : 1 = false;    // keepalive: the peer showed life since the last tick
  bool awaiting_pong_ : 1 = false;
  bool shut_down_send_ : 1 = false;
  bool over_capacity_ : 1 = false;
  bool early_input_ : 1 = false;            // handling the frames that came with the upgrade request
  bool was_open_ : 1 = false;               // the WebSocket handshake completed
  bool http_busy_ : 1 = false;              // a request is with the handler
};

/// Connects to a ws:// or wss:// URL. The connection reports success through
/// callbacks.on_open and failure (DNS, TCP, TLS, handshake, timeout) through
/// callbacks.on_closed with CloseInfo::was_open false. Thread-safe to call
/// from any thread; the connection then lives on `io`.
std::shared_ptr<Connection> connect(boost::asio::io_context& io, const WsUrl& url, ClientOptions options,
                                    ConnectionCallbacks callbacks);

}  // namespace sluice::net
