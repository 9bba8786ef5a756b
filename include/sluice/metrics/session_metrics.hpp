// What the WebSocket sessions (/v1/ws, streams, Centrifugo's protocol)
// count for /metrics: events handed to subscribers, events dropped under the
// drop policy, gap markers, and the refusals they decide after the upgrade.
#pragma once

#include <string_view>

#include "sluice/metrics/registry.hpp"

namespace sluice::metrics {

/// Series the sessions of one server update on their loops (relaxed adds on
/// the loop's shard, no lock). Every pointer is set; the struct outlives the
/// sessions. Thread-safe.
struct SessionMetrics {
  Counter* deliveries = nullptr;       ///< events queued on a subscriber's connection
  Counter* dropped = nullptr;          ///< events a subscriber did not get (drop policy), each once per subscriber
  Counter* gap_markers = nullptr;      ///< gap markers sent
  Counter* rejected_limits = nullptr;  ///< connections refused after the upgrade by a per-IP limit
  Counter* rejected_auth = nullptr;    ///< connections refused after the upgrade for their credential
  Counter* auth_forbidden = nullptr;   ///< subscribes and publishes a grant did not allow
};

}  // namespace sluice::metrics
