// JSON text helpers: quoting, kinds for messages, and the raw text of values a
// parser already accepted. Shared by the server's doors, the filter compiler,
// the client and the load generator. Pure functions: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace sluice::util {

/// A JSON string literal for `s`, escaped.
std::string quoted(std::string_view s);
/// Appends quoted(s) to `out` (no temporary when nothing needs escaping).
void append_quoted(std::string& out, std::string_view s);
/// quoted(s), but at most `max_bytes` of `s` (cut at a UTF-8 boundary, "..."
/// added): a huge name cannot blow up an error message.
std::string quoted_prefix(std::string_view s, std::size_t max_bytes = 64);

/// Raw text of JSON that a parser already accepted, so `data` is published
/// exactly as the client wrote it (boost::json would round integers beyond
/// 64 bits and rewrite 1.10 as 1.1E0).
/// The text of member `name` of the object `object` (the last one if the
/// name repeats, as the parser keeps), or nullopt.
std::optional<std::string_view> raw_member(std::string_view object, std::string_view name);
/// The text of each element of the array `array`.
std::vector<std::string_view> raw_elements(std::string_view array);
/// `value` without the whitespace between tokens.
std::string minify(std::string_view value);

/// The kind of JSON value, for messages: "a string", "an object", "an empty
/// array", ...
std::string_view kind_of(const boost::json::value& value);

}  // namespace sluice::util
