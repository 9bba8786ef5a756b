// Standard base64 with '=' padding (RFC 4648 §4), as Standard Webhooks uses it
// for `whsec_` secrets and `v1,` signatures.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::webhook {

/// `bytes` in padded standard base64. Pure, thread-safe.
std::string base64_encode(std::string_view bytes);

/// The bytes `text` encodes, or nullopt unless it is canonical padded base64:
/// a length of 4n, only [A-Za-z0-9+/], '=' only as the last one or two
/// characters, and unused trailing bits zero. Pure, thread-safe.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace sluice::webhook
