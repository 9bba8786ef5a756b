// Centrifugo channels as Sluice topics (docs/centrifugo.md): a documented,
// reversible mapping. A channel that is already a valid topic without '%'
// (`news`, `chat:index`, `orders.eu`) is that topic; any other byte a topic
// token does not take is written %XX, so wildcards never reach the broker.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::centrifugo {

/// The topic for `channel`: '%', '*', '>', space, control and non-ASCII bytes,
/// and a '.' that would leave an empty token (first, last, or after another
/// '.') become %XX (upper-case hex); every other byte is kept. Nullopt, with
/// `why`, when the channel is empty or the topic breaks a topic limit (length,
/// tokens). Pure, thread-safe.
std::optional<std::string> channel_to_topic(std::string_view channel, std::string& why);

/// The channel of `topic`: %XX decoded, everything else kept. The inverse of
/// channel_to_topic on every topic it returns. Pure, thread-safe.
std::string topic_to_channel(std::string_view topic);

}  // namespace sluice::centrifugo
