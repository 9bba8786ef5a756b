// sluice::Client: a raw WebSocket client that stays connected (SPEC §4).
//
// Usable against any RFC 6455 server. It reconnects with jittered backoff,
// checks liveness, holds sends in a bounded offline queue while disconnected,
// runs a session hook (login, resubscribe) after every (re)connect before
// flushing that queue, and reports everything through listeners.
//
// Threads. A client owns one thread (its event loop); every connection, timer
// and user callback of the client runs there, one at a time. Public methods
// are thread-safe and may be called from any thread, including from inside
// the client's own callbacks; none of them blocks on the network except
// close() and flush() called from outside the callbacks, and those are bounded.
// No internal lock is held while user code runs.
//
// Lifetime. After close() returns (from outside a callback), no callback of
// this client runs again; from inside a callback, none runs after the current
// one returns. The destructor calls close() and joins the thread; do not
// destroy a client from inside its own callbacks. Callbacks must not throw.
// close() and remove_listener() wait for a callback in progress: do not call
// them while holding a lock that your callbacks take.
#pragma once

#include <boost/json/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sluice/client/error.hpp"
#include "sluice/client/events.hpp"
#include "sluice/client/listeners.hpp"
#include "sluice/client/options.hpp"
#include "sluice/net/url.hpp"

namespace sluice::client {

namespace detail {
class Core;
}

class Client {
 public:
  /// Validates `url` (ws:// or wss://) and `options`, builds the TLS context,
  /// picks the proxy, and starts the client's thread; does not connect yet.
  /// Throws std::invalid_argument with a clear message on a bad value.
  explicit Client(std::string_view url, ClientOptions options = {});
  /// close(), then joins the client's thread. Not from inside a callback.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Starts connecting (the state turns to connecting on the client's
  /// thread, right after). Returns at once; the outcome comes
  /// through on_open, or on_error / on_reconnecting / on_close. Idempotent;
  /// a no-op once close() was called. Thread-safe.
  void connect();

  /// Queues one message; never blocks, never throws. Open: written in order
  /// (sent). Not open: held in the offline queue (queued), flushed in order
  /// after the next session hook. Otherwise rejected with the reason. The
  /// payload is copied before this returns. Messages sent from one thread are
  /// written in the order of the calls. Thread-safe.
  SendStatus send(MessageType type, std::span<const std::uint8_t> payload);
  SendStatus send_text(std::string_view text);
  SendStatus send_binary(std::span<const std::uint8_t> data);
  /// Serializes `value` and sends it as a text message.
  SendStatus send_json(const boost::json::value& value);

  /// Closes for good: sends a close frame with `code`/`reason` after what was
  /// already handed to the connection, waits for the server's answer (at most
  /// about timeouts.close), and stops reconnecting. Sends are rejected from
  /// the moment it is called. Idempotent and thread-safe. From another thread
  /// it returns when the close is complete and no callback is running; the
  /// final on_close (will_retry false) runs before it returns. From inside a
  /// callback it returns at once, the close goes on in the background, and
  /// no further callback runs (not even that on_close).
  void close(std::uint16_t code = 1000, std::string_view reason = {});

  /// Waits until every accepted message has been handed to the connection
  /// (the offline queue is empty), the client is closed, or `timeout` passed.
  /// Returns true when every message accepted so far was handed to a
  /// connection; false on timeout, or when the client closed or stopped for
  /// good with messages still queued (those were dropped, never sent). From
  /// inside a callback it does not wait. Thread-safe.
  bool flush(std::chrono::milliseconds timeout);

  /// The current state (atomic). Thread-safe.
  State state() const noexcept;
  /// A snapshot of the last handshake response, connect time, error. Thread-safe.
  ConnectionInfo info() const;
  /// Bytes accepted but not yet handed to the connection. Thread-safe.
  std::size_t queued_bytes() const;
  const net::WsUrl& url() const noexcept;

  /// Changes the request target (path and query, e.g.
  /// "/v1/subscriptions/s1/stream?since=42") used from the next connection
  /// attempt on; the one in progress, if any, keeps its own. For resuming
  /// endpoints whose resume point is in the URL. Returns false (and changes
  /// nothing) unless `target` starts with '/' and holds no space, control
  /// character or '#'. Thread-safe.
  bool set_target(std::string_view target);

  /// Listeners: several per event, called in registration order on the
  /// client's thread. Add and remove at any time from any thread (also from
  /// inside a callback). A listener added during an event is called from the
  /// next one on. Returns an id for remove_listener().
  ListenerId on_open(Listeners::OpenFn fn, Listen mode = Listen::recurring);
  ListenerId on_message(Listeners::MessageFn fn, Listen mode = Listen::recurring);
  /// An open connection ended (will_retry true: a reconnect follows), or the
  /// client stopped for good (will_retry false: the last event).
  ListenerId on_close(Listeners::CloseFn fn, Listen mode = Listen::recurring);
  /// A reconnect is scheduled: `attempt` (1, 2, ...) after `delay`.
  ListenerId on_reconnecting(Listeners::ReconnectingFn fn, Listen mode = Listen::recurring);
  /// Something failed: a connection attempt, the connection, the session hook.
  ListenerId on_error(Listeners::ErrorFn fn, Listen mode = Listen::recurring);
  /// Removes a listener. From another thread, returns only once that listener
  /// is not running (and it never runs again); from inside a callback,
  /// returns at once. False if the id is unknown. Thread-safe.
  bool remove_listener(ListenerId id);

 private:
  std::unique_ptr<detail::Core> core_;
};

}  // namespace sluice::client

namespace sluice {
using Client = client::Client;
}
