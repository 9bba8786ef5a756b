#include "sluice/util/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace sluice::util {

namespace json = boost::json;

void append_quoted(std::string& out, std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') {
      out += json::serialize(json::string(s));  // escapes exactly as Boost.JSON does
      return;
    }
  }
  out += '"';
  out += s;
  out += '"';
}

std::string quoted(std::string_view s) {
  std::string out;
  append_quoted(out, s);
  return out;
}

std::string quoted_prefix(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return quoted(s);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  std::string out = quoted(s.substr(0, cut));
  out.insert(out.size() - 1, "...");
  return out;
}

namespace {
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_ws(std::string_view t, std::size_t i) {
  while (i < t.size() && is_ws(t[i])) ++i;
  return i;
}

// `i` at an opening quote; returns one past the closing quote.
std::size_t skip_string(std::string_view t, std::size_t i) {
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\') {
      ++i;
    } else if (t[i] == '"') {
      return i + 1;
    }
  }
  return i;
}

// `i` at a value's first character; returns one past its last.
std::size_t skip_value(std::string_view t, std::size_t i) {
  if (i >= t.size()) return i;
  if (t[i] == '"') return skip_string(t, i);
  if (t[i] == '{' || t[i] == '[') {
    int depth = 0;
    while (i < t.size()) {
      const char c = t[i];
      if (c == '"') {
        i = skip_string(t, i);
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return i + 1;
      }
      ++i;
    }
    return i;
  }
  // A number, true, false or null.
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && !is_ws(t[i])) ++i;
  return i;
}

// Calls visit(raw key with quotes, raw value) for each member of an object,
// or each element (key empty) of an array.
template <class Visit>
void each_item(std::string_view t, Visit&& visit) {
  std::size_t i = skip_ws(t, 0);
  if (i >= t.size() || (t[i] != '{' && t[i] != '[')) return;
  const bool object = t[i] == '{';
  i = skip_ws(t, i + 1);
  while (i < t.size() && t[i] != '}' && t[i] != ']') {
    std::string_view key;
    if (object) {
      if (t[i] != '"') return;  // not JSON a parser accepted: give up, never loop
      const std::size_t key_end = skip_value(t, i);
      key = t.substr(i, key_end - i);
      i = skip_ws(t, key_end);
      i = skip_ws(t, i + 1);  // ':'
    }
    const std::size_t end = skip_value(t, i);
    if (end == i) return;
    visit(key, t.substr(i, end - i));
    i = skip_ws(t, end);
    if (i < t.size() && t[i] == ',') i = skip_ws(t, i + 1);
  }
}
}  // namespace

std::optional<std::string_view> raw_member(std::string_view object, std::string_view name) {
  std::optional<std::string_view> found;
  each_item(object, [&](std::string_view key, std::string_view value) {
    std::string_view inner = key.size() >= 2 ? key.substr(1, key.size() - 2) : key;
    if (inner.find('\\') != std::string_view::npos) {
      std::error_code ec;
      const json::value decoded = json::parse(key, ec);  // a key with escapes
      if (!ec && decoded.is_string() && decoded.get_string() == name) found = value;
      return;
    }
    if (inner == name) found = value;
  });
  return found;
}

std::vector<std::string_view> raw_elements(std::string_view array) {
  std::vector<std::string_view> out;
  each_item(array, [&](std::string_view, std::string_view value) { out.push_back(value); });
  return out;
}

std::string minify(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '"') {
      const std::size_t end = skip_string(value, i);
      out.append(value.substr(i, end - i));
      i = end - 1;
    } else if (!is_ws(c)) {
      out += c;
    }
  }
  return out;
}

std::string_view kind_of(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return value.get_array().empty() ? "an empty array" : "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

}  // namespace sluice::util
