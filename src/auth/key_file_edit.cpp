#include "sluice/auth/key_file_edit.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "sluice/auth/api_key.hpp"
#include "sluice/auth/key_file.hpp"

namespace sluice::auth {
namespace {

constexpr std::string_view kHeader =
    "# Sluice API keys: NAME SCOPES HASH, one key per line (see docs/security.md).\n"
    "# Only hashes of the keys are kept here; `sluice key create` adds lines.\n";

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// An exclusive flock on the keys file's directory for one read-modify-write:
// two `sluice key` runs at once would otherwise both read the old file and
// the second rename would drop the first one's key. The file itself cannot
// carry the lock: each edit replaces it with a new inode.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::filesystem::path& file)
      : dir_(file.has_parent_path() ? file.parent_path() : std::filesystem::path(".")) {
    fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) {
      errno_ = errno;
      return;
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      errno_ = errno;
      return;
    }
  }
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  /// True when held; otherwise false with `error` saying why.
  bool held(std::string& error) const {
    if (errno_ == 0) return true;
    error = "cannot lock " + dir_.string() + " for the edit: " + errno_text(errno_);
    return false;
  }

 private:
  std::filesystem::path dir_;
  int fd_ = -1;
  int errno_ = 0;
};

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The existing file's text and entries; a missing file is an empty one (create makes it).
bool read_existing(const std::filesystem::path& path, bool missing_ok, std::string& text,
                   std::vector<KeyEntry>& entries, std::string& error) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (!missing_ok) {
      error = "keys file " + path.string() + " does not exist";
      return false;
    }
    text = std::string(kHeader);
    entries.clear();
    return true;
  }
  std::string why;
  auto read = read_key_file_text(path, why);
  if (!read) {
    error = "keys file " + path.string() + " " + why;
    return false;
  }
  auto parsed = parse_key_file(*read, why);
  if (!parsed) {
    error = "keys file " + path.string() + ", " + why + " (fix it before changing it)";
    return false;
  }
  text = std::move(*read);
  entries = std::move(*parsed);
  return true;
}

}  // namespace

bool write_file_atomically(const std::filesystem::path& path, std::string_view contents, std::string& error) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string temp = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());  // created 0600, in the same directory so rename is atomic
  if (fd < 0) {
    error = "cannot create a temporary file in " + dir.string() + ": " + errno_text(errno);
    return false;
  }
  const bool written = ::fchmod(fd, 0600) == 0 && write_all(fd, contents) && ::fsync(fd) == 0;
  const int write_errno = errno;
  if (::close(fd) != 0 || !written) {
    error = "cannot write " + temp + ": " + errno_text(written ? errno : write_errno);
    ::unlink(temp.c_str());
    return false;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    error = "cannot replace " + path.string() + ": " + errno_text(errno);
    ::unlink(temp.c_str());
    return false;
  }
  // The rename itself is durable only once the directory is synced.
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return true;
}

std::optional<std::string> create_key(const std::filesystem::path& path, std::string_view name, Scopes scopes,
                                      std::string& error) {
  if (auto why = key_name_error(name); !why.empty()) {
    error = why;
    return std::nullopt;
  }
  if (scopes.empty()) {
    error = "a key needs at least one scope (publish, read, admin)";
    return std::nullopt;
  }
  const DirectoryLock lock(path);
  if (!lock.held(error)) return std::nullopt;
  std::string text;
  std::vector<KeyEntry> entries;
  if (!read_existing(path, true, text, entries, error)) return std::nullopt;
  for (const auto& e : entries) {
    if (e.name == name) {
      error = "a key named '" + std::string(name) + "' already exists (revoke it first to replace it)";
      return std::nullopt;
    }
  }
  auto key = generate_api_key();
  const auto hash = key ? hash_api_key(*key) : std::nullopt;
  if (!key || !hash) {
    error = "the random generator failed; no key was made";
    return std::nullopt;
  }
  KeyEntry entry{std::string(name), scopes, *hash, 0};
  if (!text.empty() && !text.ends_with('\n')) text += '\n';
  text += format_key_line(entry);
  text += '\n';
  if (!write_file_atomically(path, text, error)) return std::nullopt;
  return key;
}

bool revoke_key(const std::filesystem::path& path, std::string_view name, std::string& error) {
  if (auto why = key_name_error(name); !why.empty()) {  // also keeps a key given by mistake out of the message
    error = why;
    return false;
  }
  const DirectoryLock lock(path);
  if (!lock.held(error)) return false;
  std::string text;
  std::vector<KeyEntry> entries;
  if (!read_existing(path, false, text, entries, error)) return false;
  std::size_t line = 0;
  for (const auto& e : entries) {
    if (e.name == name) line = e.line;
  }
  if (line == 0) {
    error = "no key named '" + std::string(name) + "' in " + path.string();
    return false;
  }
  // Every line but that one, byte for byte.
  std::string kept;
  std::size_t number = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    ++number;
    const std::size_t newline = rest.find('\n');
    const std::size_t end = newline == std::string_view::npos ? rest.size() : newline + 1;
    if (number != line) kept += rest.substr(0, end);
    rest.remove_prefix(end);
  }
  return write_file_atomically(path, kept, error);
}

}  // namespace sluice::auth
