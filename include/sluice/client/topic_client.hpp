// sluice::TopicClient: topics on a Sluice server (the in-band protocol on
// /v1/ws, SPEC §3), on top of the resilient raw Client (SPEC §4).
//
// What it adds: subscribe(pattern, handler) with acknowledgements, and after
// every reconnect (or server restart) a resubscribe that resumes from the
// last event it delivered, so the application sees every event of a topic
// exactly once and in offset order; when history no longer covers the gap the
// subscription's status says `recovered: false`. publish(topic, data) with
// an acknowledgement (future or callback) that comes once the server has the
// event durably; an unacknowledged publish is resent after a reconnect with
// its idempotency key, so it is published once.
//
// Threads. Everything runs on the raw client's one thread: event handlers,
// status handlers, publish callbacks and the raw client's listeners, one at a
// time, never under an internal lock. Public methods are thread-safe and may
// be called from any thread, also from inside those callbacks.
//
// Lifetime. After close() returns (from outside a callback) no handler runs
// again. The destructor calls close(). Do not destroy a TopicClient from
// inside its own callbacks. Handlers must not throw.
#pragma once

#include <boost/json/fwd.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/client/client.hpp"
#include "sluice/client/topic_types.hpp"

namespace sluice::client {

namespace detail {
class TopicState;
}

struct TopicClientOptions {
  /// The raw client's options. session.hook must stay empty: the topic layer
  /// uses it to resubscribe and resend before the offline queue is flushed.
  /// client.auth: with TokenRenewal::automatic, a provider's token is
  /// refreshed in band before it expires (no reconnect).
  ClientOptions client;
  /// Publishes accepted but not yet acknowledged (their JSON bytes). Beyond
  /// it publish() fails fast with "queue_full". The raw client's
  /// max_queued_bytes is raised to at least this plus 64 KiB.
  std::size_t max_pending_publish_bytes = 1024 * 1024;
  /// A subscription without a position for a topic resumes that topic from
  /// the time it was made, minus this margin (clock skew between client and
  /// server). Events in the margin that were never delivered may come once.
  std::chrono::milliseconds resume_time_margin{1'000};
};

class TopicClient {
 public:
  /// `url`: the server's in-band endpoint, e.g. "ws://127.0.0.1:8080/v1/ws".
  /// Throws std::invalid_argument on a bad URL or option (as Client does).
  explicit TopicClient(std::string_view url, TopicClientOptions options = {});
  ~TopicClient();
  TopicClient(const TopicClient&) = delete;
  TopicClient& operator=(const TopicClient&) = delete;

  /// Starts connecting (see Client::connect). Subscriptions and publishes
  /// made before are sent once the connection is open. Thread-safe.
  void connect();

  /// Subscribes `handler` to the topics matching `pattern` ("orders.*",
  /// "orders.>"). Returns its id at once (0 if `pattern` is not a valid
  /// pattern: then nothing else happens); the server's answer comes to
  /// options.on_status. Several subscriptions may share a pattern or overlap:
  /// each event is delivered once to every subscription it matches. Resuming
  /// is per client: an event this client already delivered is not delivered
  /// again, also not to a subscription made later with an older `since`.
  /// Thread-safe.
  SubscriptionId subscribe(std::string pattern, EventHandler handler, SubscribeOptions options = {});
  /// Stops a subscription: its handlers are not called after this returns
  /// (from inside a callback: after the current one). False if unknown.
  /// Thread-safe.
  bool unsubscribe(SubscriptionId id);

  /// Publishes `data` on `topic`. `done` runs on the client's thread with the
  /// server's acknowledgement or error, or with "closed" when the client
  /// closes first (then on the thread calling close(), before it returns).
  /// Returns sent/queued (accepted: `done` will run exactly once) or why it
  /// was refused at once (queue_full, too_large, closed; `done` never runs).
  /// An invalid topic is accepted and answered by the server. Thread-safe.
  SendStatus publish(std::string_view topic, const boost::json::value& data, PublishOptions options,
                     PublishHandler done);
  /// The same, with a future (ready at once when refused).
  std::future<PublishResult> publish(std::string_view topic, const boost::json::value& data,
                                     PublishOptions options = {});

  /// The last event delivered on `topic` (what a reconnect resumes from).
  /// Thread-safe.
  std::optional<Position> position(std::string_view topic) const;
  /// Publishes not yet acknowledged. Thread-safe.
  std::size_t pending_publishes() const;

  /// Closes for good (see Client::close); unacknowledged publishes complete
  /// with "closed". Idempotent, thread-safe.
  void close(std::uint16_t code = 1000, std::string_view reason = {});

  /// The raw client underneath: state(), info(), flush(), and the listeners
  /// on_open / on_close / on_reconnecting / on_error. Do not send subscribe
  /// or publish requests through it yourself.
  Client& client() noexcept;

 private:
  std::shared_ptr<detail::TopicState> state_;
  std::unique_ptr<Client> client_;
};

}  // namespace sluice::client

namespace sluice {
using TopicClient = client::TopicClient;
}
