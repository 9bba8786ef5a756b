#include "sluice/auth/token_keys.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <memory>

namespace sluice::auth {
namespace {

inline constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

std::optional<std::string> read_small_file(const std::filesystem::path& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    error = path.string() + (std::filesystem::exists(path, ec) ? " cannot be read" : " does not exist");
    return std::nullopt;
  }
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxKeyFileBytes) {
      OPENSSL_cleanse(text.data(), text.size());
      error = path.string() + " is larger than " + std::to_string(kMaxKeyFileBytes) + " bytes";
      return std::nullopt;
    }
  }
  OPENSSL_cleanse(buffer, sizeof buffer);
  return text;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

}  // namespace

std::string_view to_string(TokenAlgorithm a) noexcept {
  switch (a) {
    case TokenAlgorithm::hs256: return "HS256";
    case TokenAlgorithm::rs256: return "RS256";
    case TokenAlgorithm::es256: return "ES256";
  }
  return "?";
}

std::optional<TokenAlgorithm> parse_token_algorithm(std::string_view name) noexcept {
  for (const auto a : {TokenAlgorithm::hs256, TokenAlgorithm::rs256, TokenAlgorithm::es256}) {
    if (name == to_string(a)) return a;
  }
  return std::nullopt;
}

std::optional<std::string> read_hs256_secret_file(const std::filesystem::path& path, std::string& error) {
  auto secret = read_small_file(path, error);
  if (!secret) return std::nullopt;
  // Editors and `echo` end files with a newline the secret does not include.
  // Exactly one "\n" or "\r\n" (the rule): a lone "\r" is the secret's.
  if (secret->ends_with('\n')) {
    secret->pop_back();
    if (secret->ends_with('\r')) secret->pop_back();
  }
  if (secret->size() < kMinHs256SecretBytes) {
    error = "the HS256 secret in " + path.string() + " is " + std::to_string(secret->size()) +
            " bytes; at least " + std::to_string(kMinHs256SecretBytes) +
            " are needed (RFC 7518 §3.2; e.g. openssl rand -base64 48 > FILE)";
    OPENSSL_cleanse(secret->data(), secret->size());
    return std::nullopt;
  }
  return secret;
}

std::string public_key_error(TokenAlgorithm algorithm, std::string_view pem) {
  if (algorithm == TokenAlgorithm::hs256) return "HS256 uses a shared secret, not a public key";
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    return "holds a private key; give only the public key (openssl pkey -in KEY -pubout)";
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return "out of memory";
  std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return "is not a PEM public key (-----BEGIN PUBLIC KEY-----)";
  if (algorithm == TokenAlgorithm::rs256) {
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return "is not an RSA public key (RS256 needs one)";
    if (EVP_PKEY_get_bits(key.get()) < 2048) return "is an RSA key shorter than 2048 bits";
    return {};
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) return "is not an EC public key (ES256 needs one on P-256)";
  char group[64] = {};
  std::size_t length = 0;
  if (EVP_PKEY_get_group_name(key.get(), group, sizeof group, &length) != 1 ||
      std::string_view(group, length) != "prime256v1") {
    return "is an EC key on another curve than P-256 (prime256v1), which ES256 needs";
  }
  return {};
}

std::optional<std::string> read_public_key_file(TokenAlgorithm algorithm, const std::filesystem::path& path,
                                                std::string& error) {
  auto pem = read_small_file(path, error);
  if (!pem) return std::nullopt;
  if (auto why = public_key_error(algorithm, *pem); !why.empty()) {
    error = "the public key file " + path.string() + " " + why;
    return std::nullopt;
  }
  return pem;
}

}  // namespace sluice::auth
