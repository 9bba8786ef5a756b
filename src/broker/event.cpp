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
// Returns true when `s` went in as is (the text between the quotes is `s`).
bool append_quoted(std::string& out, std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') {
      out += boost::json::serialize(boost::json::string(s));
      return false;
    }
  }
  out += '"';
  out += s;
  out += '"';
  return true;
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
// move instead of a second buffer); `json`, `id`, `epoch` and `data` view it.
EventPtr make_event(const EventFields& f) {
  static constexpr std::string_view kPrefix = "{\"type\":\"event\",\"event\":";
  constexpr std::size_t kRoom = 10;  // the longest server header (64-bit length)
  auto event = std::make_shared<Event>();  // built in place: the views must not move
  Event& e = *event;
  e.topic.assign(f.topic);
  e.offset = f.offset;
  e.type.assign(f.type);
  e.key.assign(f.key);
  e.time_ms = f.time_ms;

  auto frame = std::make_shared<std::string>();
  std::string& out = *frame;
  out.reserve(kRoom + kPrefix.size() + 128 + f.id.size() + f.topic.size() + f.epoch.size() + f.type.size() +
              f.key.size() + f.data.size());
  out.append(kRoom, '\0');
  out += kPrefix;
  const std::size_t json_at = out.size();
  // Where a field's text starts in `out`, or npos when it went in escaped.
  auto append_field = [&out](std::string_view name, std::string_view text) {
    out += name;
    const std::size_t at = out.size() + 1;
    return append_quoted(out, text) ? at : std::string::npos;
  };
  const std::size_t id_at = append_field("{\"id\":", f.id);
  out += ",\"topic\":";
  append_quoted(out, f.topic);
  out += ",\"offset\":";
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, f.offset).ptr;
  out.append(digits, end);
  const std::size_t epoch_at = append_field(",\"epoch\":", f.epoch);
  if (!f.type.empty()) {
    out += ",\"type\":";
    append_quoted(out, f.type);
  }
  if (!f.key.empty()) {
    out += ",\"key\":";
    append_quoted(out, f.key);
  }
  out += ",\"time\":\"";
  append_time(out, f.time_ms);
  out += "\",\"data\":";
  const std::size_t data_at = out.size();
  out += f.data;
  out += '}';
  const std::size_t json_size = out.size() - json_at;
  out += '}';

  const auto header = protocol::make_server_header(protocol::Opcode::text, out.size() - kRoom);
  const std::size_t header_at = kRoom - header.size;
  std::copy_n(reinterpret_cast<const char*>(header.bytes.data()), header.size, out.begin() + header_at);
  out.erase(0, header_at);
  const std::string_view bytes(out);  // its heap buffer: stays put while the frame lives
  e.json = bytes.substr(json_at - header_at, json_size);
  e.data = bytes.substr(data_at - header_at, f.data.size());
  // Escaped text is not the value: keep those (never ours: ids and epochs are hex) aside.
  if (id_at == std::string::npos || epoch_at == std::string::npos) {
    e.spill.reserve(f.id.size() + f.epoch.size());
    e.spill.append(f.id).append(f.epoch);
  }
  const std::string_view spill(e.spill);
  e.id = id_at != std::string::npos ? bytes.substr(id_at - header_at, f.id.size()) : spill.substr(0, f.id.size());
  e.epoch = epoch_at != std::string::npos ? bytes.substr(epoch_at - header_at, f.epoch.size())
                                          : spill.substr(f.id.size(), f.epoch.size());
  e.frame = std::move(frame);
  return event;
}

}  // namespace sluice::broker
