// Text as the byte spans the WebSocket layers take (payloads, frames).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace sluice {

/// The bytes of `text`, valid as long as the text is. Pure.
inline std::span<const std::uint8_t> bytes_of(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace sluice
