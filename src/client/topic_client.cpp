#include "sluice/client/topic_client.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <stdexcept>

#include "client/topic_state.hpp"

namespace sluice::client {

namespace {

// The raw client's options with the topic layer's session hook in place.
ClientOptions raw_options(TopicClientOptions& options, const std::shared_ptr<detail::TopicState>& state) {
  ClientOptions raw = std::move(options.client);
  if (raw.session.hook) {
    throw std::invalid_argument("TopicClientOptions.client.session.hook must be empty: the topic layer resubscribes");
  }
  if (options.max_pending_publish_bytes == 0) {
    throw std::invalid_argument("TopicClientOptions.max_pending_publish_bytes must be > 0");
  }
  // Every pending publish fits the raw queue, so an open connection never refuses one.
  raw.max_queued_bytes = std::max(raw.max_queued_bytes, options.max_pending_publish_bytes + 64 * 1024);
  raw.session.hook = [state](Session& session) { return state->on_session(session); };
  // /v1/ws speaks the in-band refresh: tokens are renewed without a reconnect.
  if (raw.auth.renewal == TokenRenewal::automatic) raw.auth.renewal = TokenRenewal::in_band;
  return raw;
}

}  // namespace

TopicClient::TopicClient(std::string_view url, TopicClientOptions options)
    : state_(std::make_shared<detail::TopicState>(options.max_pending_publish_bytes, options.resume_time_margin)) {
  client_ = std::make_unique<Client>(url, raw_options(options, state_));
  state_->bind(client_.get());
  client_->on_message([state = state_](const Message& m) { state->on_message(m); });
  client_->on_close([state = state_](const CloseEvent& e) { state->on_closed(e); });
}

TopicClient::~TopicClient() {
  close(1001, "client going away");
  client_.reset();  // joins the client's thread: nothing of ours runs after
}

void TopicClient::connect() { client_->connect(); }

SubscriptionId TopicClient::subscribe(std::string pattern, EventHandler handler, SubscribeOptions options) {
  return state_->subscribe(std::move(pattern), std::move(handler), std::move(options));
}

bool TopicClient::unsubscribe(SubscriptionId id) { return state_->unsubscribe(id); }

SendStatus TopicClient::publish(std::string_view topic, const boost::json::value& data, PublishOptions options,
                                PublishHandler done) {
  return state_->publish(topic, boost::json::serialize(data), std::move(options), std::move(done));
}

std::future<PublishResult> TopicClient::publish(std::string_view topic, const boost::json::value& data,
                                                PublishOptions options) {
  auto promise = std::make_shared<std::promise<PublishResult>>();
  auto future = promise->get_future();
  const SendStatus status =
      publish(topic, data, std::move(options), [promise](const PublishResult& r) { promise->set_value(r); });
  if (!accepted(status)) {
    PublishResult refused;
    refused.code = to_string(status);
    refused.message = std::string("publish refused: ") + to_string(status);
    promise->set_value(std::move(refused));
  }
  return future;
}

std::optional<Position> TopicClient::position(std::string_view topic) const { return state_->position(topic); }

std::size_t TopicClient::pending_publishes() const { return state_->pending_publishes(); }

void TopicClient::close(std::uint16_t code, std::string_view reason) {
  client_->close(code, reason);
  state_->close_all("the client was closed before the server acknowledged it");
}

Client& TopicClient::client() noexcept { return *client_; }

}  // namespace sluice::client
