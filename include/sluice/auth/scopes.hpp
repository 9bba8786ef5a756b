// What an API key may do (SPEC §3 Security, issue #13): `publish` (POST
// /v1/events, /batch), `read` (history, subscriptions, their streams,
// /metrics) and `admin` (everything, including subscription changes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::auth {

enum class Scope : std::uint8_t { publish = 1, read = 2, admin = 4 };

/// A set of scopes. A plain value: thread-safe to copy and read.
class Scopes {
 public:
  constexpr Scopes() = default;
  constexpr Scopes(Scope s) : bits_(static_cast<std::uint8_t>(s)) {}  // NOLINT: one scope is a set

  /// True if this set contains `s` itself (no implication).
  constexpr bool contains(Scope s) const noexcept { return (bits_ & static_cast<std::uint8_t>(s)) != 0; }
  /// True if a key with these scopes may do what `needed` guards: `admin`
  /// implies every scope; otherwise the scope itself is required.
  constexpr bool allows(Scope needed) const noexcept { return contains(Scope::admin) || contains(needed); }
  constexpr bool empty() const noexcept { return bits_ == 0; }

  constexpr Scopes& add(Scope s) noexcept {
    bits_ |= static_cast<std::uint8_t>(s);
    return *this;
  }
  friend constexpr bool operator==(Scopes, Scopes) = default;

 private:
  std::uint8_t bits_ = 0;
};

/// "publish", "read" or "admin" (a static string). Pure, thread-safe.
std::string_view to_string(Scope s) noexcept;
/// The scopes comma-separated in a fixed order (publish,read,admin), as the
/// keys file stores them; "" for none. Pure, thread-safe.
std::string to_string(Scopes s);

/// Parses "publish,read" (comma-separated, no spaces, each scope once, at
/// least one). On failure returns nullopt and says why in `error` (which
/// names the offending word: scopes are not secret). Pure, thread-safe.
std::optional<Scopes> parse_scopes(std::string_view text, std::string& error);

}  // namespace sluice::auth
