#include "sluice/broker/event.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <memory>

#include "sluice/protocol/frame.hpp"

namespace sluice::broker {

namespace {
// Appends `s` as a JSON string literal (topics and keys are user input).
// Text with nothing to escape is copied as is; anything else goes through
// Boost.JSON, so the output is byte for byte what serialize() writes.
void append_quoted(std::string& out, std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') {
      out += boost::json::serialize(boost::json::string(s));
      return;
    }
  }
  out += '"';
  out += s;
  out += '"';
}

void append_digits(char* at, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i, value /= 10) at[i] = static_cast<char>('0' + value % 10);
}

std::string format_time_slow(std::int64_t time_ms) {
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[96];  // roomy: the compiler cannot bound %d fields
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(time_ms % 1000));
  return buffer;
}

// Appends time_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". The part up to the second
// changes once a second: each thread keeps the last one formatted and only
// writes the milliseconds.
void append_time(std::string& out, std::int64_t time_ms) {
  thread_local std::int64_t cached_second = -1;
  thread_local char cached[20];  // "YYYY-MM-DDTHH:MM:SS."
  if (time_ms < 0) {
    out += format_time_slow(time_ms);
    return;
  }
  const std::int64_t second = time_ms / 1000;
  if (second != cached_second) {
    const std::string text = format_time_slow(second * 1000);
    if (text.size() != 24) {  // a year past 9999
      out += format_time_slow(time_ms);
      return;
    }
    text.copy(cached, sizeof cached);
    cached_second = second;
  }
  char millis[4] = {0, 0, 0, 'Z'};
  append_digits(millis, static_cast<unsigned>(time_ms % 1000), 3);
  out.append(cached, sizeof cached);
  out.append(millis, sizeof millis);
}
}  // namespace

std::string format_time(std::int64_t time_ms) {
  std::string out;
  append_time(out, time_ms);
  return out;
}

const boost::json::value& Event::ParsedData::get(std::string_view json_text) const {
  if (const auto* value = value_.load(std::memory_order_acquire)) return *value;
  std::error_code ec;
  auto fresh = std::make_unique<boost::json::value>(boost::json::parse(json_text, ec));
  if (ec) *fresh = nullptr;  // invalid data (the API never stores it) reads as null
  boost::json::value* expected = nullptr;
  if (value_.compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel)) return *fresh.release();
  return *expected;  // another thread parsed it first
}

const boost::json::value& Event::parsed_data() const { return parsed.get(data); }

// The frame is written in one buffer: room for the longest header, the
// payload, then the header in front of it and the spare room cut off (a short
// move instead of a second buffer); `json` views its middle.
EventPtr make_event(Event e) {
  static constexpr std::string_view kPrefix = "{\"type\":\"event\",\"event\":";
  constexpr std::size_t kRoom = 10;  // the longest server header (64-bit length)
  auto frame = std::make_shared<std::string>();
  std::string& out = *frame;
  out.reserve(kRoom + kPrefix.size() + 128 + e.id.size() + e.topic.size() + e.epoch.size() + e.type.size() +
              e.key.size() + e.data.size());
  out.append(kRoom, '\0');
  out += kPrefix;
  const std::size_t json_at = out.size();
  out += "{\"id\":";
  append_quoted(out, e.id);
  out += ",\"topic\":";
  append_quoted(out, e.topic);
  out += ",\"offset\":";
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, e.offset).ptr;
  out.append(digits, end);
  out += ",\"epoch\":";
  append_quoted(out, e.epoch);
  if (!e.type.empty()) {
    out += ",\"type\":";
    append_quoted(out, e.type);
  }
  if (!e.key.empty()) {
    out += ",\"key\":";
    append_quoted(out, e.key);
  }
  out += ",\"time\":\"";
  append_time(out, e.time_ms);
  out += "\",\"data\":";
  out += e.data;
  out += '}';
  const std::size_t json_size = out.size() - json_at;
  out += '}';

  const auto header = protocol::make_server_header(protocol::Opcode::text, out.size() - kRoom);
  const std::size_t header_at = kRoom - header.size;
  std::copy_n(reinterpret_cast<const char*>(header.bytes.data()), header.size, out.begin() + header_at);
  out.erase(0, header_at);
  e.json = std::string_view(out).substr(json_at - header_at, json_size);
  e.frame = std::move(frame);
  return std::make_shared<const Event>(std::move(e));
}

}  // namespace sluice::broker
