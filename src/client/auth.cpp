#include "sluice/client/auth.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace sluice::client {

namespace {

// base64url without padding (RFC 7515 §2), as a JWT's parts are written.
// Also tolerates '=' padding at the end. nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;  // no whole byte in the last group
  static constexpr auto kTable = [] {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return t;
  }();
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    const std::int8_t v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

}  // namespace

std::optional<std::int64_t> token_expiry(std::string_view token) noexcept {
  try {
    const auto first = token.find('.');
    if (first == std::string_view::npos) return std::nullopt;
    const auto second = token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return std::nullopt;
    const auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
    if (!payload) return std::nullopt;
    boost::system::error_code ec;
    const boost::json::value claims = boost::json::parse(*payload, ec);
    if (ec || !claims.is_object()) return std::nullopt;
    const boost::json::value* exp = claims.get_object().if_contains("exp");
    if (!exp) return std::nullopt;
    if (exp->is_int64()) return exp->get_int64();
    if (exp->is_uint64()) {
      if (exp->get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
      return static_cast<std::int64_t>(exp->get_uint64());
    }
    if (exp->is_double()) {  // RFC 7519 NumericDate may have a fraction
      const double d = exp->get_double();
      if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) return std::nullopt;
      return static_cast<std::int64_t>(std::floor(d));
    }
    return std::nullopt;
  } catch (...) {  // allocation failure: no expiry known
    return std::nullopt;
  }
}

std::chrono::milliseconds refresh_delay(std::int64_t exp, std::chrono::system_clock::time_point now,
                                        std::chrono::milliseconds margin, std::chrono::milliseconds min_delay) {
  using std::chrono::milliseconds;
  const std::int64_t now_ms =
      std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  // Clamped so that a far-future or absurd exp cannot overflow.
  constexpr std::int64_t kMaxSeconds = std::int64_t{1} << 40;
  const std::int64_t exp_ms = std::clamp<std::int64_t>(exp, -kMaxSeconds, kMaxSeconds) * 1000;
  const std::int64_t left = exp_ms - now_ms;
  const std::int64_t wait = left >= 2 * margin.count() ? left - margin.count() : left / 2;
  return std::max(milliseconds(wait), min_delay);
}

}  // namespace sluice::client
