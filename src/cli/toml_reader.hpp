// A strict reader for the TOML subset a config file needs: [tables],
// key = value with strings (basic, with escapes, and literal), integers,
// floats, booleans and one-level arrays (multi-line, trailing comma).
// Why not CLI11's reader: it cuts values at '#' even inside strings, does no
// escapes, and drops the value's type and line, which the start-up
// validation needs to say "port = \"80\" (line 3) is a string, expected an integer".
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace sluice::cli {

/// One value as written in the file.
struct TomlValue {
  enum class Kind { string, integer, floating, boolean, array };
  Kind kind = Kind::string;
  std::string text;              ///< scalars: the string's contents, or the literal as written (1_000 -> 1000)
  std::vector<TomlValue> items;  ///< arrays: the elements (scalars)

  /// "a string", "an integer", ... for messages. Pure.
  const char* kind_name() const noexcept;
  /// The value as it would be written back, for messages (strings quoted). Pure.
  std::string spelled() const;
};

/// `table.key = value` at `line` (table "" for keys before any [table]).
struct TomlEntry {
  std::string table;
  std::string key;
  TomlValue value;
  std::size_t line = 0;
};

/// Parses `text`; on a syntax error returns nullopt with "line N: what" in
/// `error`. A key given twice in one table is an error. Pure, thread-safe.
std::optional<std::vector<TomlEntry>> parse_toml(const std::string& text, std::string& error);

/// A TOML string literal for `text` (basic string, escaped). Pure.
std::string toml_quote(const std::string& text);

}  // namespace sluice::cli
