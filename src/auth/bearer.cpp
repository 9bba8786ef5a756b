#include "sluice/auth/bearer.hpp"

namespace sluice::auth {

std::optional<std::string_view> bearer_credential(std::string_view v) noexcept {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  v = trim(v);
  constexpr std::string_view kScheme = "bearer";
  if (v.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    const char c = v[i] >= 'A' && v[i] <= 'Z' ? static_cast<char>(v[i] - 'A' + 'a') : v[i];  // ASCII, not the locale
    if (c != kScheme[i]) return std::nullopt;
  }
  if (v[kScheme.size()] != ' ') return std::nullopt;
  const std::string_view credential = trim(v.substr(kScheme.size()));
  if (credential.empty()) return std::nullopt;
  for (const char c : credential) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return std::nullopt;
  }
  return credential;
}

}  // namespace sluice::auth
