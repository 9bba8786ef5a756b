#include "sluice/auth/key_file.hpp"

#include <fstream>

namespace sluice::auth {
namespace {

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// A field starting "sk_": someone stored a key instead of its hash (names may not start so).
bool holds_a_key(const std::vector<std::string_view>& fields) {
  for (const auto f : fields) {
    if (f.starts_with(kApiKeyPrefix)) return true;
  }
  return false;
}

std::string at_line(std::size_t n, std::string_view why) { return "line " + std::to_string(n) + ": " + std::string(why); }

}  // namespace

std::string key_name_error(std::string_view name) {
  if (name.empty()) return "key name is empty";
  if (name.size() > kMaxKeyNameLength) return "key name is longer than " + std::to_string(kMaxKeyNameLength) + " characters";
  if (name.starts_with(kApiKeyPrefix)) return "key name may not start with 'sk_' (the prefix of keys themselves)";
  for (const char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-';
    if (!ok) return "key name may only contain letters, digits, '.', '_' and '-'";
  }
  return {};
}

std::optional<std::vector<KeyEntry>> parse_key_file(std::string_view text, std::string& error) {
  std::vector<KeyEntry> entries;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);  // a file edited on Windows
    const auto fields = split_fields(line);
    if (fields.empty() || fields[0].starts_with('#')) continue;
    if (holds_a_key(fields)) {
      error = at_line(number, "holds an API key itself; the file keeps only hashes (`sluice key create` writes lines)");
      return std::nullopt;
    }
    if (fields.size() != 3) {
      error = at_line(number, "expected 3 fields (NAME SCOPES HASH), found " + std::to_string(fields.size()));
      return std::nullopt;
    }
    KeyEntry entry;
    if (auto why = key_name_error(fields[0]); !why.empty()) {
      error = at_line(number, why);
      return std::nullopt;
    }
    entry.name = std::string(fields[0]);
    std::string why;
    const auto scopes = parse_scopes(fields[1], why);
    if (!scopes) {
      error = at_line(number, why);
      return std::nullopt;
    }
    entry.scopes = *scopes;
    const auto hash = parse_key_hash(fields[2]);
    if (!hash) {
      error = at_line(number, "the hash must be 'sha256:' followed by 64 lowercase hex digits");
      return std::nullopt;
    }
    entry.hash = *hash;
    entry.line = number;
    for (const auto& other : entries) {
      if (other.name == entry.name) {
        error = at_line(number, "key name '" + entry.name + "' is already used on line " + std::to_string(other.line));
        return std::nullopt;
      }
      if (other.hash == entry.hash) {
        error = at_line(number, "the same key hash is already on line " + std::to_string(other.line));
        return std::nullopt;
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::optional<std::string> read_key_file_text(const std::filesystem::path& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    error = std::filesystem::exists(path, ec) ? "cannot be read" : "does not exist";
    return std::nullopt;
  }
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxKeyFileBytes) {
      error = "is larger than " + std::to_string(kMaxKeyFileBytes) + " bytes";
      return std::nullopt;
    }
  }
  if (in.bad()) {
    error = "cannot be read";
    return std::nullopt;
  }
  return text;
}

std::optional<std::vector<KeyEntry>> load_key_file(const std::filesystem::path& path, std::string& error) {
  std::string why;
  auto text = read_key_file_text(path, why);
  if (!text) {
    error = "keys file " + path.string() + " " + why;
    return std::nullopt;
  }
  auto entries = parse_key_file(*text, why);
  if (!entries) {
    error = "keys file " + path.string() + ", " + why;
    return std::nullopt;
  }
  return entries;
}

std::string format_key_line(const KeyEntry& entry) {
  return entry.name + " " + to_string(entry.scopes) + " " + format_key_hash(entry.hash);
}

}  // namespace sluice::auth
