#include "sluice/centrifugo/session.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <random>

#include "centrifugo/session_util.hpp"
#include "sluice/topic/topic.hpp"
#include "sluice/centrifugo/channel.hpp"
#include "sluice/util/json_text.hpp"
#include "sluice/centrifugo/history.hpp"

namespace sluice::centrifugo {

using detail::append_line;
using detail::expiry_fields;

namespace {

// A random RFC 4122 version 4 UUID: the client id a connect reply carries.
Session::ClientId random_client_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const std::uint64_t a = random(), b = random();
  Session::ClientId bytes;
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(a >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);
  return bytes;
}

// Its text form, 8-4-4-4-12 hex digits.
std::string format_client_id(const Session::ClientId& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xF];
  }
  return out;
}

}  // namespace

Session::Session(std::uint64_t id, Context& context, std::shared_ptr<net::Connection> connection)
    : id_(id), context_(context), connection_(std::move(connection)) {
  connection_->set_handler(this);
}

Session::~Session() { on_closed(); }

// --- lifecycle ---

std::optional<net::RouteRefusal> Session::on_upgrade_request(net::Connection& connection, const net::ParsedRequest&) {
  // Per client IP, as on /v1/ws; refused after the handshake with 3013 (the
  // client retries later). The credential comes with the connect command.
  if (!context_.connections_per_ip && !context_.new_connections_per_ip) return std::nullopt;
  const std::string ip = connection.remote_ip();
  if (!context_.limit_loopback && limits::is_loopback(ip)) return std::nullopt;
  if (context_.new_connections_per_ip && !context_.new_connections_per_ip->acquire(ip)) {
    refusal_ = disconnect::too_many_requests;
    return std::nullopt;
  }
  if (context_.connections_per_ip) {
    ip_lease_ = context_.connections_per_ip->lease(ip);
    if (!ip_lease_) refusal_ = disconnect::too_many_requests;
  }
  return std::nullopt;
}

void Session::on_open(net::Connection&) {
  if (refusal_) {
    if (context_.metrics) context_.metrics->rejected_limits->add();
    return close_with(*refusal_);
  }
  arm_deadline(context_.settings.connect_timeout);
}

void Session::on_closed() {
  if (closed_) return;
  closed_ = true;
  net::Deadlines::cancel(*this);
  if (expiry_) expiry_->cancel();
  if (sub_expiry_) sub_expiry_->cancel();
  ip_lease_.release();
  for (const auto& [topic, subscription] : subscriptions_) context_.hub.unsubscribe(topic, this);
  subscriptions_.clear();
  covering_ = 0;
  if (connection_) connection_->set_handler(nullptr);  // no call can reach a destroyed session
  connection_.reset();  // breaks the session <-> connection cycle
}

void Session::close(std::uint16_t sluice_code, std::string_view reason) {
  if (!connection_) return;
  const CloseRequest request = centrifugo_close(sluice_code, reason);
  if (connection_->state() == net::Connection::State::open) {
    connection_->close(request.code, request.reason);
  } else if (connection_->state() != net::Connection::State::closing) {
    connection_->abort();  // still in the handshake: nothing to hand-shake
  }
}

void Session::close_with(const Disconnect& disconnect) {
  if (connection_ && connection_->state() == net::Connection::State::open) {
    connection_->close(disconnect.code, disconnect.reason);
  }
}

void Session::arm_deadline(std::chrono::milliseconds after) {
  if (connection_) net::Deadlines::of(connection_->loop()).arm(*this, after);
}

// Before connect: the stale deadline. After: a ping is due, or its pong.
void Session::on_deadline() {
  if (!connection_) return;
  if (!connected_) return close_with(disconnect::stale);
  // The client expects the next ping one interval after this one (the SDK
  // reconnects when it is late); the pong deadline falls in between, so
  // both waits have fixed lengths (Deadlines keeps a lane per length).
  const auto interval = context_.settings.ping_interval;
  const auto pong_timeout = std::min(context_.settings.pong_timeout, interval / 2);
  if (ping_sent_) {
    if (pong_pending_) return close_with(disconnect::no_pong);
    ping_sent_ = false;
    return arm_deadline(interval - pong_timeout);
  }
  send_reply("{}");  // a ping: no id, no push
  pong_pending_ = true;
  ping_sent_ = true;
  arm_deadline(pong_timeout);
}

// --- commands ---

void Session::send_reply(std::string_view payload) {
  // Replies take the connection's own path: over the queue limit it closes
  // with 3008, so a reply is never dropped silently.
  if (connection_) (void)connection_->send_text(payload);
}

