#include "client/topic_protocol.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "sluice/util/json_text.hpp"

namespace sluice::client::detail {

namespace json = boost::json;

namespace {

std::string string_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// A number >= 0 (the parser keeps small ones as int64).
std::optional<std::uint64_t> as_uint(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
  return std::nullopt;
}

std::optional<std::uint64_t> uint_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v ? as_uint(*v) : std::nullopt;
}

// The event object's own text: the server writes {"type":"event","event":{...}},
// so it is a slice of the message; anything else is serialized again.
void event_text(std::string_view message, const json::value& event, std::string& out) {
  constexpr std::string_view prefix = R"({"type":"event","event":)";
  if (message.starts_with(prefix) && message.ends_with('}')) {
    out.assign(message.substr(prefix.size(), message.size() - prefix.size() - 1));
  } else {
    out = json::serialize(event);
  }
}

// One pass over the event's members (this runs for every event delivered).
bool read_event(json::object& o, TopicEvent& e, std::string& why) {
  std::optional<std::uint64_t> offset;
  for (auto& [name, value] : o) {
    const std::string_view key = name;
    if (key == "data") {
      e.data = std::move(value);
      continue;
    }
    if (key == "offset") {
      offset = as_uint(value);
      continue;
    }
    if (!value.is_string()) continue;
    const json::string& text = value.get_string();
    if (key == "id") {
      e.id.assign(text.data(), text.size());
    } else if (key == "topic") {
      e.topic.assign(text.data(), text.size());
    } else if (key == "epoch") {
      e.epoch.assign(text.data(), text.size());
    } else if (key == "type") {
      e.type.assign(text.data(), text.size());
    } else if (key == "key") {
      e.key.assign(text.data(), text.size());
    } else if (key == "time") {
      e.time.assign(text.data(), text.size());
    }
  }
  if (e.topic.empty() || !offset) {
    why = "an event without a topic or offset";
    return false;
  }
  e.offset = *offset;
  return true;
}

// One parser per thread, reused: its scratch space is not allocated per message.
json::value parse_json(std::string_view text, boost::system::error_code& ec) {
  thread_local json::parser parser;
  parser.reset();
  parser.write(text.data(), text.size(), ec);
  if (ec) return nullptr;
  return parser.release();
}

}  // namespace

std::string subscribe_request(std::uint64_t id, std::string_view pattern, const std::optional<Since>& since,
                              Fallback fallback) {
  std::string out = R"({"op":"subscribe","id":)" + std::to_string(id) + R"(,"topic":)" + util::quoted(pattern);
  if (since) {
    out += R"(,"since":{"topics":{)";
    bool first = true;
    for (const auto& [topic, position] : since->topics) {
      if (!first) out += ',';
      first = false;
      out += util::quoted(topic) + R"(:{"offset":)" + std::to_string(position.offset) + R"(,"epoch":)" +
             util::quoted(position.epoch) + "}";
    }
    out += "}";
    if (since->time_ms) out += R"(,"time":)" + std::to_string(*since->time_ms);
    out += fallback == Fallback::latest ? R"(,"fallback":"latest"})" : R"(,"fallback":"oldest"})";
  }
  return out + "}";
}

std::string unsubscribe_request(std::uint64_t id, std::string_view pattern) {
  return R"({"op":"unsubscribe","id":)" + std::to_string(id) + R"(,"topic":)" + util::quoted(pattern) + "}";
}

std::string publish_request(std::uint64_t id, std::string_view topic, std::string_view data_json,
                            const PublishOptions& options) {
  std::string out = R"({"op":"publish","id":)" + std::to_string(id) + R"(,"topic":)" + util::quoted(topic) +
                    R"(,"data":)";
  out += data_json;
  if (!options.type.empty()) out += R"(,"type":)" + util::quoted(options.type);
  if (!options.key.empty()) out += R"(,"key":)" + util::quoted(options.key);
  if (!options.idempotency_key.empty()) out += R"(,"idempotencyKey":)" + util::quoted(options.idempotency_key);
  return out + "}";
}

ServerMessage parse_server_message(std::string_view text) {
  ServerMessage m;
  parse_server_message(text, m);
  return m;
}

void parse_server_message(std::string_view text, ServerMessage& m) {
  // Reset every field, keeping the strings' capacity.
  m.kind = ServerMessage::Kind::other;
  m.id.reset();
  m.op.clear();
  m.event.id.clear();
  m.event.topic.clear();
  m.event.offset = 0;
  m.event.epoch.clear();
  m.event.type.clear();
  m.event.key.clear();
  m.event.time.clear();
  m.event.data = nullptr;
  m.event.json.clear();
  m.recovered = true;
  m.replayed = 0;
  m.duplicate = false;
  m.code.clear();
  m.message.clear();
  m.topic.clear();
  m.dropped = 0;
  boost::system::error_code ec;
  json::value root = parse_json(text, ec);
  if (ec || !root.is_object()) {
    m.kind = ServerMessage::Kind::invalid;
    m.message = ec ? "not JSON: " + ec.message() : "not a JSON object";
    return;
  }
  json::object& o = root.get_object();
  const std::string type = string_field(o, "type");
  m.id = uint_field(o, "id");
  if (type == "event") {
    json::value* event = o.if_contains("event");
    if (!event || !event->is_object()) {
      m.kind = ServerMessage::Kind::invalid;
      m.message = "an event message without an event object";
      return;
    }
    event_text(text, *event, m.event.json);  // before read_event moves `data` out
    if (!read_event(event->get_object(), m.event, m.message)) {
      m.kind = ServerMessage::Kind::invalid;
      return;
    }
    m.kind = ServerMessage::Kind::event;
  } else if (type == "ack") {
    m.kind = ServerMessage::Kind::ack;
    m.op = string_field(o, "op");
    if (const json::value* r = o.if_contains("recovered"); r && r->is_bool()) m.recovered = r->get_bool();
    m.replayed = uint_field(o, "replayed").value_or(0);
    if (const json::value* d = o.if_contains("duplicate"); d && d->is_bool()) m.duplicate = d->get_bool();
    m.event.id = string_field(o, "eventId");
    m.event.topic = string_field(o, "topic");
    m.event.offset = uint_field(o, "offset").value_or(0);
    m.event.epoch = string_field(o, "epoch");
  } else if (type == "error") {
    m.kind = ServerMessage::Kind::error;
    m.code = string_field(o, "code");
    m.message = string_field(o, "message");
  } else if (type == "gap") {
    m.kind = ServerMessage::Kind::gap;
    m.dropped = uint_field(o, "dropped").value_or(0);
  } else if (type == "unsubscribed") {
    m.kind = ServerMessage::Kind::unsubscribed;
    m.topic = string_field(o, "topic");
    m.message = string_field(o, "reason");
  }
  return;
}

}  // namespace sluice::client::detail
