// Which side of a WebSocket connection an endpoint plays; it decides the masking rules.
#pragma once

#include <cstdint>

namespace sluice::protocol {

/// Servers send unmasked frames and require masked ones; clients do the opposite.
enum class Role : std::uint8_t { server, client };

}  // namespace sluice::protocol
