#include "sluice/centrifugo/channel.hpp"

#include "sluice/topic/topic.hpp"

namespace sluice::centrifugo {

namespace {

// The bytes a topic token takes as they are (broker/topic.cpp), less '%',
// which starts an escape here.
bool kept_as_is(char c) noexcept {
  return c > ' ' && c < 0x7F && c != '.' && c != '*' && c != '>' && c != '%';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> channel_to_topic(std::string_view channel, std::string& why) {
  if (channel.empty()) {
    why = "channel is empty";
    return std::nullopt;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string topic;
  topic.reserve(channel.size());
  for (std::size_t i = 0; i < channel.size(); ++i) {
    const char c = channel[i];
    // A dot separates tokens unless it would leave an empty one.
    const bool separator = c == '.' && i > 0 && i + 1 < channel.size() && channel[i - 1] != '.';
    if (kept_as_is(c) || separator) {
      topic += c;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    topic += '%';
    topic += kHex[byte >> 4];
    topic += kHex[byte & 0xF];
  }
  if (auto error = topic::topic_error(topic); !error.empty()) {
    why = "channel " + error.substr(error.find(' ') + 1) + " (as the topic " + topic.substr(0, 64) +
          (topic.size() > 64 ? "...)" : ")");
    return std::nullopt;
  }
  return topic;
}

std::string topic_to_channel(std::string_view topic) {
  if (topic.find('%') == std::string_view::npos) return std::string(topic);
  std::string channel;
  channel.reserve(topic.size());
  for (std::size_t i = 0; i < topic.size(); ++i) {
    if (topic[i] == '%' && i + 2 < topic.size() && hex_value(topic[i + 1]) >= 0 && hex_value(topic[i + 2]) >= 0) {
      channel += static_cast<char>(hex_value(topic[i + 1]) * 16 + hex_value(topic[i + 2]));
      i += 2;
      continue;
    }
    channel += topic[i];
  }
  return channel;
}

}  // namespace sluice::centrifugo
