#include "cli/toml_reader.hpp"

#include <cstdio>
#include <set>
#include <utility>

namespace sluice::cli {

const char* TomlValue::kind_name() const noexcept {
  switch (kind) {
    case Kind::string: return "a string";
    case Kind::integer: return "an integer";
    case Kind::floating: return "a number";
    case Kind::boolean: return "a boolean";
    case Kind::array: return "an array";
  }
  return "a value";
}

std::string TomlValue::spelled() const {
  if (kind == Kind::string) return toml_quote(text);
  if (kind != Kind::array) return text;
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i].spelled();
  return out + "]";
}

std::string toml_quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace {

// A cursor over the text that knows its line; every method says what it
// wanted when it fails.
class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  std::optional<std::vector<TomlEntry>> run(std::string& error) {
    std::vector<TomlEntry> out;
    std::set<std::pair<std::string, std::string>> seen;
    std::string table;
    while (true) {
      skip_blank_lines();
      if (at_end()) break;
      const std::size_t line = line_;
      if (peek() == '[') {
        ++pos_;
        if (peek() == '[') return fail(error, "arrays of tables ([[...]]) are not used by sluice");
        skip_spaces();
        std::string name;
        if (!read_key(name)) return fail(error, "expected a table name after '['");
        skip_spaces();
        if (peek() != ']') return fail(error, "expected ']' after the table name");
        ++pos_;
        if (!end_of_line()) return fail(error, "unexpected text after the table header");
        table = name;
        continue;
      }
      TomlEntry entry;
      entry.table = table;
      entry.line = line;
      if (!read_key(entry.key)) return fail(error, "expected a key (name = value)");
      skip_spaces();
      if (peek() != '=') return fail(error, "expected '=' after the key '" + entry.key + "'");
      ++pos_;
      skip_spaces();
      if (!read_value(entry.value, true, error)) return std::nullopt;
      if (!end_of_line()) return fail(error, "unexpected text after the value of '" + entry.key + "'");
      if (!seen.emplace(table, entry.key).second) return fail(error, "the key '" + entry.key + "' is given twice", line);
      out.push_back(std::move(entry));
    }
    return out;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  std::nullopt_t fail(std::string& error, const std::string& what, std::size_t line = 0) {
    error = "line " + std::to_string(line ? line : line_) + ": " + what;
    return std::nullopt;
  }

  void skip_spaces() {
    while (peek() == ' ' || peek() == '\t') ++pos_;
  }
  void skip_comment() {
    if (peek() == '#') {
      while (!at_end() && peek() != '\n') ++pos_;
    }
  }
  void newline() {
    if (peek() == '\r') ++pos_;
    if (peek() == '\n') {
      ++pos_;
      ++line_;
    }
  }
  void skip_blank_lines() {
    while (!at_end()) {
      skip_spaces();
      skip_comment();
      if (peek() == '\n' || peek() == '\r') {
        newline();
      } else {
        return;
      }
    }
  }
  // After a value or header: spaces, an optional comment, then a newline or the end.
  bool end_of_line() {
    skip_spaces();
    skip_comment();
    if (at_end()) return true;
    if (peek() != '\n' && peek() != '\r') return false;
    newline();
    return true;
  }

  static bool bare_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }
  // A bare, quoted or dotted key ("a.b" joined with '.').
  bool read_key(std::string& key) {
    key.clear();
    while (true) {
      std::string part;
      if (peek() == '"' || peek() == '\'') {
        std::string ignored;
        TomlValue v;
        if (!read_string(v, ignored)) return false;
        part = v.text;
      } else {
        while (bare_key_char(peek())) part += text_[pos_++];
        if (part.empty()) return false;
      }
      key += part;
      skip_spaces();
      if (peek() != '.') return true;
      ++pos_;
      key += '.';
      skip_spaces();
    }
  }

  bool read_string(TomlValue& v, std::string& error) {
    const char quote = text_[pos_++];
    if (text_.compare(pos_, 2, std::string(2, quote)) == 0) {
      error = "line " + std::to_string(line_) + ": multi-line strings are not supported";
      return false;
    }
    v.kind = TomlValue::Kind::string;
    v.text.clear();
    while (true) {
      if (at_end() || peek() == '\n') {
        error = "line " + std::to_string(line_) + ": unterminated string";
        return false;
      }
      const char c = text_[pos_++];
      if (c == quote) return true;
      if (c != '\\' || quote == '\'') {
        v.text += c;
        continue;
      }
      const char e = at_end() ? '\0' : text_[pos_++];
      switch (e) {
        case '"': v.text += '"'; break;
        case '\\': v.text += '\\'; break;
        case 'n': v.text += '\n'; break;
        case 't': v.text += '\t'; break;
        case 'r': v.text += '\r'; break;
        case 'b': v.text += '\b'; break;
        case 'f': v.text += '\f'; break;
        case 'u': {
          if (pos_ + 4 > text_.size()) break;
          const unsigned long code = std::strtoul(text_.substr(pos_, 4).c_str(), nullptr, 16);
          pos_ += 4;
          // UTF-8 of a BMP code point (what a config value may need).
          if (code < 0x80) {
            v.text += static_cast<char>(code);
          } else if (code < 0x800) {
            v.text += static_cast<char>(0xC0 | (code >> 6));
            v.text += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            v.text += static_cast<char>(0xE0 | (code >> 12));
            v.text += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            v.text += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default:
          error = "line " + std::to_string(line_) + ": unknown escape '\\" + std::string(1, e) + "' in a string";
          return false;
      }
    }
  }

  bool read_value(TomlValue& v, bool allow_array, std::string& error) {
    const char c = peek();
    if (c == '"' || c == '\'') return read_string(v, error);
    if (c == '[') {
      if (!allow_array) {
        error = "line " + std::to_string(line_) + ": nested arrays are not used by sluice";
        return false;
      }
      ++pos_;
      v.kind = TomlValue::Kind::array;
      while (true) {
        skip_blank_lines();  // inside an array, newlines and comments between items are allowed
        if (peek() == ']') {
          ++pos_;
          return true;
        }
        TomlValue item;
        if (!read_value(item, false, error)) return false;
        v.items.push_back(std::move(item));
        skip_blank_lines();
        if (peek() == ',') {
          ++pos_;
        } else if (peek() != ']') {
          error = "line " + std::to_string(line_) + ": expected ',' or ']' in an array";
          return false;
        }
      }
    }
    // A bare literal: up to a separator.
    std::string word;
    while (!at_end()) {
      const char d = peek();
      if (d == ' ' || d == '\t' || d == '\n' || d == '\r' || d == '#' || d == ',' || d == ']') break;
      word += d;
      ++pos_;
    }
    if (word.empty()) {
      error = "line " + std::to_string(line_) + ": expected a value";
      return false;
    }
    if (word == "true" || word == "false") {
      v.kind = TomlValue::Kind::boolean;
      v.text = word;
      return true;
    }
    std::string digits;
    bool is_float = false, ok = true;
    for (std::size_t i = 0; i < word.size(); ++i) {
      const char d = word[i];
      if (d == '_') continue;  // 1_000_000
      if (d == '.' || d == 'e' || d == 'E') is_float = true;
      if (!((d >= '0' && d <= '9') || d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-')) ok = false;
      digits += d;
    }
    if (word == "inf" || word == "+inf" || word == "-inf" || word == "nan") ok = is_float = true;
    if (!ok) {
      error = "line " + std::to_string(line_) + ": '" + word + "' is not a TOML value (strings need quotes)";
      return false;
    }
    v.kind = is_float ? TomlValue::Kind::floating : TomlValue::Kind::integer;
    v.text = digits;
    return true;
  }

  const std::string& text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

}  // namespace

std::optional<std::vector<TomlEntry>> parse_toml(const std::string& text, std::string& error) {
  return Parser(text).run(error);
}

}  // namespace sluice::cli
