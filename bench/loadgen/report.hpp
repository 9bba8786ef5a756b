// The measured window of a run (wall time, this process's CPU, the server's
// CPU) and the one-line machine-readable result every scenario prints:
//
//   RESULT mode=fanout protocol=sluice connections=1000 rate=4.1e6 ... loadgen_cpu_pct=97
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "options.hpp"
#include "process_stats.hpp"

namespace sluice::bench {

class MeasuredWindow {
 public:
  explicit MeasuredWindow(pid_t server_pid) : server_pid_(server_pid) {}

  void start(std::uint64_t now_ns);
  void stop(std::uint64_t now_ns);
  double seconds() const noexcept { return static_cast<double>(stop_ns_ - start_ns_) / 1e9; }
  /// CPU used over the window, in % of one core (100 = one core busy all the time).
  double loadgen_cpu_percent() const noexcept;
  std::optional<double> server_cpu_percent() const noexcept;
  /// Time spent runnable but not running (other load on the machine), in %
  /// of the window: CPU % + wait % near 100 means "busy, and held back".
  std::optional<double> loadgen_wait_percent() const noexcept;
  std::optional<double> server_wait_percent() const noexcept;

 private:
  pid_t server_pid_;
  std::uint64_t start_ns_ = 0, stop_ns_ = 0;
  CpuTime self_start_, self_stop_;
  std::optional<CpuTime> server_start_, server_stop_;
  std::optional<double> self_wait_start_, self_wait_stop_, server_wait_start_, server_wait_stop_;
};

/// Key/value pairs printed as one "RESULT k=v ..." line on stdout.
class ResultLine {
 public:
  explicit ResultLine(const Options& options);
  ResultLine& add(const std::string& key, const std::string& value);
  ResultLine& add(const std::string& key, double value, int decimals = 1);
  ResultLine& add(const std::string& key, std::uint64_t value);
  /// Adds the window's duration and CPU figures.
  ResultLine& add(const MeasuredWindow& window);
  void print() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace sluice::bench
