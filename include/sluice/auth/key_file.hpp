// The keys file (`--keys-file PATH`): one API key per line, as
//
//     # comments and blank lines are allowed
//     NAME  SCOPES  HASH
//     ci-publisher  publish  sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//
// NAME is 1-64 characters of [A-Za-z0-9._-] (not starting with "sk_", so a
// key can never pass for a name); SCOPES is comma-separated publish, read,
// admin; HASH is "sha256:" + hex of the key (api_key.hpp). Fields are
// separated by spaces or tabs. Never the key itself: whoever reads the file
// learns names and scopes, not a way in.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/auth/api_key.hpp"
#include "sluice/auth/scopes.hpp"

namespace sluice::auth {

inline constexpr std::size_t kMaxKeyNameLength = 64;
/// A larger keys file is refused (it is a list of lines, not a database).
inline constexpr std::size_t kMaxKeyFileBytes = 1 << 20;

/// One line of the keys file.
struct KeyEntry {
  std::string name;
  Scopes scopes;
  KeyHash hash{};
  std::size_t line = 0;  ///< 1-based line number in the file it came from
};

/// Why `name` cannot name a key; empty if it can. Pure, thread-safe.
std::string key_name_error(std::string_view name);

/// The entries of a keys file's text, in file order. A bad line makes the
/// whole file invalid: returns nullopt with `error` = "line N: why" (never
/// echoing a hash or anything that looks like a key). Names and hashes must
/// be unique. Pure, thread-safe.
std::optional<std::vector<KeyEntry>> parse_key_file(std::string_view text, std::string& error);

/// The file's text, or nullopt with `error` (missing, unreadable, over
/// kMaxKeyFileBytes). Thread-safe (reads the file once).
std::optional<std::string> read_key_file_text(const std::filesystem::path& path, std::string& error);

/// read_key_file_text then parse_key_file; errors are prefixed with the path.
std::optional<std::vector<KeyEntry>> load_key_file(const std::filesystem::path& path, std::string& error);

/// "NAME SCOPES HASH" (no newline), the line parse_key_file reads back.
/// Pure, thread-safe.
std::string format_key_line(const KeyEntry& entry);

}  // namespace sluice::auth
