#include "sluice/auth/api_key.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sluice/auth/base64url.hpp"

namespace sluice::auth {
namespace {

constexpr std::string_view kHashPrefix = "sha256:";
constexpr std::string_view kHex = "0123456789abcdef";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase refused: one hash, one spelling
}

}  // namespace

std::optional<std::string> generate_api_key() {
  std::array<unsigned char, kApiKeyRandomBytes> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) return std::nullopt;
  std::string key(kApiKeyPrefix);
  key += base64url_encode(std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
  OPENSSL_cleanse(random.data(), random.size());
  return key;
}

bool looks_like_api_key(std::string_view text) noexcept {
  if (text.size() != kApiKeyLength || !text.starts_with(kApiKeyPrefix)) return false;
  for (const char c : text.substr(kApiKeyPrefix.size())) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<KeyHash> hash_api_key(std::string_view key) {
  KeyHash hash{};
  unsigned int size = 0;
  if (EVP_Digest(key.data(), key.size(), hash.data(), &size, EVP_sha256(), nullptr) != 1 || size != hash.size()) {
    return std::nullopt;
  }
  return hash;
}

std::string format_key_hash(const KeyHash& hash) {
  std::string out(kHashPrefix);
  for (const std::uint8_t b : hash) {
    out += kHex[b >> 4];
    out += kHex[b & 0x0f];
  }
  return out;
}

std::optional<KeyHash> parse_key_hash(std::string_view text) {
  if (!text.starts_with(kHashPrefix)) return std::nullopt;
  text.remove_prefix(kHashPrefix.size());
  KeyHash hash{};
  if (text.size() != hash.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < hash.size(); ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    hash[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return hash;
}

}  // namespace sluice::auth
