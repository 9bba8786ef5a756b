// The session hook: the client's "resubscribe" step (resilientws's
// SubscribeHandler, nats.c's resend-subscriptions-first). It runs after every
// (re)connect, before the offline queue is flushed and before on_open, so a
// server that needs a login or its subscriptions sees them first.
#pragma once

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sluice/client/events.hpp"

namespace sluice::client {

namespace detail {
struct SessionToken;
}

/// What the hook reports when it returns.
enum class HookResult : std::uint8_t {
  done,     ///< the session is ready: flush the offline queue, then on_open
  failed,   ///< retry the hook after a backoff delay (on the same connection)
  pending,  ///< the hook finishes later through Session::complete() or Session::fail()
};

/// The hook's handle on one connection. Copyable; a copy may outlive the
/// connection (or the client): once the connection it belongs to has ended,
/// or the hook attempt was decided, every call on it is a harmless no-op.
/// Thread-safe: send/complete/fail may be called from any thread.
class Session {
 public:
  /// Sends on this connection directly, ahead of the offline queue. From the
  /// hook itself the status is exact; from another thread the message is
  /// posted and `sent` means "accepted for this connection". Returns closed
  /// once the connection is gone.
  SendStatus send_text(std::string_view text);
  SendStatus send_binary(std::span<const std::uint8_t> data);
  SendStatus send_json(const boost::json::value& value);

  /// Completes a hook that returned HookResult::pending.
  void complete();
  /// Fails a hook that returned HookResult::pending (it is retried with backoff).
  void fail(std::string reason);

  /// The connection this session belongs to (OpenEvent::connection numbering).
  std::uint64_t connection() const noexcept;
  /// Which run of the hook on this connection (1 = the first, then retries).
  std::uint32_t hook_attempt() const noexcept;

  explicit Session(std::shared_ptr<detail::SessionToken> token) : token_(std::move(token)) {}

 private:
  SendStatus send(MessageType type, std::string payload);
  std::shared_ptr<detail::SessionToken> token_;
};

/// Runs on the client's thread, one at a time with every other callback, with
/// no internal lock held. Any public Client method may be called from it.
using SessionHook = std::function<HookResult(Session&)>;

}  // namespace sluice::client