void Session::on_message(net::Connection&, protocol::MessageType type, std::span<const std::uint8_t> payload) {
  if (closed_ || !connection_) return;
  if (type != protocol::MessageType::text) return close_with(disconnect::bad_request);  // JSON protocol only
  std::vector<Command> commands;
  const std::string why = decode_commands({reinterpret_cast<const char*>(payload.data()), payload.size()}, commands);
  // Replies of one message go out together, in order, as one frame.
  std::string replies;
  for (const auto& command : commands) {
    handle(command, replies);
    if (!connection_ || connection_->state() != net::Connection::State::open) return;
  }
  if (!replies.empty()) send_reply(replies);
  if (!why.empty()) close_with(disconnect::bad_request);
}

void Session::handle(const Command& c, std::string& replies) {
  if (c.method == Method::pong && c.id == 0) {
    pong_pending_ = false;
    return;
  }
  if (!connected_ && c.method != Method::connect) {
    // Centrifugo's order: connect first; anything else is a protocol error.
    return close_with(disconnect::bad_request);
  }
  if (!c.invalid.empty()) return append_line(replies, encode_error(c.id, error_code::bad_request, c.invalid));
  switch (c.method) {
    case Method::connect: return connect(c, replies);
    case Method::subscribe: return subscribe(c, replies);
    case Method::unsubscribe: return unsubscribe(c, replies);
    case Method::publish: return publish(c, replies);
    case Method::history: return history(c, replies);
    case Method::refresh: return refresh(c, replies);
    case Method::send: return;  // asynchronous message to the server: no handler here, ignored
    case Method::ping: return append_line(replies, encode_result(c.id, "ping", "{}"));
    case Method::sub_refresh: return sub_refresh(c, replies);
    case Method::presence:
    case Method::presence_stats:
    case Method::rpc:
      return append_line(replies, encode_error(c.id, error_code::not_available, "not available"));
    case Method::pong:
    case Method::unknown:
      break;
  }
  append_line(replies, encode_error(c.id, error_code::method_not_found, "method not found"));
}

std::string Session::connect_result() const {
  std::string result = "{\"client\":\"" + format_client_id(client_id_) + "\",\"version\":" + util::quoted(context_.version);
  const auto interval = context_.settings.ping_interval;
  if (interval.count() > 0) {
    const auto seconds = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(interval).count());
    result += ",\"ping\":" + std::to_string(seconds) + ",\"pong\":true";
  }
  if (grant_) result += expiry_fields(grant_->expires_at);
  return result + "}";
}

void Session::connect(const Command& c, std::string& replies) {
  if (connected_) return close_with(disconnect::bad_request);  // a second connect
  if (context_.auth && context_.auth->required()) {
    auto checked = context_.auth->check(c.token, std::chrono::system_clock::now());
    if (!checked) {
      // An expired token gets 109: the SDK fetches a new one and connects again.
      if (checked.message.find("expired") != std::string::npos) {
        return append_line(replies, encode_error(c.id, error_code::token_expired, "token expired"));
      }
      if (context_.metrics) context_.metrics->rejected_auth->add();
      return close_with(disconnect::invalid_token);
    }
    // A subscription token (it names a `channel`) is not a connection token.
    if (checked.grant->token && !checked.grant->token->channel.empty()) return close_with(disconnect::invalid_token);
    grant_ = std::make_unique<auth::ConnectionGrant>(std::move(*checked.grant));
  }
  connected_ = true;
  client_id_ = random_client_id();
  append_line(replies, encode_result(c.id, "connect", connect_result()));
  net::Deadlines::cancel(*this);  // the stale deadline
  if (context_.settings.ping_interval.count() > 0) arm_deadline(context_.settings.ping_interval);
  arm_expiry();
}

std::optional<std::string> Session::topic_of(const Command& c, std::string& replies) {
  std::string why;
  auto topic = channel_to_topic(c.channel, why);
  if (!topic) append_line(replies, encode_error(c.id, error_code::bad_request, why));
  return topic;
}

