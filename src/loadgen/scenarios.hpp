// The three load scenarios. Each returns a process exit code: 0 after
// printing its RESULT line, 1 when the run failed (the reason on stderr).
#pragma once

#include "options.hpp"

namespace sluice::bench {

/// N subscribers and one publisher; deliveries/s and publish->deliver latency.
int run_fanout(const Options& options);
/// N connections, one message each in flight; echoed messages/s and round-trip latency.
int run_echo(const Options& options);
/// Opens N connections, prints "READY open=N", holds them until stdin closes.
int run_idle(const Options& options);

}  // namespace sluice::bench
