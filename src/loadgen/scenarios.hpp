// The load scenarios. Each returns a process exit code: 0 after printing its
// result, 1 when the run failed or saw an error it reports (the reason on stderr).
#pragma once

#include "options.hpp"

namespace sluice::bench {

/// N subscribers and one publisher; deliveries/s and publish->deliver latency.
int run_fanout(const Options& options);
/// N connections, one message each in flight; echoed messages/s and round-trip latency.
int run_echo(const Options& options);
/// Opens N connections, prints "READY open=N", holds them until stdin closes.
int run_idle(const Options& options);
/// N keep-alive HTTP connections publishing; 2xx answers/s, latency, non-2xx by status.
int run_publish(const Options& options);
/// N workers each repeating connect, subscribe (until acked), close; cycles/s and cycle time.
int run_churn(const Options& options);
/// N subscribers and a publisher at --rate; every subscriber cut at once and
/// resumed from its last offset; time until all are back, events lost and duplicated.
int run_storm(const Options& options);

}  // namespace sluice::bench
