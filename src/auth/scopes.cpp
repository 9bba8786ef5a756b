#include "sluice/auth/scopes.hpp"

#include <array>

namespace sluice::auth {
namespace {
constexpr std::array kAll{Scope::publish, Scope::read, Scope::admin};
}

std::string_view to_string(Scope s) noexcept {
  switch (s) {
    case Scope::publish: return "publish";
    case Scope::read: return "read";
    case Scope::admin: return "admin";
  }
  return "?";
}

std::string to_string(Scopes s) {
  std::string out;
  for (const Scope one : kAll) {
    if (!s.contains(one)) continue;
    if (!out.empty()) out += ',';
    out += to_string(one);
  }
  return out;
}

std::optional<Scopes> parse_scopes(std::string_view text, std::string& error) {
  if (text.empty()) {
    error = "no scopes given (use publish, read and/or admin, comma-separated)";
    return std::nullopt;
  }
  Scopes scopes;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view word = text.substr(0, comma);
    bool known = false;
    for (const Scope one : kAll) {
      if (word != to_string(one)) continue;
      known = true;
      if (scopes.contains(one)) {
        error = "scope '" + std::string(word) + "' given twice";
        return std::nullopt;
      }
      scopes.add(one);
    }
    if (!known) {
      // A long word is not echoed: it may be a key pasted into the wrong field.
      error = word.empty()       ? std::string("empty scope (a stray ',')")
              : word.size() > 16 ? std::string("unknown scope (use publish, read and/or admin)")
                                 : "unknown scope '" + std::string(word) + "' (use publish, read and/or admin)";
      return std::nullopt;
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return scopes;
}

}  // namespace sluice::auth
