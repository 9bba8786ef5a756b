// One WebSocket connection over Asio: the socket, the protocol Codec, and the
// one read and one write in flight that move bytes between them.
//
// Ownership: a Connection is kept alive by its pending operations (each holds
// a shared_ptr, as in Boost.Beast); when the last one completes it is freed.
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

#include "sluice/net/stream.hpp"
#include "sluice/net/url.hpp"
#include "sluice/protocol/codec.hpp"
#include "sluice/protocol/handshake.hpp"

namespace sluice::net {

class Connection;

/// How a connection ended. Passed to on_closed, exactly once.
struct CloseInfo {
  std::uint16_t code = 1006;  ///< the peer's close code; 1006 if none arrived
  std::string reason;         ///< the peer's close reason
  std::error_code error;      ///< what failed (protocol, handshake, transport, timeout); empty if clean
  bool was_open = false;      ///< whether the WebSocket handshake had completed
  unsigned http_status = 0;   ///< client: the status of a rejected handshake response
};

/// User callbacks. Any may be empty. Called on the connection's executor.
struct ConnectionCallbacks {
  std::function<void(Connection&)> on_open;
  std::function<void(Connection&, protocol::MessageType, std::span<const std::uint8_t>)> on_message;
  std::function<void(Connection&, std::span<const std::uint8_t>)> on_ping;
  std::function<void(Connection&, std::span<const std::uint8_t>)> on_pong;
  /// The last callback for this connection; runs after the socket is closed.
  std::function<void(Connection&, const CloseInfo&)> on_closed;
};

struct ConnectionTimeouts {
  std::chrono::milliseconds connect{10'000};    ///< client: resolve + TCP + TLS
  std::chrono::milliseconds handshake{10'000};  ///< WebSocket (and TLS) handshake
  std::chrono::milliseconds close{5'000};       ///< wait for the peer's close frame / EOF
};

/// Server-side settings shared by every connection of one listener.
struct ServerConnectionConfig {
  protocol::ServerHandshakeOptions handshake;
  protocol::CodecSettings codec;
  ConnectionTimeouts timeouts;
};

/// Client-side settings for one connect().
struct ClientOptions {
  protocol::ClientHandshakeOptions handshake;  ///< host and target are filled from the URL when empty
  protocol::CodecSettings codec;
  ConnectionTimeouts timeouts;
  /// TLS context for wss://; null: verify the server against the system CAs.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

class Connection : public std::enable_shared_from_this<Connection>, private protocol::CodecHandler {
 public:
  enum class State { connecting, handshaking, open, closing, closed };

  /// Use Server or connect(); public only for std::make_shared.
  Connection(AnyStream stream, protocol::Role role, ConnectionCallbacks callbacks,
             ConnectionTimeouts timeouts, std::shared_ptr<boost::asio::ssl::context> tls_context = nullptr);
  ~Connection() override;

  /// Queues a message; written in order after what was queued before.
  /// Returns protocol::Error::connection_closed once closing or closed.
  std::error_code send(protocol::MessageType type, std::span<const std::uint8_t> payload);
  std::error_code send_text(std::string_view text);
  std::error_code send_fragment(protocol::MessageType type, std::span<const std::uint8_t> payload,
                                bool first, bool fin);
  std::error_code ping(std::span<const std::uint8_t> payload = {});

  /// Starts the close handshake. Idempotent: later calls are no-ops. The
  /// connection ends when the peer answers, or after the close timeout.
  void close(std::uint16_t code = 1000, std::string_view reason = {});
  /// Ends the connection at once, without a close handshake. Idempotent.
  void abort();

  State state() const noexcept { return state_; }
  const std::string& subprotocol() const noexcept { return subprotocol_; }
  bool deflate_enabled() const noexcept { return codec_ && codec_->deflate_enabled(); }
  /// Client: the server's handshake response head (valid after it arrived).
  const protocol::ClientHandshake* client_handshake() const noexcept { return client_handshake_.get(); }
  /// Server: the client's request head (valid once open).
  const protocol::ServerHandshake* server_handshake() const noexcept { return server_handshake_.get(); }
  std::string remote_address() const;

  // --- used by Server and connect() ---
  void start_server(std::shared_ptr<const ServerConnectionConfig> config);
  void start_client(const WsUrl& url, ClientOptions options);

 private:
  // protocol::CodecHandler
  void on_message(protocol::MessageType type, std::span<const std::uint8_t> payload) override;
  void on_ping(std::span<const std::uint8_t> payload) override;
  void on_pong(std::span<const std::uint8_t> payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;

  void read_more();
  void on_read(std::size_t n);
  void handle_bytes(std::span<std::uint8_t> bytes);
  void open_with(protocol::Role role, const protocol::CodecSettings& settings,
                 std::optional<protocol::DeflateParams> deflate, std::string_view leftover);
  void flush();
  void after_codec_activity();
  void arm_timer(std::chrono::milliseconds timeout, std::error_code error);
  void finish(std::error_code error);
  void write_raw(const std::string& bytes, bool finish_after);
  void write_some();

  std::shared_ptr<boost::asio::ssl::context> tls_context_;  // outlives stream_'s SSL object
  AnyStream stream_;
  protocol::Role role_;
  ConnectionCallbacks callbacks_;
  ConnectionTimeouts timeouts_;
  State state_ = State::connecting;
  boost::asio::steady_timer timer_;

  std::shared_ptr<const ServerConnectionConfig> server_config_;
  std::unique_ptr<protocol::ServerHandshake> server_handshake_;
  std::unique_ptr<protocol::ClientHandshake> client_handshake_;
  std::optional<protocol::CodecSettings> client_codec_settings_;
  std::optional<protocol::Codec> codec_;
  std::string subprotocol_;

  std::vector<std::uint8_t> read_buffer_;
  std::vector<std::uint8_t> write_buffer_;  // bytes of the write in flight
  std::size_t write_offset_ = 0;
  bool flush_after_raw_ = false;            // end the connection once this write is done
  bool writing_ = false;
  bool reading_ = false;
  bool shut_down_send_ = false;
  bool finished_ = false;
  CloseInfo close_info_;
};

/// Connects to a ws:// or wss:// URL. The connection reports success through
/// callbacks.on_open and failure (DNS, TCP, TLS, handshake, timeout) through
/// callbacks.on_closed with CloseInfo::was_open false. Thread-safe to call
/// from any thread; the connection then lives on `io`.
std::shared_ptr<Connection> connect(boost::asio::io_context& io, const WsUrl& url, ClientOptions options,
                                    ConnectionCallbacks callbacks);

}  // namespace sluice::net
