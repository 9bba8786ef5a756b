// Close codes (RFC 6455 §7.4) and the rules for which ones may travel on the wire.
#pragma once

#include <cstdint>

namespace sluice::protocol {

/// Named close codes. Plain integers (not an enum class) because the application
/// range 3000-4999 is open-ended and codes are compared with received values.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;      // never on the wire: close frame had no code
inline constexpr std::uint16_t abnormal = 1006;       // never on the wire: connection dropped
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t service_restart = 1012;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t bad_gateway = 1014;
inline constexpr std::uint16_t tls_failed = 1015;     // never on the wire
}  // namespace close_code

/// True for codes an endpoint may send or accept in a close frame: 1000-1003,
/// 1007-1014 (IANA registry) and 3000-4999. 1004-1006, 1015, 1016-2999 and
/// values outside 1000-4999 are invalid on the wire. Pure function, thread-safe.
constexpr bool is_valid_wire_close_code(std::uint16_t code) noexcept {
  if (code >= 3000 && code <= 4999) return true;
  if (code >= 1000 && code <= 1003) return true;
  return code >= 1007 && code <= 1014;
}

}  // namespace sluice::protocol
