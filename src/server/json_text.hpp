// JSON text helpers shared by the server's front doors (HTTP, /v1/ws) and the
// publish door. Not part of the public interface. Pure functions: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace sluice::server::detail {

/// A JSON string literal for `s`, escaped.
std::string quoted(std::string_view s);
/// Appends quoted(s) to `out` (no temporary when nothing needs escaping).
void append_quoted(std::string& out, std::string_view s);

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

/// The kind of JSON value, for messages: "a string", "an object", ...
std::string_view kind_of(const boost::json::value& value);

}  // namespace sluice::server::detail
