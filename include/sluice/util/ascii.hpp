// ASCII case for protocol names (HTTP header names and media types, URL schemes,
// extension tokens): they are ASCII by definition, and std::tolower would be a
// locale-aware call per character.
#pragma once

#include <cstddef>
#include <string_view>

namespace sluice {

/// `c` in lower case if it is an ASCII capital letter, else `c` unchanged. Pure.
constexpr char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/// Whether `a` and `b` are equal ignoring ASCII case. Pure.
constexpr bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

}  // namespace sluice
