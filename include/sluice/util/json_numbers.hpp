// Numbers in JSON text that a double cannot hold. A JSON parser reads 1e400 as
// infinity (which it then writes out as `Infinity`, not JSON) and 1e-400 as 0,
// so a value kept after parsing would no longer say what the client wrote.
#pragma once

#include <charconv>
#include <cstddef>
#include <string_view>
#include <system_error>

namespace sluice {

/// The first number literal in `json_text` (valid JSON) whose magnitude a
/// double cannot hold: above about 1.8e308, or non-zero but below about
/// 4.9e-324 (it would read as 0). Empty if there is none. Numbers inside
/// strings are not numbers. Pure; the result views `json_text`.
inline std::string_view first_number_beyond_double(std::string_view json_text) noexcept {
  for (std::size_t i = 0; i < json_text.size(); ++i) {
    const char c = json_text[i];
    if (c == '"') {
      for (++i; i < json_text.size() && json_text[i] != '"'; ++i) {
        if (json_text[i] == '\\') ++i;
      }
      continue;
    }
    if (c != '-' && (c < '0' || c > '9')) continue;
    std::size_t end = i;
    while (end < json_text.size() && std::string_view("0123456789+-.eE").find(json_text[end]) != std::string_view::npos) {
      ++end;
    }
    const std::string_view literal = json_text.substr(i, end - i);
    double ignored = 0;
    // from_chars reports both overflow and underflow to zero as out of range.
    if (std::from_chars(literal.data(), literal.data() + literal.size(), ignored).ec == std::errc::result_out_of_range) {
      return literal;
    }
    i = end - 1;
  }
  return {};
}

}  // namespace sluice
