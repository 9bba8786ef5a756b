#include "sluice/engine/redis_url.hpp"

#include <charconv>

namespace sluice::engine {

namespace {
constexpr std::string_view kScheme = "redis://";
constexpr std::string_view kTlsScheme = "rediss://";

bool parse_number(std::string_view text, unsigned max, unsigned& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out <= max;
}
}  // namespace

std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& error) {
  RedisUrl out;
  out.tls = url.starts_with(kTlsScheme);
  if (!out.tls && !url.starts_with(kScheme)) {
    error = "must start with redis:// or rediss://";
    return std::nullopt;
  }
  std::string_view rest = url.substr(out.tls ? kTlsScheme.size() : kScheme.size());
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = credentials.find(':');
    if (colon == std::string_view::npos) {
      out.password = std::string(credentials);  // redis://password@host
    } else {
      out.user = std::string(credentials.substr(0, colon));
      out.password = std::string(credentials.substr(colon + 1));
    }
  }
  std::string_view authority = rest;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_number(db, 15'000, out.db)) {
      error = "the database after / must be a number";
      return std::nullopt;
    }
  }
  std::string_view host = authority;
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    host = authority.substr(0, colon);
    unsigned port = 0;
    if (!parse_number(authority.substr(colon + 1), 65535, port) || port == 0) {
      error = "the port must be a number from 1 to 65535";
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  if (host.empty()) {
    error = "a host is required (redis://host:port)";
    return std::nullopt;
  }
  out.host = std::string(host);
  return out;
}

std::string mask_redis_password(std::string_view url) {
  if (!url.starts_with(kScheme) && !url.starts_with(kTlsScheme)) return std::string(url);
  const std::size_t start = url.find("://") + 3;
  const auto at = url.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(url);
  const std::string_view credentials = url.substr(start, at - start);
  const auto colon = credentials.find(':');
  const std::string user = colon == std::string_view::npos ? std::string() : std::string(credentials.substr(0, colon)) + ":";
  return std::string(url.substr(0, start)) + user + "********" + std::string(url.substr(at));
}

}  // namespace sluice::engine
