#include "sluice/server/settings.hpp"

#include "sluice/engine/redis_url.hpp"

#include <boost/asio/ip/address.hpp>

#include <cmath>
#include <cstdint>

namespace sluice::server {

namespace {

// Loopback: 127.0.0.0/8, ::1 (also as ::ffff:127.x) and "localhost".
bool is_loopback_address(const std::string& address) {
  if (address == "localhost") return true;
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(address, ec);
  if (ec) return false;
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, ip.to_v6());
  return ip.is_loopback();
}

// A token bucket's rate: finite, >= 0 (0: off).
bool valid_rate(double rate) { return std::isfinite(rate) && rate >= 0; }
// Its burst: 0 (the rate) or at least one request (a burst below one token
// would never admit anything).
bool valid_burst(double burst) { return std::isfinite(burst) && (burst == 0 || burst >= 1); }

}  // namespace

bool ServerSettings::loopback_only() const { return is_loopback_address(address); }

std::string ServerSettings::validate() const {
  if (address.empty()) return "address must not be empty";
  // SPEC §3 Security: nothing authenticates, so nothing beyond this host may connect.
  if (!auth_required() && !insecure && !loopback_only()) {
    return "refusing to listen on " + address +
           " without authentication: give --keys-file and/or --jwt-secret-file/--jwt-public-key, "
           "or --insecure to serve anyone who can reach the port";
  }
  if (!jwt_secret_file.empty() && !jwt_public_key.empty()) {
    return "jwt-secret-file (HS256) and jwt-public-key (RS256/ES256) exclude each other: one token algorithm per server";
  }
  if (jwt_leeway.count() < 0 || jwt_leeway.count() > 300) return "jwt-leeway must be 0 to 300 seconds";
  if (expired_close_delay.count() < 0 || expired_close_delay.count() > 300) {
    return "expired-close-delay must be 0 to 300 seconds";
  }
  if (threads > 1024) return "threads must be at most 1024 (0 means one per core)";
  if (max_connections == 0) return "max-connections must be at least 1";
  if (send_queue_limit < 1024 || send_queue_limit > UINT32_MAX) {
    return "send-queue-limit must be 1024 bytes to 4 GiB - 1 (4294967295)";
  }
  if (max_message_size < 128) return "max-message-size must be at least 128 bytes";
  if (max_header_bytes < 1024) return "max-header-bytes must be at least 1024 bytes";
  if (max_subscriptions == 0) return "max-subscriptions must be at least 1";
  if (!valid_rate(rate_limit)) return "rate-limit must be a number >= 0 (0: no limit)";
  if (!valid_burst(rate_burst)) return "rate-burst must be 0 (the rate) or at least 1";
  if (!valid_rate(key_rate_limit)) return "key-rate-limit must be a number >= 0 (0: no limit)";
  if (!valid_burst(key_rate_burst)) return "key-rate-burst must be 0 (the rate) or at least 1";
  if (!valid_rate(new_connections_per_ip_per_second)) {
    return "new-connections-per-ip-per-second must be a number >= 0 (0: no limit)";
  }
  if (!valid_burst(new_connections_per_ip_burst)) {
    return "new-connections-per-ip-burst must be 0 (the rate) or at least 1";
  }
  if (ping_interval.count() < 0 || pong_timeout.count() <= 0 || idle_timeout.count() < 0) {
    return "ping-interval and idle-timeout must be >= 0 and pong-timeout > 0";
  }
  if (handshake_timeout.count() <= 0 || close_timeout.count() <= 0 || shutdown_drain.count() < 0) {
    return "handshake-timeout and close-timeout must be > 0, shutdown-drain >= 0";
  }
  if (tls_cert.empty() != tls_key.empty()) return "tls-cert and tls-key go together";
  if (history_max_age.count() <= 0) return "history-max-age must be > 0";
  if (retention_interval.count() <= 0) return "retention-interval must be > 0";
  for (const auto& text : history_overrides) {
    std::string why;
    if (!broker::HistoryPolicy::parse(text, why)) return why;
  }
  if (idempotency_window.count() <= 0) return "idempotency-window must be > 0";
  if (store != "sqlite" && store != "memory") return "store must be 'sqlite' or 'memory', not '" + store + "'";
  if (store == "sqlite" && data_dir.empty()) return "data-dir must not be empty with the sqlite store";
  if (engine_cert_file.empty() != engine_key_file.empty()) return "engine-cert-file and engine-key-file go together";
  for (const auto& url : engine) {
    std::string why;
    if (!engine::parse_redis_url(url, why)) return "engine " + engine::mask_redis_password(url) + ": " + why;
  }
  return webhook.validate();
}

broker::HistoryPolicy ServerSettings::history_policy() const {
  std::vector<broker::HistoryOverride> overrides;
  for (const auto& text : history_overrides) {
    std::string why;
    if (auto o = broker::HistoryPolicy::parse(text, why)) overrides.push_back(std::move(*o));
  }
  return broker::HistoryPolicy({history_max_events, history_max_bytes, history_max_age}, std::move(overrides));
}

}  // namespace sluice::server
