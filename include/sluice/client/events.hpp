// What the client reports: its state, the outcome of a send, and the payloads
// of its events. Plain values; every type here is safe to copy between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sluice/protocol/codec.hpp"

namespace sluice::client {

using protocol::MessageType;

/// The client's lifecycle. Read at any time with Client::state() (atomic).
enum class State : std::uint8_t {
  idle,          ///< constructed, connect() not called yet
  connecting,    ///< TCP, TLS, WebSocket handshake, then the session hook
  open,          ///< connected and the session hook succeeded: sends go out
  closing,       ///< close() was called; the close handshake is running
  reconnecting,  ///< the connection ended; waiting out the backoff delay
  closed,        ///< for good: close() was called, or a terminal code, or it gave up
};
const char* to_string(State s) noexcept;

/// The outcome of Client::send. Never silent, never blocking.
enum class SendStatus : std::uint8_t {
  sent,           ///< accepted while open; written in order on the current connection
  queued,         ///< not open right now: held in the offline queue, flushed in order after the next (re)connect
  queue_full,     ///< rejected: the offline queue has no room for it (max_queued_bytes)
  too_large,      ///< rejected: bigger than the whole queue (max_queued_bytes)
  not_connected,  ///< rejected: not open, and offline queueing is off
  closed,         ///< rejected: close() was called or the client stopped for good
};
const char* to_string(SendStatus s) noexcept;
/// True for sent and queued.
constexpr bool accepted(SendStatus s) noexcept { return s == SendStatus::sent || s == SendStatus::queued; }

/// A received message. `data` is valid only during the callback: copy what you keep.
struct Message {
  MessageType type;
  std::span<const std::uint8_t> data;
  std::string_view text() const noexcept { return {reinterpret_cast<const char*>(data.data()), data.size()}; }
};

struct OpenEvent {
  std::uint64_t connection = 0;  ///< 1 for the first successful connection, then 2, 3...
  bool reconnected = false;      ///< connection > 1
  std::string subprotocol;       ///< the one the server selected, or ""
};

struct CloseEvent {
  std::uint16_t code = 1006;     ///< the close code (the server's, or ours after close()); 1006 when none
  std::string reason;            ///< the close frame's reason, as sent
  std::string description;       ///< what happened, in plain words (for logs and users)
  bool will_retry = false;       ///< true: a reconnect follows (see on_reconnecting)
  bool terminal = false;         ///< stopped because of a terminal code or status (e.g. 4404)
  std::error_code error;         ///< what failed, if anything (transport, liveness, client::Error)
};

struct ErrorEvent {
  std::error_code error;
  std::string message;           ///< in plain words, e.g. "connection refused by 127.0.0.1:9001"
};

/// A snapshot of what the client knows about its connections (Client::info()).
struct ConnectionInfo {
  std::string url;
  unsigned http_status = 0;      ///< status of the last handshake response (101 when accepted); 0: none yet
  std::vector<std::pair<std::string, std::string>> response_headers;  ///< of the last handshake response
  std::string subprotocol;       ///< selected by the server on the last open connection
  bool deflate = false;          ///< permessage-deflate on the last open connection
  std::optional<std::chrono::system_clock::time_point> last_connected_at;  ///< last successful open
  std::error_code last_error;    ///< the last failure, if any
  std::string last_error_message;
  std::uint64_t connections = 0; ///< successful opens so far
  std::uint32_t attempt = 0;     ///< consecutive failed attempts as of the last ending (reset by a connection that was stable or delivered data)
  /// The `exp` of the token in use (ClientAuth), when it is a JWT that has one.
  std::optional<std::chrono::system_clock::time_point> token_expires_at;
  std::uint64_t token_refreshes = 0;  ///< in-band token refreshes the server acknowledged, over all connections
};

/// How long a listener stays registered.
enum class Listen : std::uint8_t {
  recurring,  ///< until removed
  once,       ///< removed just before its first call; runs at most once
};

/// Identifies a listener for remove_listener(); never 0, never reused by a client.
using ListenerId = std::uint64_t;

}  // namespace sluice::client
