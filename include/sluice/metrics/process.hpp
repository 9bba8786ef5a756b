// The standard process metrics of Prometheus' client libraries
// (process_resident_memory_bytes, process_cpu_seconds_total,
// process_open_fds, process_max_fds, process_start_time_seconds), read from
// /proc and getrusage at each scrape.
#pragma once

#include "sluice/metrics/registry.hpp"

namespace sluice::metrics {

/// Registers the process metrics in `registry`; the start time is now.
/// Thread-safe (as Registry::callback).
void register_process_metrics(Registry& registry);

}  // namespace sluice::metrics
