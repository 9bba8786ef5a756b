// API keys: what they look like, how they are made, and the hash the keys
// file stores instead of the key itself.
//
// A key is "sk_" followed by 43 base64url characters: 32 bytes (256 bits)
// from OpenSSL's RAND_bytes. The prefix makes a leaked key recognisable (to
// people and to secret scanners); base64url keeps it safe in URLs and
// headers without escaping.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::auth {

inline constexpr std::string_view kApiKeyPrefix = "sk_";
inline constexpr std::size_t kApiKeyRandomBytes = 32;
/// "sk_" + base64url(32 bytes) without padding.
inline constexpr std::size_t kApiKeyLength = 3 + 43;

/// SHA-256 of a key: what the keys file and KeyRing keep.
using KeyHash = std::array<std::uint8_t, 32>;

/// A new key from RAND_bytes, or nullopt if the generator failed (then no
/// key must be made). Thread-safe (OpenSSL's generator is).
std::optional<std::string> generate_api_key();

/// True if `text` has the shape of a key ("sk_" + 43 base64url
/// characters); says nothing about whether any key file knows it.
/// Pure, thread-safe.
bool looks_like_api_key(std::string_view text) noexcept;

/// SHA-256 of `key` (all of it, prefix included); nullopt only if OpenSSL
/// failed (out of memory), which callers treat as "no such key".
/// Pure, thread-safe.
///
/// Why a fast hash and not bcrypt/scrypt/argon2: slow KDFs exist to make
/// guessing low-entropy human passwords expensive. These keys carry 256
/// random bits, so no amount of hashing speed makes guessing feasible, while
/// a slow KDF would cost CPU on every request and hand attackers a cheap
/// denial of service.
std::optional<KeyHash> hash_api_key(std::string_view key);

/// "sha256:" + 64 lowercase hex digits, as the keys file stores a hash.
std::string format_key_hash(const KeyHash& hash);
/// The inverse of format_key_hash; nullopt for anything else (no detail:
/// the caller knows the context). Pure, thread-safe.
std::optional<KeyHash> parse_key_hash(std::string_view text);

}  // namespace sluice::auth
