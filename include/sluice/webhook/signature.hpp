// Webhook request signatures (issue #14): Sluice's own X-Sluice-Signature and
// the Standard Webhooks headers (https://www.standardwebhooks.com), so a
// receiver can verify with a few lines of HMAC or with the official
// `standardwebhooks` libraries unchanged.
//
//   X-Sluice-Timestamp: <unix seconds>
//   X-Sluice-Signature: sha256=<hex HMAC-SHA256(secret bytes as given, timestamp + "." + body)>
//   webhook-id:         <message id>
//   webhook-timestamp:  <unix seconds>
//   webhook-signature:  v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//
// where key = the base64-decoded part of a `whsec_<base64>` secret, or the
// secret's bytes for any other secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::webhook {

inline constexpr std::string_view kSluiceTimestampHeader = "X-Sluice-Timestamp";
inline constexpr std::string_view kSluiceSignatureHeader = "X-Sluice-Signature";
inline constexpr std::string_view kWebhookIdHeader = "webhook-id";
inline constexpr std::string_view kWebhookTimestampHeader = "webhook-timestamp";
inline constexpr std::string_view kWebhookSignatureHeader = "webhook-signature";

/// Standard Webhooks' prefix of a base64 secret.
inline constexpr std::string_view kSecretPrefix = "whsec_";
/// Longest secret accepted, in bytes as given.
inline constexpr std::size_t kMaxSecretSize = 1024;

/// The raw 32-byte HMAC-SHA256 of `message` under `key`. Pure, thread-safe.
std::string hmac_sha256(std::string_view key, std::string_view message);

/// Lower-case hex of `bytes`. Pure, thread-safe.
std::string hex_encode(std::string_view bytes);

/// "" when `secret` can sign, otherwise why not. The message never contains
/// the secret or any part of it. Rules: 1 to kMaxSecretSize bytes; a secret
/// that starts with `whsec_` must continue with canonical padded base64 of at
/// least one byte. Pure, thread-safe.
std::string validate_secret(std::string_view secret);

/// A new secret: `whsec_` + base64 of 32 bytes from OpenSSL's CSPRNG
/// (RAND_bytes). nullopt only if the CSPRNG fails. Thread-safe.
std::optional<std::string> generate_secret();

/// The headers that sign one request, ready to send (values only; names above).
struct SignatureHeaders {
  std::string sluice_timestamp;   ///< X-Sluice-Timestamp
  std::string sluice_signature;   ///< X-Sluice-Signature: "sha256=<hex>"
  std::string webhook_id;         ///< webhook-id
  std::string webhook_timestamp;  ///< webhook-timestamp (same seconds as X-Sluice-Timestamp)
  std::string webhook_signature;  ///< webhook-signature: "v1,<base64>"
};

/// Signs requests for one subscription's secret. Holds both derived keys
/// (they are wiped on destruction, best effort). Immutable after creation:
/// const members are thread-safe. Copyable, so a delivery can keep its own.
class WebhookSigner {
 public:
  /// A signer for `secret`, or nullopt with `error` set (validate_secret's
  /// message, never the secret itself).
  static std::optional<WebhookSigner> from_secret(std::string_view secret, std::string& error);

  WebhookSigner(const WebhookSigner&) = default;
  WebhookSigner(WebhookSigner&&) noexcept = default;
  WebhookSigner& operator=(const WebhookSigner&) = default;
  WebhookSigner& operator=(WebhookSigner&&) noexcept = default;
  ~WebhookSigner();

  /// "sha256=<hex HMAC-SHA256(secret, "<unix_seconds>.<body>")>".
  std::string sluice_signature(std::int64_t unix_seconds, std::string_view body) const;
  /// "v1,<base64 HMAC-SHA256(key, "<message_id>.<unix_seconds>.<body>")>".
  /// `message_id` should be printable ASCII without spaces (it is a header value).
  std::string standard_signature(std::string_view message_id, std::int64_t unix_seconds,
                                 std::string_view body) const;
  /// Every signing header for one request: `message_id` becomes webhook-id,
  /// `unix_seconds` both timestamps. The body must be sent byte for byte.
  SignatureHeaders sign(std::string_view message_id, std::int64_t unix_seconds, std::string_view body) const;

 private:
  WebhookSigner() = default;
  std::string sluice_key_;    // the secret's bytes as given
  std::string standard_key_;  // whsec_: the decoded bytes; otherwise the secret's bytes
};

}  // namespace sluice::webhook
