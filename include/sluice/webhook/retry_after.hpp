// The Retry-After response header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace sluice::webhook {

/// The wait `value` asks for, counted from `now`: delay-seconds ("120"), or an
/// HTTP-date in any of the three forms RFC 9110 requires a recipient to accept
/// (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94
/// 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"). A date in the past
/// gives 0 s; huge delays saturate at about 100 years. nullopt when `value`
/// is none of these (the caller then ignores it). Pure, thread-safe.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

/// Just the HTTP-date part: the instant it names, or nullopt. Pure, thread-safe.
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text);

}  // namespace sluice::webhook
