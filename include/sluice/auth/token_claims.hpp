// What a connection token (JWT) says about its holder (SPEC §3 Security):
// who it is (`sub`), when the token is valid (`nbf` .. `exp`), and which
// topic patterns it may subscribe to and publish on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::auth {

/// Bounds on what a token may carry (larger tokens are refused as invalid).
inline constexpr std::size_t kMaxSubjectLength = 256;
inline constexpr std::size_t kMaxTokenPatterns = 256;  ///< per claim array

/// The claims Sluice reads. A plain value: thread-safe to copy and read.
struct TokenClaims {
  /// The client's identity, shown in logs and connection info: printable
  /// ASCII or UTF-8 without control characters, at most kMaxSubjectLength
  /// bytes; empty if the token has none.
  std::string sub;
  std::int64_t exp = 0;              ///< Unix seconds; required
  std::optional<std::int64_t> nbf;   ///< Unix seconds
  std::optional<std::int64_t> iat;   ///< Unix seconds; informational
  /// Topic patterns the holder may subscribe to (valid patterns, topic.hpp).
  std::vector<std::string> subscribe;
  /// Topic patterns the holder may publish on.
  std::vector<std::string> publish;
  /// Centrifugo's `channels` claim, kept as given for the Centrifugo
  /// protocol endpoint (not checked or used by /v1/ws).
  std::vector<std::string> channels;
  /// Centrifugo's subscription-token claim: the one channel the token lets
  /// its `sub` subscribe to (the Centrifugo endpoint's `subscribe` token);
  /// empty in a connection token.
  std::string channel;

  /// True if some `subscribe` pattern covers `pattern` (a topic or a
  /// pattern): `orders.>` allows `orders.eu` and `orders.*`, not `orders`
  /// or `>`. `pattern` must be valid (pattern_error empty). Thread-safe (const).
  bool may_subscribe(std::string_view pattern) const;
  /// True if some `publish` pattern covers the topic `topic`. Thread-safe (const).
  bool may_publish(std::string_view topic) const;
};

/// True if one of `granted` covers `requested` (topic::pattern_covers).
/// Pure, thread-safe.
bool patterns_allow(const std::vector<std::string>& granted, std::string_view requested);

}  // namespace sluice::auth
