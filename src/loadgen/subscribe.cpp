#include "subscribe.hpp"

#include "sluice/util/json_text.hpp"

namespace sluice::bench {

std::string subscribe_request(Protocol protocol, std::string_view topic) {
  if (protocol == Protocol::sluice) return "{\"op\":\"subscribe\",\"id\":1,\"topic\":" + util::quoted(topic) + "}";
  if (protocol == Protocol::centrifugo) {
    return "{\"id\":1,\"connect\":{}}\n{\"id\":2,\"subscribe\":{\"channel\":" + util::quoted(topic) + "}}";
  }
  return {};
}

SubscribeReply read_subscribe_reply(Protocol protocol, std::string_view frame, std::string_view& refusal) {
  if (protocol == Protocol::sluice) {
    if (frame.starts_with("{\"type\":\"ack\"") && frame.find("\"op\":\"subscribe\"") != std::string_view::npos) {
      return SubscribeReply::acked;
    }
    if (!frame.starts_with("{\"type\":\"error\"")) return SubscribeReply::other;  // an event published meanwhile
    refusal = frame.substr(0, 200);
    return SubscribeReply::refused;
  }
  // Centrifugo: replies one per line; the one with "subscribe" completes it.
  while (!frame.empty()) {
    const std::size_t end = frame.find('\n');
    const std::string_view line = frame.substr(0, end);
    frame = end == std::string_view::npos ? std::string_view() : frame.substr(end + 1);
    if (!line.starts_with("{\"id\":")) continue;
    if (line.find("\"error\"") != std::string_view::npos) {
      refusal = line.substr(0, 200);
      return SubscribeReply::refused;
    }
    if (line.find("\"subscribe\":") != std::string_view::npos) return SubscribeReply::acked;
  }
  return SubscribeReply::other;
}

}  // namespace sluice::bench
