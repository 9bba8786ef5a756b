// The key material of connection tokens, read from files: an HS256 shared
// secret (`--jwt-secret-file`) or an RS256/ES256 public key in PEM
// (`--jwt-public-key`).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::auth {

/// The algorithms Sluice accepts for connection tokens, one per server.
enum class TokenAlgorithm { hs256, rs256, es256 };

/// "HS256", "RS256" or "ES256" (the JWS `alg` names). Pure, thread-safe.
std::string_view to_string(TokenAlgorithm a) noexcept;
/// The inverse of to_string (exact, case-sensitive as RFC 7515 says). Pure, thread-safe.
std::optional<TokenAlgorithm> parse_token_algorithm(std::string_view name) noexcept;

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash (32 bytes).
inline constexpr std::size_t kMinHs256SecretBytes = 32;

/// The HS256 secret in the file at `path`: its contents less one trailing
/// newline ("\n" or "\r\n"). nullopt with `error` if the file cannot be read
/// or the secret is shorter than kMinHs256SecretBytes. The error never
/// contains the secret. Thread-safe.
std::optional<std::string> read_hs256_secret_file(const std::filesystem::path& path, std::string& error);

/// Why `pem` is not a public key fit for `algorithm` (RS256: an RSA key of
/// at least 2048 bits; ES256: an EC key on P-256); empty if it is. A
/// private key is refused too (give the server only the public half).
/// Pure, thread-safe.
std::string public_key_error(TokenAlgorithm algorithm, std::string_view pem);

/// The PEM text of the public key file at `path`, checked with
/// public_key_error. nullopt with `error` otherwise. Thread-safe.
std::optional<std::string> read_public_key_file(TokenAlgorithm algorithm, const std::filesystem::path& path,
                                                std::string& error);

}  // namespace sluice::auth
