// Small helpers of the Centrifugo session shared by session.cpp and
// session_tokens.cpp: reply lines, a grant's expiry fields, time to an expiry.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::centrifugo::detail {

inline std::int64_t unix_seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline void append_line(std::string& replies, std::string_view line) {
  if (!replies.empty()) replies += '\n';
  replies += line;
}

// The fields of a reply whose grant ends at `expires_at` (Unix seconds):
// the SDK refreshes after `ttl` seconds.
inline std::string expiry_fields(std::int64_t expires_at) {
  if (expires_at <= 0) return {};
  return ",\"expires\":true,\"ttl\":" + std::to_string(std::max<std::int64_t>(1, expires_at - unix_seconds_now()));
}

// How long from now until `expires_at` plus `delay`, never negative.
inline std::chrono::seconds until(std::int64_t expires_at, std::chrono::seconds delay) {
  return std::chrono::seconds(std::max<std::int64_t>(0, expires_at + delay.count() - unix_seconds_now()));
}

}  // namespace sluice::centrifugo::detail
