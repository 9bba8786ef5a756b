#include "report.hpp"

#include <cstdio>

namespace sluice::bench {

void MeasuredWindow::start(std::uint64_t now_ns) {
  start_ns_ = now_ns;
  self_start_ = self_cpu_time();
  self_wait_start_ = process_run_queue_wait(0);
  if (server_pid_ > 0) {
    server_start_ = process_cpu_time(server_pid_);
    server_wait_start_ = process_run_queue_wait(server_pid_);
  }
}

void MeasuredWindow::stop(std::uint64_t now_ns) {
  stop_ns_ = now_ns;
  self_stop_ = self_cpu_time();
  self_wait_stop_ = process_run_queue_wait(0);
  if (server_pid_ > 0) {
    server_stop_ = process_cpu_time(server_pid_);
    server_wait_stop_ = process_run_queue_wait(server_pid_);
  }
}

double MeasuredWindow::loadgen_cpu_percent() const noexcept {
  const double wall = seconds();
  return wall > 0 ? 100.0 * (self_stop_.total() - self_start_.total()) / wall : 0;
}

std::optional<double> MeasuredWindow::server_cpu_percent() const noexcept {
  const double wall = seconds();
  if (!server_start_ || !server_stop_ || wall <= 0) return std::nullopt;
  return 100.0 * (server_stop_->total() - server_start_->total()) / wall;
}

namespace {
std::optional<double> percent_of(const std::optional<double>& start, const std::optional<double>& stop, double wall) {
  if (!start || !stop || wall <= 0) return std::nullopt;
  return 100.0 * (*stop - *start) / wall;
}
}  // namespace

std::optional<double> MeasuredWindow::loadgen_wait_percent() const noexcept {
  return percent_of(self_wait_start_, self_wait_stop_, seconds());
}

std::optional<double> MeasuredWindow::server_wait_percent() const noexcept {
  return percent_of(server_wait_start_, server_wait_stop_, seconds());
}

ResultLine::ResultLine(const Options& o) {
  add("mode", o.mode);
  add("protocol", o.protocol == Protocol::sluice ? "sluice" : "broadcast");
  if (!o.label.empty()) add("label", o.label);
  add("connections", static_cast<std::uint64_t>(o.connections));
  add("payload", static_cast<std::uint64_t>(o.payload));
}

ResultLine& ResultLine::add(const std::string& key, const std::string& value) {
  fields_.emplace_back(key, value);
  return *this;
}

ResultLine& ResultLine::add(const std::string& key, double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return add(key, std::string(text));
}

ResultLine& ResultLine::add(const std::string& key, std::uint64_t value) { return add(key, std::to_string(value)); }

ResultLine& ResultLine::add(const MeasuredWindow& w) {
  add("window_s", w.seconds(), 2);
  add("loadgen_cpu_pct", w.loadgen_cpu_percent());
  if (auto wait = w.loadgen_wait_percent()) add("loadgen_wait_pct", *wait);
  if (auto server = w.server_cpu_percent()) add("server_cpu_pct", *server);
  if (auto wait = w.server_wait_percent()) add("server_wait_pct", *wait);
  return *this;
}

void ResultLine::print() const {
  std::string line = "RESULT";
  for (const auto& [key, value] : fields_) line += " " + key + "=" + value;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace sluice::bench
