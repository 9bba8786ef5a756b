// The subscribe request of a preset (every scenario that subscribes) and how
// its reply reads (idle, churn; fanout reads its replies among the events
// itself).
#pragma once

#include <string>
#include <string_view>

#include "options.hpp"

namespace sluice::bench {

/// Sluice: {"op":"subscribe",...}; Centrifugo: connect and subscribe in one
/// frame, as the SDK sends them; broadcast: "" (nothing to subscribe to).
std::string subscribe_request(Protocol protocol, std::string_view topic);

enum class SubscribeReply { other, acked, refused };

/// What `frame` says of the subscription: acknowledged, refused (`refusal`
/// is then the refusing reply, cut to 200 bytes), or neither (an event, the
/// connect reply).
SubscribeReply read_subscribe_reply(Protocol protocol, std::string_view frame, std::string_view& refusal);

}  // namespace sluice::bench
