// What the WebSocket connections of one server count for /metrics: messages
// and wire bytes each way, the close code each one sent, slow-consumer
// closes, invalid upgrade requests and the bytes waiting in send queues.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "sluice/metrics/registry.hpp"

namespace sluice::net {

/// Series a server's connections update on their loops: relaxed atomic adds
/// on the loop's own shard, no lock. Every pointer is set. The struct and
/// its series must outlive every connection of the listener
/// (ServerConnectionConfig::metrics).
struct ConnectionMetrics {
  metrics::Counter* messages_received = nullptr;  ///< whole data messages from peers
  metrics::Counter* messages_sent = nullptr;      ///< data messages queued (a joined run counts each event)
  metrics::Counter* bytes_received = nullptr;     ///< wire bytes read after the upgrade
  metrics::Counter* bytes_sent = nullptr;         ///< wire bytes written after the upgrade
  metrics::Counter* slow_consumer_closes = nullptr;
  metrics::Counter* invalid_upgrades = nullptr;  ///< upgrade requests the handshake refused (bad headers)
  metrics::Gauge* send_queue_bytes = nullptr;    ///< bytes queued, summed over connections
  /// A WebSocket connection opened (handshake done); `target` is its upgrade
  /// request's path and query. Returns a route number the connection keeps
  /// (a byte, not the target: idle memory) and gives back to `closed`. On
  /// the connection's loop; must be thread-safe and quick.
  std::function<std::uint8_t(std::string_view target)> opened;
  /// That connection ended; `route` is what `opened` returned and `code` the
  /// close code it sent (1006 when it sent no close frame). Same thread rules.
  std::function<void(std::uint8_t route, std::uint16_t code)> closed;
};

}  // namespace sluice::net