void Session::subscribe(const Command& c, std::string& replies) {
  auto topic = topic_of(c, replies);
  if (!topic) return;
  if (subscriptions_.contains(*topic)) {
    return append_line(replies, encode_error(c.id, error_code::already_subscribed, "already subscribed"));
  }
  if (subscriptions_.size() >= context_.settings.max_subscriptions) {
    return append_line(replies, encode_error(c.id, error_code::limit_exceeded, "limit exceeded"));
  }
  bool allowed = may_read(c.channel, *topic);
  std::int64_t expires_at = 0;  // a subscription token's: the subscription ends with it
  if (!c.token.empty() && context_.auth && context_.auth->accepts_tokens()) {
    const auto token_expiry = check_subscription_token(c, replies);
    if (!token_expiry) return;
    allowed = true;
    expires_at = *token_expiry;
  }
  if (!allowed) {
    if (context_.metrics) context_.metrics->auth_forbidden->add();
    return append_line(replies, encode_error(c.id, error_code::permission_denied, "permission denied"));
  }
  broker::ReplayRequest request;
  request.pattern = *topic;
  if (c.recover) request.positions[*topic] = broker::Position{c.offset, c.epoch};
  // On this loop's thread: no drain of the loop's inbox runs between the
  // snapshot and the reply, so live events after it are the ones above
  // `covered`, and older ones still on their way are skipped.
  auto replay = context_.broker.replay(request);
  const std::uint64_t covered = replay.covered.empty() ? 0 : replay.covered.front().second;
  // The missed publications travel inside the reply, one message: one the
  // send queue cannot take would make the client a slow consumer again at
  // each reconnect. A slow consumer's backlog is a whole queue (dropped at
  // its 3008) plus what came after, so with an empty queue the replies of
  // one message (the SDK sends connect and its subscribes together) may
  // carry up to twice its limit (an empty queue accepts one message of any
  // size, sent whole before anything else: each reconnect makes progress);
  // with a busy one, 3/4 of its room. Past that, the newest that fit, with
  // recovered:false.
  const std::size_t limit = connection_->send_queue_limit();
  const std::size_t queued = connection_->queued_bytes();
  const std::size_t budget = queued == 0 ? 2 * limit - std::min(2 * limit, replies.size())
                                         : (limit - std::min(limit, queued + replies.size())) / 4 * 3;
  std::size_t bytes = 0;
  std::size_t keep_from = replay.events.size();
  while (keep_from > 0 && bytes + replay.events[keep_from - 1]->data.size() + 64 <= budget) {
    bytes += replay.events[--keep_from]->data.size() + 64;
  }
  if (keep_from > 0) {
    replay.events.erase(replay.events.begin(), replay.events.begin() + static_cast<std::ptrdiff_t>(keep_from));
    replay.recovered = false;
  }
  if (c.recover && !replay.recovered && (c.flag & kRejectUnrecovered) != 0) {
    return append_line(replies, encode_error(c.id, error_code::unrecoverable_position, "unrecoverable position"));
  }
  const auto info = context_.broker.topic_info(*topic);
  const std::string epoch = info ? info->second : std::string();
  subscriptions_.emplace(*topic, Subscription{c.channel, covered, expires_at});
  if (covered > 0) ++covering_;
  context_.hub.subscribe(*topic, this);
  if (expires_at > 0) arm_subscription_expiry();

  std::string result = "{\"recoverable\":true,\"positioned\":true,\"epoch\":" + util::quoted(epoch) +
                       ",\"offset\":" + std::to_string(covered);
  if (c.recover) {
    result += std::string(",\"was_recovering\":true,\"recovered\":") + (replay.recovered ? "true" : "false");
  }
  result += expiry_fields(expires_at);
  if (!replay.events.empty()) {
    result += ",\"publications\":[";
    bool first = true;
    for (const auto& event : replay.events) {
      if (!first) result += ',';
      first = false;
      append_publication(result, *event);
    }
    result += ']';
  }
  result += '}';
  append_line(replies, encode_result(c.id, "subscribe", result));
}

void Session::unsubscribe(const Command& c, std::string& replies) {
  auto topic = topic_of(c, replies);
  if (!topic) return;
  (void)leave(*topic);
  append_line(replies, encode_result(c.id, "unsubscribe", "{}"));
}

void Session::drop_subscription(std::string_view pattern, std::string_view reason) {
  std::vector<std::string> dropped;
  for (const auto& [topic, subscription] : subscriptions_) {
    if (topic == pattern || topic::pattern_matches(pattern, topic)) dropped.push_back(topic);
  }
  for (const auto& topic : dropped) end_subscription(topic, 2000, reason);
}

std::optional<std::string> Session::leave(const std::string& topic) {
  auto it = subscriptions_.find(topic);
  if (it == subscriptions_.end()) return std::nullopt;
  if (it->second.covered > 0) --covering_;
  std::string channel = std::move(it->second.channel);
  subscriptions_.erase(it);
  context_.hub.unsubscribe(topic, this);
  return channel;
}

void Session::end_subscription(const std::string& topic, int code, std::string_view reason) {
  if (auto channel = leave(topic)) send_reply(encode_unsubscribe_push(*channel, code, reason));
}

