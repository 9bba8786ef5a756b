// Changing the keys file, for `sluice key create|revoke`: the file is
// rewritten whole into a temporary file beside it (mode 0600), synced, then
// renamed over it, so a reader (a server reloading on SIGHUP) sees either
// the old file or the new one, never half of one. Comments and other lines
// are kept as they were.
//
// Not safe against two edits of the same file at once (the later rename
// wins and the other change is lost): run one `sluice key` at a time.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/auth/scopes.hpp"

namespace sluice::auth {

/// Writes `contents` to `path` atomically (temporary file in the same
/// directory, fsync, rename, fsync of the directory), mode 0600. False with
/// `error` if any step failed (then `path` is unchanged and the temporary
/// file removed). Not thread-safe for the same path.
bool write_file_atomically(const std::filesystem::path& path, std::string_view contents, std::string& error);

/// Generates a new key named `name` with `scopes`, appends its line to the
/// keys file at `path` (creating the file, with a header comment, if it does
/// not exist) and returns the key: the only time it exists outside its
/// owner's hands. nullopt with `error` if the name is invalid or taken, the
/// existing file is invalid, or writing failed (then nothing changed).
/// Edits of one file from several processes or threads at once are
/// serialized (an flock on its directory): none is lost.
std::optional<std::string> create_key(const std::filesystem::path& path, std::string_view name, Scopes scopes,
                                      std::string& error);

/// Removes the line of the key named `name` from the keys file. False with
/// `error` if there is no such key, the file is invalid, or writing failed
/// (then nothing changed).
bool revoke_key(const std::filesystem::path& path, std::string_view name, std::string& error);

}  // namespace sluice::auth
