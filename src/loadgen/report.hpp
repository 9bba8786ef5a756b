// The measured window of a run (wall time, this process's CPU, the server's
// CPU), the result every scenario prints (Options::output: one machine-readable
// line, a table, JSON or CSV):
//
//   RESULT mode=fanout protocol=sluice connections=1000 rate=4.1e6 ... loadgen_cpu_pct=97
//
// and the live progress line. Thread safety: none; one run, one thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "options.hpp"
#include "process_stats.hpp"

namespace sluice::bench {

class MeasuredWindow {
 public:
  explicit MeasuredWindow(pid_t server_pid) : server_pid_(server_pid) {}

  /// The load threads of a run with several (their tids, gettid()), each
  /// measured over the window too. Call before start().
  void track_threads(std::vector<pid_t> tids) { tids_ = std::move(tids); }

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
  /// Of the tracked load threads, the busiest (CPU + waiting for a core):
  /// its CPU and its waiting, each in % of the window. nullopt unless 2+ were tracked.
  struct ThreadLoad {
    double cpu_percent = 0, wait_percent = 0;
  };
  std::optional<ThreadLoad> busiest_thread() const;

 private:
  pid_t server_pid_;
  std::uint64_t start_ns_ = 0, stop_ns_ = 0;
  CpuTime self_start_, self_stop_;
  std::optional<CpuTime> server_start_, server_stop_;
  std::optional<double> self_wait_start_, self_wait_stop_, server_wait_start_, server_wait_stop_;
  std::vector<pid_t> tids_;
  std::vector<std::optional<ThreadSchedTime>> threads_start_, threads_stop_;
};

/// Key/value pairs printed on stdout in the run's output format. A load
/// client busy (CPU + time waiting for a core) above kBusyPercent of the
/// window is warned about on stderr: it, not the server, may then be what
/// limits the figure. With --threads N > 1 the warning looks at the busiest
/// load thread (N threads may share cores with each other and with the server).
class ResultLine {
 public:
  static constexpr double kBusyPercent = 90;

  explicit ResultLine(const Options& options);
  ResultLine& add(const std::string& key, const std::string& value);
  ResultLine& add(const std::string& key, double value, int decimals = 1);
  ResultLine& add(const std::string& key, std::uint64_t value);
  /// Adds the window's duration and CPU figures.
  ResultLine& add(const MeasuredWindow& window);
  void print() const;

 private:
  struct Field {
    std::string key, value;
    bool number = false;
  };
  const std::string* value_of(std::string_view key) const;  ///< null when not added
  void warn_if_load_client_bound() const;
  void print_table() const;
  void print_json() const;
  void print_csv() const;

  Output output_;
  std::string mode_;
  std::size_t threads_;
  std::vector<Field> fields_;
};

/// A live line on stderr, rewritten at most once a second while a run goes
/// on: phase, elapsed time, rate of `count` over the last second, errors.
/// Does nothing unless enabled.
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::string unit) : enabled_(enabled), unit_(std::move(unit)) {}
  ~ProgressLine() { finish(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void update(std::uint64_t now_ns, const char* phase, std::uint64_t count, std::uint64_t errors = 0);
  /// Ends the line (a newline) if anything was printed.
  void finish();

 private:
  bool enabled_;
  std::string unit_;
  std::uint64_t started_ns_ = 0, last_ns_ = 0, last_count_ = 0;
  bool printed_ = false;
};

}  // namespace sluice::bench
