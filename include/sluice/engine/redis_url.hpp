// `--engine redis[s]://[user:password@]host:port[/db]`: the parsed URL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::engine {

struct RedisUrl {
  std::string host;
  std::uint16_t port = 6379;
  unsigned db = 0;
  std::string user;      ///< "" : AUTH with the password alone
  std::string password;  ///< "" : no AUTH
  bool tls = false;      ///< rediss://: reached through a RedisTlsTunnel
  /// When set, hiredis connects to this Unix socket instead of host:port
  /// (the RedisTlsTunnel of a rediss:// URL; set by whoever started it).
  std::string unix_path;
};

/// Parses `url` (redis:// or rediss://; the port defaults to 6379 for both).
/// Returns nullopt and why in `error` (never repeating the password).
/// Thread-safe (pure).
std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& error);

/// `url` with its password replaced by "********" (for logs and
/// --print-config). Text that is no URL is returned unchanged. Thread-safe.
std::string mask_redis_password(std::string_view url);

}  // namespace sluice::engine
