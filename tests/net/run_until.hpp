// One io_context run on the test thread until a condition holds, with a time
// bound: how the transport tests wait, with no sleeps. Not thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace sluice::test {

/// Runs `io` until `done()` holds, `io` runs out of work, or `bound` passes; returns done().
template <class Done>
bool run_until(boost::asio::io_context& io, Done done,
               std::chrono::steady_clock::duration bound = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    if (io.run_one_until(deadline) == 0 && io.stopped()) break;  // out of work
  }
  return done();
}

}  // namespace sluice::test
