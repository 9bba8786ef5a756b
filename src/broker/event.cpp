#include "sluice/broker/event.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <cstdio>
#include <ctime>

#include "sluice/protocol/frame.hpp"

namespace sluice::broker {

namespace {
// JSON string literal with escaping (topics and keys are user input).
std::string quoted(const std::string& s) { return boost::json::serialize(boost::json::string(s)); }
}  // namespace

std::string format_time(std::int64_t time_ms) {
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[96];  // roomy: the compiler cannot bound %d fields
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(time_ms % 1000));
  return buffer;
}

const boost::json::value& Event::parsed_data() const {
  std::call_once(parsed->once, [this] {
    std::error_code ec;
    parsed->value = boost::json::parse(data, ec);  // invalid data (the API never stores it) reads as null
    if (ec) parsed->value = nullptr;
  });
  return parsed->value;
}

EventPtr make_event(Event e) {
  std::string json;
  json.reserve(128 + e.topic.size() + e.data.size());
  json += "{\"id\":";
  json += quoted(e.id);
  json += ",\"topic\":";
  json += quoted(e.topic);
  json += ",\"offset\":";
  json += std::to_string(e.offset);
  json += ",\"epoch\":";
  json += quoted(e.epoch);
  if (!e.type.empty()) {
    json += ",\"type\":";
    json += quoted(e.type);
  }
  if (!e.key.empty()) {
    json += ",\"key\":";
    json += quoted(e.key);
  }
  json += ",\"time\":\"";
  json += format_time(e.time_ms);
  json += "\",\"data\":";
  json += e.data;
  json += '}';
  e.json = std::move(json);

  static constexpr std::string_view kPrefix = "{\"type\":\"event\",\"event\":";
  const std::size_t payload_size = kPrefix.size() + e.json.size() + 1;
  const auto header = protocol::make_server_header(protocol::Opcode::text, payload_size);
  std::string frame;
  frame.reserve(header.size + payload_size);
  frame.append(reinterpret_cast<const char*>(header.bytes.data()), header.size);
  frame += kPrefix;
  frame += e.json;
  frame += '}';
  e.frame = std::make_shared<const std::string>(std::move(frame));
  return std::make_shared<const Event>(std::move(e));
}

}  // namespace sluice::broker
