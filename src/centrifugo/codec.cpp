#include "sluice/centrifugo/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <charconv>

#include "sluice/util/json_text.hpp"
#include "sluice/centrifugo/channel.hpp"
#include "sluice/protocol/frame.hpp"

namespace sluice::centrifugo {

namespace json = boost::json;

namespace {

struct MethodName {
  std::string_view name;
  Method method;
};
constexpr MethodName kMethods[] = {
    {"connect", Method::connect},     {"subscribe", Method::subscribe},
    {"unsubscribe", Method::unsubscribe}, {"publish", Method::publish},
    {"presence", Method::presence},   {"presence_stats", Method::presence_stats},
    {"history", Method::history},     {"ping", Method::ping},
    {"send", Method::send},           {"rpc", Method::rpc},
    {"refresh", Method::refresh},     {"sub_refresh", Method::sub_refresh},
};

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

// A JSON number that is an integer >= 0 (Centrifugo's uint64/uint32 fields).
bool read_unsigned(const json::value& v, std::uint64_t& out) {
  if (v.is_uint64()) {
    out = v.get_uint64();
    return true;
  }
  if (v.is_int64() && v.get_int64() >= 0) {
    out = static_cast<std::uint64_t>(v.get_int64());
    return true;
  }
  return false;
}

// Fills `c` from the method's object `body` (its text `raw`).
void read_fields(const json::object& body, std::string_view raw, Command& c) {
  auto string_field = [&](std::string_view name, std::string& out) {
    const json::value* v = body.if_contains(name);
    if (!v || v->is_null()) return;
    if (!v->is_string()) {
      c.invalid = "\"" + std::string(name) + "\" must be a string";
      return;
    }
    out.assign(v->get_string());
  };
  auto bool_field = [&](std::string_view name, bool& out) {
    const json::value* v = body.if_contains(name);
    if (!v || v->is_null()) return;
    if (!v->is_bool()) {
      c.invalid = "\"" + std::string(name) + "\" must be true or false";
      return;
    }
    out = v->get_bool();
  };
  string_field("channel", c.channel);
  string_field("token", c.token);
  if (body.contains("data")) {
    if (const auto data = util::raw_member(raw, "data")) {
      c.data = util::minify(*data);
      c.has_data = true;
    }
  }
  bool_field("recover", c.recover);
  string_field("epoch", c.epoch);
  if (const json::value* v = body.if_contains("offset"); v && !v->is_null() && !read_unsigned(*v, c.offset)) {
    c.invalid = "\"offset\" must be an integer >= 0";
  }
  if (const json::value* v = body.if_contains("flag"); v && !v->is_null()) {
    std::uint64_t flag = 0;
    if (!read_unsigned(*v, flag)) c.invalid = "\"flag\" must be an integer >= 0";
    c.flag = static_cast<std::uint32_t>(flag);
  }
  if (const json::value* v = body.if_contains("limit"); v && !v->is_null()) {
    if (v->is_int64()) {
      c.limit = v->get_int64();
    } else if (v->is_uint64()) {
      c.limit = INT64_MAX;
    } else {
      c.invalid = "\"limit\" must be an integer";
    }
  }
  if (const json::value* v = body.if_contains("since"); v && !v->is_null()) {
    const json::object* since = v->if_object();
    if (!since) {
      c.invalid = "\"since\" must be an object {offset, epoch}";
    } else {
      c.has_since = true;
      if (const json::value* o = since->if_contains("offset"); o && !read_unsigned(*o, c.since_offset)) {
        c.invalid = "\"since.offset\" must be an integer >= 0";
      }
      if (const json::value* e = since->if_contains("epoch"); e && !e->is_null()) {
        if (e->is_string()) {
          c.since_epoch.assign(e->get_string());
        } else {
          c.invalid = "\"since.epoch\" must be a string";
        }
      }
    }
  }
  bool_field("reverse", c.reverse);
}

// One command: {"id":N,"METHOD":{...}} or {} (a pong).
std::string decode_one(std::string_view line, std::vector<Command>& out) {
  std::error_code ec;
  const json::value value = json::parse(line, ec);
  if (ec) return "a command is not valid JSON: " + ec.message();
  const json::object* object = value.if_object();
  if (!object) return "a command must be a JSON object";
  Command& c = out.emplace_back();
  if (const json::value* id = object->if_contains("id")) {
    std::uint64_t n = 0;
    if (!read_unsigned(*id, n) || n > UINT32_MAX) return "\"id\" must be an integer from 0 to 2^32-1";
    c.id = static_cast<std::uint32_t>(n);
  }
  for (const auto& [key, member] : *object) {
    if (key == "id") continue;
    c.name.assign(key);
    c.method = Method::unknown;
    for (const auto& m : kMethods) {
      if (m.name == key) c.method = m.method;
    }
    if (c.method == Method::unknown) return {};
    if (!member.is_object()) {
      c.invalid = "\"" + c.name + "\" must be an object";
      return {};
    }
    const auto raw = util::raw_member(line, key);
    read_fields(member.get_object(), raw.value_or(std::string_view("{}")), c);
    return {};  // one method per command
  }
  return {};
}

}  // namespace

CloseRequest centrifugo_close(std::uint16_t sluice_code, std::string_view reason) {
  auto from = [](const Disconnect& d) { return CloseRequest{d.code, d.reason}; };
  switch (sluice_code) {
    case 1001: return from(disconnect::shutdown);
    case 4008: return from(disconnect::slow);
    case 4401: return from(disconnect::invalid_token);
    case 4403: return from(disconnect::permission_denied);
    case 4429: return from(disconnect::too_many_requests);
    case 1008: return from(disconnect::too_many_errors);
    default: break;
  }
  if (sluice_code >= 3000 && sluice_code <= 4999) return {sluice_code, std::string(reason.substr(0, 120))};
  return from(disconnect::server_error);
}

std::string decode_commands(std::string_view message, std::vector<Command>& out) {
  while (!message.empty()) {
    const std::size_t newline = message.find('\n');
    std::string_view line = message.substr(0, newline);
    message = newline == std::string_view::npos ? std::string_view() : message.substr(newline + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    if (auto why = decode_one(line, out); !why.empty()) return why;
  }
  return {};
}

std::string encode_error(std::uint32_t id, int code, std::string_view message, bool temporary) {
  std::string out = "{\"id\":";
  append_number(out, id);
  out += ",\"error\":{\"code\":";
  append_number(out, static_cast<std::uint64_t>(code));
  out += ",\"message\":";
  util::append_quoted(out, message);
  out += temporary ? ",\"temporary\":true}}" : "}}";
  return out;
}

std::string encode_result(std::uint32_t id, std::string_view method, std::string_view result) {
  std::string out;
  out.reserve(16 + method.size() + result.size());
  out += "{\"id\":";
  append_number(out, id);
  out += ",\"";
  out += method;
  out += "\":";
  out += result;
  out += '}';
  return out;
}

void append_publication(std::string& out, const broker::Event& event) {
  out += "{\"data\":";
  out += event.data;
  out += ",\"offset\":";
  append_number(out, event.offset);
  if (!event.type.empty() || !event.key.empty()) {
    out += ",\"tags\":{";
    if (!event.type.empty()) {
      out += "\"type\":";
      util::append_quoted(out, event.type);
    }
    if (!event.key.empty()) {
      if (!event.type.empty()) out += ',';
      out += "\"key\":";
      util::append_quoted(out, event.key);
    }
    out += '}';
  }
  out += '}';
}

std::string encode_pub_push(const broker::Event& event) {
  std::string out;
  out.reserve(48 + event.topic.size() + event.data.size());
  out += "{\"push\":{\"channel\":";
  util::append_quoted(out, topic_to_channel(event.topic));
  out += ",\"pub\":";
  append_publication(out, event);
  out += "}}";
  return out;
}

std::string encode_unsubscribe_push(std::string_view channel, int code, std::string_view reason) {
  std::string out = "{\"push\":{\"channel\":";
  util::append_quoted(out, channel);
  out += ",\"unsubscribe\":{\"code\":";
  append_number(out, static_cast<std::uint64_t>(code));
  out += ",\"reason\":";
  util::append_quoted(out, reason);
  out += "}}}";
  return out;
}

std::string encode_disconnect_push(const CloseRequest& close) {
  std::string out = "{\"push\":{\"disconnect\":{\"code\":";
  append_number(out, close.code);
  out += ",\"reason\":";
  util::append_quoted(out, close.reason);
  out += "}}}";
  return out;
}

std::shared_ptr<const std::string> text_frame(std::string_view payload) {
  const auto header = protocol::make_server_header(protocol::Opcode::text, payload.size());
  auto frame = std::make_shared<std::string>();
  frame->reserve(header.size + payload.size());
  frame->assign(reinterpret_cast<const char*>(header.bytes.data()), header.size);
  *frame += payload;
  return frame;
}

const std::shared_ptr<const std::string>& pub_frame(const broker::Event& event) {
  return event.centrifugo_frame.get([&event] { return text_frame(encode_pub_push(event)); });
}

std::string_view frame_payload(const std::string& frame) noexcept {
  if (frame.size() < 2) return {};
  // An unmasked server frame: 2 header bytes, +2 or +8 for the extended length.
  const auto length7 = static_cast<unsigned char>(frame[1]) & 0x7F;
  const std::size_t header = length7 == 126 ? 4 : length7 == 127 ? 10 : 2;
  return std::string_view(frame).substr(std::min(header, frame.size()));
}

}  // namespace sluice::centrifugo
