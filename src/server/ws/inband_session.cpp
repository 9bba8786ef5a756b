#include "sluice/server/inband_session.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "sluice/util/json_text.hpp"
#include "sluice/topic/topic.hpp"

#include <algorithm>
#include <charconv>
#include "sluice/protocol/frame.hpp"

namespace sluice::server {

namespace json = boost::json;

namespace {

// The frame for a small message that only this connection receives.
std::shared_ptr<const std::string> text_frame(const std::string& payload) {
  const auto header = protocol::make_server_header(protocol::Opcode::text, payload.size());
  auto frame = std::make_shared<std::string>(reinterpret_cast<const char*>(header.bytes.data()), header.size);
  *frame += payload;
  return frame;
}

// Parses "since": {"offset": N, "epoch": "E"} for a topic, or
// {"topics": {"a.b": {"offset": N, "epoch": "E"}, ...}, "time": MS} for any
// pattern; both may carry "fallback": "oldest" (default) or "latest".
std::optional<broker::ReplayRequest> parse_since(const std::string& pattern, const json::value& since,
                                                 std::string& why) {
  if (!since.is_object()) {
    why = "\"since\" must be an object: {\"offset\":N,\"epoch\":\"...\"}";
    return std::nullopt;
  }
  const auto& o = since.get_object();
  broker::ReplayRequest request;
  request.pattern = pattern;
  auto read_position = [&](const json::value& v, broker::Position& out, const std::string& where) {
    const json::object* p = v.if_object();
    const json::value* offset = p ? p->if_contains("offset") : nullptr;
    if (!offset || !(offset->is_uint64() || (offset->is_int64() && offset->get_int64() >= 0))) {
      why = where + ".offset must be a number >= 0";
      return false;
    }
    out.offset = offset->is_uint64() ? offset->get_uint64() : static_cast<std::uint64_t>(offset->get_int64());
    if (const json::value* epoch = p->if_contains("epoch")) {
      if (!epoch->is_string()) {
        why = where + ".epoch must be a string";
        return false;
      }
      out.epoch = std::string(epoch->get_string());
    }
    return true;
  };
  if (o.contains("offset")) {
    if (topic::is_wildcard_pattern(pattern)) {
      why = "since.offset needs an exact topic; for a pattern use since.topics and since.time";
      return std::nullopt;
    }
    if (!read_position(since, request.positions[pattern], "since")) return std::nullopt;
  }
  if (const json::value* topics = o.if_contains("topics")) {
    if (!topics->is_object()) {
      why = "since.topics must be an object of topic -> {offset, epoch}";
      return std::nullopt;
    }
    for (const auto& [topic, position] : topics->get_object()) {
      if (!read_position(position, request.positions[std::string(topic)], "since.topics." + std::string(topic))) {
        return std::nullopt;
      }
    }
  }
  if (const json::value* time = o.if_contains("time")) {
    if (!time->is_int64() && !time->is_uint64()) {
      why = "since.time must be milliseconds since the Unix epoch";
      return std::nullopt;
    }
    request.since_time_ms = time->to_number<std::int64_t>();
  }
  if (const json::value* fallback = o.if_contains("fallback")) {
    if (fallback->is_string() && fallback->get_string() == "latest") {
      request.fallback = broker::Fallback::latest;
    } else if (!(fallback->is_string() && fallback->get_string() == "oldest")) {
      why = "since.fallback must be \"oldest\" or \"latest\"";
      return std::nullopt;
    }
  }
  return request;
}

// The request's "id" into `id` (JSON, "null" when absent), echoed as the
// client wrote it (minus whitespace): re-serialized, 18446744073709551617
// would come back as a double and 1e999 as Infinity. Returns why it cannot
// be used, or "".
std::string read_request_id(std::string_view text, const json::object& object, std::string& id) {
  constexpr std::size_t kMaxIdBytes = 256;
  if (!object.contains("id")) return {};
  const auto raw_id = util::raw_member(text, "id");
  if (!raw_id) return "\"id\" could not be read";
  id = util::minify(*raw_id);
  if (id.size() > kMaxIdBytes) return "\"id\" is longer than " + std::to_string(kMaxIdBytes) + " bytes";
  return {};
}

}  // namespace

InbandSession::InbandSession(std::uint64_t id, const Context& context, std::shared_ptr<net::Connection> connection)
    : id_(id),
      context_(context),
      connection_(std::move(connection)) {
  connection_->set_handler(this);
}

InbandSession::~InbandSession() { on_closed(); }

const std::string& InbandSession::stream_id() const noexcept {
  static const std::string none;
  return stream() ? stream()->id : none;
}

void InbandSession::open_stream(SubscriptionPtr subscription, std::optional<std::uint64_t> since) {
  if (!connection_) return;
  if (!subscription) return connection_->close(4404, "subscription not found");
  const Subscription& followed = *(uncommon().stream = std::move(subscription));
  for (const auto& pattern : followed.patterns) {
    if (!subscriptions_.contains(pattern)) subscriptions_.add(pattern);
    context_.hub.subscribe(pattern, this);
  }
  send_json("{\"type\":\"connected\",\"subscription\":" + followed.to_json() + "}");
  if (!since) return;
  const std::uint64_t value = *since;
  broker::ReplayRequest request;
  const bool one_topic = followed.patterns.size() == 1 && !topic::is_wildcard_pattern(followed.patterns[0]);
  for (const auto& pattern : followed.patterns) {
    request.pattern = pattern;
    if (one_topic) {
      request.positions[pattern] = broker::Position{value, {}};
    } else {
      request.since_time_ms = static_cast<std::int64_t>(value);
    }
    start_replay(context_.broker.replay(request));
  }
}

void InbandSession::on_closed() {
  if (!connection_) return;  // closed already
  // Closed from here on; the session <-> connection cycle is broken at the end.
  const std::shared_ptr<net::Connection> connection = std::move(connection_);
  if (Access* a = access()) {
    if (a->expiry) a->expiry->cancel();
    a->ip_lease.release();
  }
  if (stream()) SubscriptionRegistry::detach_stream(*stream());
  for (const std::string_view pattern : subscriptions_) context_.hub.unsubscribe(pattern, this);
  subscriptions_.clear();
  if (uncommon_) uncommon_->replay.reset();
  connection->set_handler(nullptr);  // no call can reach a destroyed session
}

void InbandSession::close(std::uint16_t code, std::string_view reason) {
  if (!connection_) return;
  if (connection_->state() == net::Connection::State::open) {
    connection_->close(code, reason);
  } else if (connection_->state() != net::Connection::State::closing) {
    connection_->abort();  // still in the handshake: nothing to hand-shake
  }
}

void InbandSession::send_json(const std::string& payload) {
  // Replies take the connection's own path: over the queue limit that closes
  // with 4008 whatever the policy, so an ack is never dropped silently.
  if (connection_) (void)connection_->send_text(payload);
}

void InbandSession::reply_error(const std::string& id_json, std::string_view code, std::string_view message) {
  send_json("{\"type\":\"error\",\"id\":" + id_json + ",\"code\":" + util::quoted(code) + ",\"message\":" +
            util::quoted(message) + "}");
  // Token bucket: a client that keeps sending bad requests is closed with 1008.
  // The bucket starts full at the first refused request.
  const auto now = std::chrono::steady_clock::now();
  const bool first = !uncommon_ || uncommon_->budget_at == std::chrono::steady_clock::time_point{};
  Uncommon& u = uncommon();
  u.error_budget = first ? context_.limits.error_burst
                         : std::min(context_.limits.error_burst,
                                    u.error_budget + context_.limits.error_refill_per_second *
                                                         std::chrono::duration<double>(now - u.budget_at).count());
  u.budget_at = now;
  u.error_budget -= 1;
  if (u.error_budget < 0) close(1008, "too many invalid requests");
}

void InbandSession::on_message(protocol::MessageType type, std::span<const std::uint8_t> payload) {
  if (!connection_) return;  // closed
  if (stream()) return reply_error("null", "bad_request", "a subscription stream is read-only");
  if (type != protocol::MessageType::text) {
    return reply_error("null", "bad_request", "send JSON text messages; binary messages are not understood here");
  }
  handle_request({reinterpret_cast<const char*>(payload.data()), payload.size()});
}

void InbandSession::handle_request(std::string_view text) {
  std::error_code ec;
  json::value request = json::parse(text, ec);
  if (ec) return reply_error("null", "invalid_json", "message is not valid JSON: " + ec.message());
  if (!request.is_object()) return reply_error("null", "bad_request", "message must be a JSON object");
  const json::object& object = request.get_object();
  std::string id = "null";
  if (auto why = read_request_id(text, object, id); !why.empty()) return reply_error("null", "bad_request", why);
  const json::value* op_value = object.if_contains("op");
  if (!op_value || !op_value->is_string()) return reply_error(id, "bad_request", "\"op\" (a string) is required");
  const std::string_view op = op_value->get_string();

  if (op == "ping") return send_json("{\"type\":\"ack\",\"id\":" + id + ",\"op\":\"ping\"}");
  if (op == "subscribe") return subscribe(id, object);
  if (op == "unsubscribe") return unsubscribe(id, object);
  if (op == "publish") return publish(id, request, text);
  if (op == "refresh") return refresh(id, object);

  reply_error(id, "unknown_op", "unknown op \"" + std::string(op) + "\" (subscribe, unsubscribe, publish, ping, refresh)");
}

bool InbandSession::read_topic(const std::string& id_json, const json::object& request, std::string& out) {
  const json::value* topic = request.if_contains("topic");
  if (!topic || !topic->is_string()) {
    reply_error(id_json, "bad_request", "\"topic\" (a string) is required");
    return false;
  }
  out = std::string(topic->get_string());
  return true;
}

// {"op":"subscribe","id":N,"topic":P,"since"?}: acked, then any replay from
// "since", then live events.
void InbandSession::subscribe(const std::string& id, const json::object& object) {
  std::string pattern;
  if (!read_topic(id, object, pattern)) return;
  if (auto why = topic::pattern_error(pattern); !why.empty()) return reply_error(id, "invalid_topic", why);
  if (!may_subscribe(id, pattern)) return;
  if (object.contains("filter")) {
    return reply_error(id, "not_supported", "subscription filters are not supported on /v1/ws yet");
  }
  std::optional<broker::ReplayRequest> replay_request;
  if (const json::value* since = object.if_contains("since")) {
    std::string why;
    replay_request = parse_since(pattern, *since, why);
    if (!replay_request) return reply_error(id, "bad_request", why);
  }
  if (!subscriptions_.contains(pattern)) {
    if (subscriptions_.size() >= context_.limits.max_subscriptions) {
      return reply_error(id, "too_many_subscriptions",
                         "at most " + std::to_string(context_.limits.max_subscriptions) + " subscriptions per connection");
    }
    subscriptions_.add(pattern);
    context_.hub.subscribe(pattern, this);
  }
  std::string ack = "{\"type\":\"ack\",\"id\":" + id + ",\"op\":\"subscribe\",\"topic\":" + util::quoted(pattern);
  if (!replay_request) return send_json(ack + "}");
  // On this loop's thread, so no drain of the inbox runs between the
  // snapshot and the replay: live events after it are held, older ones skipped.
  auto replay = context_.broker.replay(*replay_request);
  ack += std::string(",\"recovered\":") + (replay.recovered ? "true" : "false") +
         ",\"replayed\":" + std::to_string(replay.events.size());
  send_json(ack + "}");
  start_replay(std::move(replay));
}

void InbandSession::unsubscribe(const std::string& id, const json::object& object) {
  std::string pattern;
  if (!read_topic(id, object, pattern)) return;
  if (!subscriptions_.remove(pattern)) {
    return reply_error(id, "not_subscribed", "not subscribed to " + pattern);
  }
  context_.hub.unsubscribe(pattern, this);
  send_json("{\"type\":\"ack\",\"id\":" + id + ",\"op\":\"unsubscribe\",\"topic\":" + util::quoted(pattern) + "}");
}

// {"op":"publish","id":N,"topic":T,"data":...,"type"?,"key"?,"idempotencyKey"?}:
// acked once the event is durable, through the publish door (the same limits
// and idempotency rule as HTTP; data published as written). A repeated
// idempotencyKey is acked with the first publish's event and "duplicate":true.
void InbandSession::publish(const std::string& id, const json::value& request, std::string_view text) {
  PublishService::Input input;
  const auto refused = context_.publisher.parse(request, text, "", {"op", "id"}, input);
  if (refused.error != PublishError::none) {
    return reply_error(id, refused.error == PublishError::invalid_topic ? "invalid_topic" : "bad_request",
                       refused.message);
  }
  if (!may_publish(id, input.request.topic)) return;
  // Every answer comes back through the loop's queue, never inline: the first
  // publish's ack is posted before its key completes, so on one connection
  // the first is acked before its repeats even when the key completed while
  // this connection's input was still being read.
  context_.publisher.publish(std::move(input), [owner = &context_.owner, session = id_,
                                                executor = connection_->executor(), id](PublishService::Outcome outcome) {
    boost::asio::post(executor, [owner, session, id, outcome = std::move(outcome)] {
      if (auto* self = owner->find_session(session)) self->on_published(id, outcome);
    });
  });
}

void InbandSession::send_publish_ack(const std::string& id_json, const PublishedEvent& event, bool duplicate) {
  send_json("{\"type\":\"ack\",\"id\":" + id_json + ",\"op\":\"publish\",\"eventId\":" + util::quoted(event.id) +
            ",\"topic\":" + util::quoted(event.topic) + ",\"offset\":" + std::to_string(event.offset) +
            ",\"epoch\":" + util::quoted(event.epoch) + (duplicate ? ",\"duplicate\":true}" : "}"));
}

// A store failure is the server's trouble, not the client's: not counted
// against its error budget.
void InbandSession::on_published(const std::string& id_json, const PublishService::Outcome& outcome) {
  if (!connection_) return;
  switch (outcome.error) {
    case PublishError::none:
      return send_publish_ack(id_json, outcome.event, outcome.replayed);
    case PublishError::key_conflict:
      return reply_error(id_json, "idempotency_conflict", outcome.message);
    case PublishError::key_in_flight:
      return send_json("{\"type\":\"error\",\"id\":" + id_json + ",\"code\":\"idempotency_in_flight\",\"message\":" +
                       util::quoted(outcome.message) + "}");
    case PublishError::store_busy:
      return send_json("{\"type\":\"error\",\"id\":" + id_json + ",\"code\":\"server_busy\",\"message\":" +
                       util::quoted("too many publishes waiting to be stored; retry") + "}");
    case PublishError::engine_unavailable:
      return send_json("{\"type\":\"error\",\"id\":" + id_json + ",\"code\":\"engine_unavailable\",\"message\":" +
                       util::quoted(outcome.message) + "}");
    case PublishError::too_many_topics:  // the server's limit, not this client's fault: no error budget
      return send_json("{\"type\":\"error\",\"id\":" + id_json + ",\"code\":\"too_many_topics\",\"message\":" +
                       util::quoted(outcome.message) + "}");
    case PublishError::invalid:
    case PublishError::invalid_topic:
    case PublishError::store_failed:
      break;
  }
  send_json("{\"type\":\"error\",\"id\":" + id_json + ",\"code\":\"store_failed\",\"message\":" +
            util::quoted("event not stored: " + outcome.message) + "}");
}

void InbandSession::start_replay(broker::ReplayResult result) {
  auto& state = uncommon().replay;
  if (!state) state = std::make_unique<ReplayState>();
  for (const auto& [topic, last] : result.covered) {
    auto& covered = state->covered[topic];
    covered = std::max(covered, last);
  }
  for (auto& event : result.events) {
    if (const auto* stream = this->stream(); stream && stream->filter &&
        !stream->matches(event->topic, event->type, event->key, event->parsed_data())) {
      continue;
    }
    state->events.push_back(std::move(event));
  }
  pump_replay();
  release_replay_state_if_done();
}

void InbandSession::release_replay_state_if_done() {
  if (const ReplayState* r = replay(); r && r->events.empty() && r->held.empty() && r->covered.empty()) {
    uncommon_->replay.reset();
  }
}

void InbandSession::pump_replay() {
  ReplayState* state = replay();
  if (!connection_ || !state) return;
  auto& events = state->events;
  const std::size_t high_water = connection_->send_queue_limit() / 2;
  while (state->next < events.size()) {
    if (connection_->queued_bytes() > high_water) return connection_->notify_when_drained();
    const auto status = connection_->send_shared(events[state->next++]->frame);
    if (status == net::SendStatus::closed) return;
    count_delivery(status, 1);
  }
  if (events.empty()) return;
  events = {};
  state->next = 0;
  // The replay is out: now the live events that arrived meanwhile, in order.
  auto held = std::move(state->held);
  state->held = {};
  state->held_bytes = 0;
  for (const auto& event : held) deliver_now(event);
  release_replay_state_if_done();
}

void InbandSession::deliver(const broker::EventPtr& event) {
  if (!connection_) return;
  if (ReplayState* state = replay(); state && !state->events.empty()) {
    state->held_bytes += event->frame->size();
    state->held.push_back(event);
    // Live traffic arriving during a replay is bounded too (a client that
    // cannot keep up with replay plus live traffic is a slow consumer).
    constexpr std::size_t kMinHeldBytes = 8 * 1024 * 1024;
    if (state->held_bytes > std::max(kMinHeldBytes, 4 * connection_->send_queue_limit())) {
      connection_->close_slow_consumer();
    }
    return;
  }
  deliver_now(event);
}

void InbandSession::deliver_run(broker::EventRun& run) {
  if (!connection_) return;
  // One by one: when events may be held, filtered or preceded by a marker,
  // or when the run does not fit the queue's room as a whole (the policy then
  // applies per event, as for events that came alone).
  const std::size_t limit = connection_->send_queue_limit();
  const std::size_t queued = connection_->queued_bytes();
  if (replay() || gap() > 0 || (stream() && stream()->filter) || queued > limit || run.bytes() > limit - queued) {
    for (const auto& event : run.events()) deliver(event);
    return;
  }
  count_delivery(connection_->send_shared(run.joined_frames(), run.events().size()), run.events().size());
}

void InbandSession::missed(std::uint64_t count) {
  if (!connection_) return;
  if (connection_->overflow_policy() == net::OverflowPolicy::drop) {
    uncommon().gap += count;
    if (context_.metrics) context_.metrics->dropped->add(count);
  } else {
    connection_->close_slow_consumer();
  }
}

void InbandSession::deliver_now(const broker::EventPtr& event) {
  if (!connection_) return;
  if (const auto* stream = this->stream(); stream && stream->filter &&
      !stream->matches(event->topic, event->type, event->key, event->parsed_data())) {
    return;
  }
  if (ReplayState* state = replay(); state && !state->covered.empty()) {
    auto& covered = state->covered;
    auto it = covered.find(event->topic);
    if (it != covered.end()) {
      if (event->offset <= it->second) return;  // the replay already sent it
      covered.erase(it);  // later events of this topic are all newer
      release_replay_state_if_done();
    }
  }
  if (const std::uint64_t gap = this->gap(); gap > 0) {
    // Drop policy: the next event the client gets is preceded by the count it
    // missed. Marker and event go together or not at all (a marker queued
    // alone, its event dropped, would need a second marker); the event's
    // frame stays the shared one.
    const std::shared_ptr<const std::string> marked[] = {
        text_frame("{\"type\":\"gap\",\"dropped\":" + std::to_string(gap) + "}"), event->frame};
    const auto status = connection_->send_shared_all(marked);
    if (status == net::SendStatus::queued) {
      uncommon_->gap = 0;
      if (context_.metrics) context_.metrics->gap_markers->add();
    }
    count_delivery(status, 1);
    return;
  }
  count_delivery(connection_->send_shared(event->frame), 1);
}

// Counts `events` handed to the connection as one send: delivered, or (drop
// policy) added to the gap the next marker reports.
void InbandSession::count_delivery(net::SendStatus status, std::size_t events) {
  if (status == net::SendStatus::dropped) uncommon().gap += events;
  if (!context_.metrics || status == net::SendStatus::closed) return;
  (status == net::SendStatus::queued ? context_.metrics->deliveries : context_.metrics->dropped)->add(events);
}

void InbandSession::drop_subscription(std::string_view pattern, std::string_view reason) {
  if (!subscriptions_.remove(pattern)) return;
  context_.hub.unsubscribe(pattern, this);
  send_json("{\"type\":\"unsubscribed\",\"topic\":" + util::quoted(pattern) + ",\"reason\":" + util::quoted(reason) + "}");
}

}  // namespace sluice::server
