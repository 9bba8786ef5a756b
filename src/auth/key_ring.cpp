#include "sluice/auth/key_ring.hpp"

#include <openssl/crypto.h>

#include "sluice/auth/api_key.hpp"

namespace sluice::auth {

std::string_view to_string(KeyFailure f) noexcept {
  switch (f) {
    case KeyFailure::missing: return "missing";
    case KeyFailure::unknown: return "unknown";
  }
  return "?";
}

KeyRing::KeyRing(std::vector<KeyEntry> entries) : entries_(std::move(entries)) {}

std::shared_ptr<const KeyRing> KeyRing::load(const std::filesystem::path& path, std::string& error) {
  auto entries = load_key_file(path, error);
  if (!entries) return nullptr;
  return std::make_shared<const KeyRing>(std::move(*entries));
}

KeyCheck KeyRing::authenticate(std::string_view credential) const {
  KeyCheck check;
  if (credential.empty()) return check;
  check.failure = KeyFailure::unknown;
  // A credential without a key's shape is hashed and compared like any other: no shortcut to time.
  const auto hash = hash_api_key(credential);
  if (!hash) return check;
  const KeyEntry* found = nullptr;
  for (const auto& entry : entries_) {
    const bool same = CRYPTO_memcmp(entry.hash.data(), hash->data(), hash->size()) == 0;
    if (same && !found) found = &entry;  // no early exit: every entry is compared
  }
  if (found) check.identity = KeyIdentity{found->name, found->scopes};
  return check;
}

}  // namespace sluice::auth
