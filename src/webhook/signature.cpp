#include "sluice/webhook/signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "sluice/webhook/base64.hpp"

namespace sluice::webhook {
namespace {

// Overwrites a key's bytes before its memory goes back to the allocator.
void wipe(std::string& key) noexcept {
  if (!key.empty()) OPENSSL_cleanse(key.data(), key.size());
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  // HMAC() with a null key pointer would mean "no key"; an empty key is a valid one.
  static constexpr unsigned char kEmpty = 0;
  const auto* key_bytes = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (HMAC(EVP_sha256(), key_bytes, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &size) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");  // only on allocation failure inside OpenSSL
  }
  return std::string(reinterpret_cast<const char*>(mac.data()), size);
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0x0f];
  }
  return out;
}

std::string validate_secret(std::string_view secret) {
  if (secret.empty()) return "the webhook secret is empty";
  if (secret.size() > kMaxSecretSize) {
    return "the webhook secret is longer than " + std::to_string(kMaxSecretSize) + " bytes";
  }
  if (secret.starts_with(kSecretPrefix)) {
    auto key = base64_decode(secret.substr(kSecretPrefix.size()));
    if (!key) return "a webhook secret starting with whsec_ must continue with standard base64 (with = padding)";
    const bool empty = key->empty();
    wipe(*key);
    if (empty) return "a whsec_ webhook secret must encode at least one byte";
  }
  return "";
}

std::optional<std::string> generate_secret() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return std::nullopt;
  std::string secret(kSecretPrefix);
  secret += base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return secret;
}

std::optional<WebhookSigner> WebhookSigner::from_secret(std::string_view secret, std::string& error) {
  error = validate_secret(secret);
  if (!error.empty()) return std::nullopt;
  WebhookSigner signer;
  signer.sluice_key_ = std::string(secret);
  if (secret.starts_with(kSecretPrefix)) {
    signer.standard_key_ = *base64_decode(secret.substr(kSecretPrefix.size()));  // validated above
  } else {
    signer.standard_key_ = std::string(secret);
  }
  return signer;
}

WebhookSigner::~WebhookSigner() {
  wipe(sluice_key_);
  wipe(standard_key_);
}

std::string WebhookSigner::sluice_signature(std::int64_t unix_seconds, std::string_view body) const {
  std::string message = std::to_string(unix_seconds);
  message += '.';
  message += body;
  return "sha256=" + hex_encode(hmac_sha256(sluice_key_, message));
}

std::string WebhookSigner::standard_signature(std::string_view message_id, std::int64_t unix_seconds,
                                              std::string_view body) const {
  std::string message(message_id);
  message += '.';
  message += std::to_string(unix_seconds);
  message += '.';
  message += body;
  return "v1," + base64_encode(hmac_sha256(standard_key_, message));
}

SignatureHeaders WebhookSigner::sign(std::string_view message_id, std::int64_t unix_seconds,
                                     std::string_view body) const {
  SignatureHeaders h;
  h.sluice_timestamp = std::to_string(unix_seconds);
  h.sluice_signature = sluice_signature(unix_seconds, body);
  h.webhook_id = std::string(message_id);
  h.webhook_timestamp = h.sluice_timestamp;
  h.webhook_signature = standard_signature(message_id, unix_seconds, body);
  return h;
}

}  // namespace sluice::webhook
