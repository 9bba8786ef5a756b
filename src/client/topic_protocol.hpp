// The in-band protocol of /v1/ws as the topic layer speaks it (SPEC §3):
// building subscribe/publish requests and reading what the server sends.
// Pure functions, no I/O; private to src/client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/client/topic_types.hpp"

namespace sluice::client::detail {

/// {"op":"subscribe","id":ID,"topic":PATTERN[,"since":{"topics":{...},"time":MS,"fallback":"..."}]}
std::string subscribe_request(std::uint64_t id, std::string_view pattern, const std::optional<Since>& since,
                              Fallback fallback);
/// {"op":"unsubscribe","id":ID,"topic":PATTERN}
std::string unsubscribe_request(std::uint64_t id, std::string_view pattern);
/// {"op":"publish","id":ID,"topic":T,"data":DATA[,"type":..][,"key":..],"idempotencyKey":K}
/// `data_json` is already serialized JSON.
std::string publish_request(std::uint64_t id, std::string_view topic, std::string_view data_json,
                            const PublishOptions& options);

/// One message from the server, as far as the topic layer cares.
struct ServerMessage {
  enum class Kind : std::uint8_t { event, ack, error, gap, unsubscribed, other, invalid };
  Kind kind = Kind::other;
  std::optional<std::uint64_t> id;  ///< ack/error: our request id (when it is one of ours)
  std::string op;                   ///< ack: "subscribe", "publish", ...
  TopicEvent event;                 ///< event
  // ack of subscribe
  bool recovered = true;
  std::uint64_t replayed = 0;
  // ack of publish (event.id/topic/offset/epoch carry the rest)
  bool duplicate = false;
  // error / unsubscribed
  std::string code;
  std::string message;
  std::string topic;                ///< unsubscribed: the pattern
  std::uint64_t dropped = 0;        ///< gap
};

/// Parses one text message; Kind::invalid (with `message`) when it is not
/// JSON or lacks what its type needs. Stream connections (`connected`) and
/// anything unknown come back as Kind::other.
ServerMessage parse_server_message(std::string_view text);
/// The same into `m`, reusing its strings' storage (one per thread, for every event).
void parse_server_message(std::string_view text, ServerMessage& m);

}  // namespace sluice::client::detail