void Session::publish(const Command& c, std::string& replies) {
  auto topic = topic_of(c, replies);
  if (!topic) return;
  if (!c.has_data) return append_line(replies, encode_error(c.id, error_code::bad_request, "\"data\" is required"));
  if (grant_ && !grant_->may_publish(*topic)) {
    if (context_.metrics) context_.metrics->auth_forbidden->add();
    return append_line(replies, encode_error(c.id, error_code::permission_denied, "permission denied"));
  }
  server::PublishService::Input input;
  input.request.topic = std::move(*topic);
  input.request.data = c.data;
  // The answer comes back through the loop's queue, never inline (as on /v1/ws).
  context_.publisher.publish(std::move(input), [weak = weak_from_this(), executor = connection_->executor(),
                                                id = c.id](server::PublishService::Outcome outcome) {
    boost::asio::post(executor, [weak, id, outcome = std::move(outcome)] {
      if (auto self = weak.lock()) self->on_published(id, outcome);
    });
  });
}

void Session::on_published(std::uint32_t id, const server::PublishService::Outcome& outcome) {
  if (!connection_) return;
  switch (outcome.error) {
    case server::PublishError::none:
      return send_reply(encode_result(id, "publish", "{}"));
    case server::PublishError::too_many_topics:
      return send_reply(encode_error(id, error_code::limit_exceeded, "limit exceeded"));
    case server::PublishError::invalid:
    case server::PublishError::invalid_topic:
      return send_reply(encode_error(id, error_code::bad_request, outcome.message));
    default:
      // The store is busy or failed: nothing was published; the client may retry.
      return send_reply(encode_error(id, error_code::internal, "internal server error", true));
  }
}

// history: {channel, limit, since?, reverse?}. limit 0 gives only the
// stream's position; a negative limit, everything history holds (bounded by
// max_history). With `since`, publications after since.offset (reverse:
// before it, newest first), in since.epoch (another epoch: 112).
void Session::history(const Command& c, std::string& replies) {
  auto topic = topic_of(c, replies);
  if (!topic) return;
  if (!may_read(c.channel, *topic)) {
    if (context_.metrics) context_.metrics->auth_forbidden->add();
    return append_line(replies, encode_error(c.id, error_code::permission_denied, "permission denied"));
  }
  HistoryQuery query;
  query.limit = c.limit;
  query.has_since = c.has_since;
  query.since_offset = c.since_offset;
  query.since_epoch = c.since_epoch;
  query.reverse = c.reverse;
  std::string result;
  if (const int error = history_result(context_.broker, *topic, query, context_.settings.max_history, result)) {
    return append_line(replies, encode_error(c.id, error, "unrecoverable position"));
  }
  append_line(replies, encode_result(c.id, "history", result));
}

// --- delivery ---

void Session::deliver(const broker::EventPtr& event) {
  if (!connection_) return;
  if (covering_ > 0) {
    auto it = subscriptions_.find(event->topic);
    if (it != subscriptions_.end() && it->second.covered > 0) {
      if (event->offset <= it->second.covered) return;  // the subscribe reply's snapshot had it
      it->second.covered = 0;  // later events of this topic are all newer
      --covering_;
    }
  }
  count_delivery(connection_->send_shared(pub_frame(*event)), 1);
}

void Session::deliver_run(broker::EventRun& run) {
  if (!connection_) return;
  const auto events = run.events();
  if (covering_ > 0 || events.empty()) {
    for (const auto& event : events) deliver(event);
    return;
  }
  // One frame of newline-separated pushes, built once for every subscriber on this loop.
  auto& cache = context_.run_cache;
  if (cache.first != events.front() || cache.count != events.size() || !cache.frame) {
    std::string payload;
    for (const auto& event : events) {
      if (!payload.empty()) payload += '\n';
      payload += frame_payload(*pub_frame(*event));
    }
    cache.first = events.front();
    cache.count = events.size();
    cache.frame = text_frame(payload);
  }
  count_delivery(connection_->send_shared(cache.frame), events.size());
}

// Counts `events` handed to the connection as one send. Centrifugo's protocol
// has no gap marker: an event that does not fit closes the connection (3008).
void Session::count_delivery(net::SendStatus status, std::size_t events) {
  if (status == net::SendStatus::dropped) connection_->close_slow_consumer();
  if (context_.metrics && status == net::SendStatus::queued) context_.metrics->deliveries->add(events);
}

void Session::missed(std::uint64_t) {
  if (connection_) connection_->close_slow_consumer();
}

}  // namespace sluice::centrifugo
