#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "sluice/util/json_text.hpp"

namespace sluice::bench {

namespace {
std::vector<std::optional<ThreadSchedTime>> sched_times(const std::vector<pid_t>& tids) {
  std::vector<std::optional<ThreadSchedTime>> times;
  times.reserve(tids.size());
  for (const pid_t tid : tids) times.push_back(thread_sched_time(tid));
  return times;
}
}  // namespace

void MeasuredWindow::start(std::uint64_t now_ns) {
  start_ns_ = now_ns;
  threads_start_ = sched_times(tids_);
  self_start_ = self_cpu_time();
  self_wait_start_ = process_run_queue_wait(0);
  if (server_pid_ > 0) {
    server_start_ = process_cpu_time(server_pid_);
    server_wait_start_ = process_run_queue_wait(server_pid_);
  }
}

void MeasuredWindow::stop(std::uint64_t now_ns) {
  stop_ns_ = now_ns;
  threads_stop_ = sched_times(tids_);
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

std::optional<MeasuredWindow::ThreadLoad> MeasuredWindow::busiest_thread() const {
  const double wall = seconds();
  if (tids_.size() < 2 || threads_start_.size() != tids_.size() || threads_stop_.size() != tids_.size() || wall <= 0) {
    return std::nullopt;
  }
  std::optional<ThreadLoad> busiest;
  for (std::size_t i = 0; i < tids_.size(); ++i) {
    if (!threads_start_[i] || !threads_stop_[i]) continue;
    const ThreadLoad load{100.0 * (threads_stop_[i]->running - threads_start_[i]->running) / wall,
                          100.0 * (threads_stop_[i]->waiting - threads_start_[i]->waiting) / wall};
    if (!busiest || load.cpu_percent + load.wait_percent > busiest->cpu_percent + busiest->wait_percent) {
      busiest = load;
    }
  }
  return busiest;
}

ResultLine::ResultLine(const Options& o) : output_(o.output), mode_(o.mode), threads_(o.threads ? o.threads : 1) {
  add("mode", o.mode);
  add("protocol", o.protocol == Protocol::sluice       ? "sluice"
                  : o.protocol == Protocol::centrifugo ? "centrifugo"
                                                       : "broadcast");
  if (!o.label.empty()) add("label", o.label);
  add("connections", static_cast<std::uint64_t>(o.connections));
  if (threads_ > 1) add("threads", static_cast<std::uint64_t>(threads_));
  add("payload", static_cast<std::uint64_t>(o.payload));
}

ResultLine& ResultLine::add(const std::string& key, const std::string& value) {
  fields_.push_back({key, value, false});
  return *this;
}

ResultLine& ResultLine::add(const std::string& key, double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  fields_.push_back({key, text, true});
  return *this;
}

ResultLine& ResultLine::add(const std::string& key, std::uint64_t value) {
  fields_.push_back({key, std::to_string(value), true});
  return *this;
}

ResultLine& ResultLine::add(const MeasuredWindow& w) {
  add("window_s", w.seconds(), 2);
  add("loadgen_cpu_pct", w.loadgen_cpu_percent());
  if (auto wait = w.loadgen_wait_percent()) add("loadgen_wait_pct", *wait);
  if (auto busiest = w.busiest_thread()) {
    add("loadgen_busiest_thread_cpu_pct", busiest->cpu_percent);
    add("loadgen_busiest_thread_wait_pct", busiest->wait_percent);
  }
  if (auto server = w.server_cpu_percent()) add("server_cpu_pct", *server);
  if (auto wait = w.server_wait_percent()) add("server_wait_pct", *wait);
  return *this;
}

const std::string* ResultLine::value_of(std::string_view key) const {
  for (const Field& f : fields_) {
    if (f.key == key) return &f.value;
  }
  return nullptr;
}

void ResultLine::warn_if_load_client_bound() const {
  const std::string* cpu = value_of("loadgen_cpu_pct");
  if (!cpu) return;
  // A load thread never idle (running, or runnable and waiting for a core) is saturated:
  // the server had to wait for it, not it for the server.
  const bool several = threads_ > 1 && value_of("loadgen_busiest_thread_cpu_pct");
  const std::string* thread_cpu = several ? value_of("loadgen_busiest_thread_cpu_pct") : cpu;
  const std::string* thread_wait = several ? value_of("loadgen_busiest_thread_wait_pct") : value_of("loadgen_wait_pct");
  const double busy = std::strtod(thread_cpu->c_str(), nullptr) +
                      (thread_wait ? std::strtod(thread_wait->c_str(), nullptr) : 0.0);
  // Without per-thread figures, N threads' sum against N cores.
  if (busy <= kBusyPercent * static_cast<double>(several ? 1 : threads_)) return;
  const std::string wait_text = thread_wait ? " + waiting for a core " + *thread_wait + "%" : std::string();
  if (several) {
    std::fprintf(stderr,
                 "warning: the busiest of the %zu load threads was busy %.0f%% of the window (CPU %s%%%s; all "
                 "threads: %s%% of one core): the load client, not the server, may be the limit (the figure is "
                 "then a lower bound)\n",
                 threads_, busy, thread_cpu->c_str(), wait_text.c_str(), cpu->c_str());
  } else {
    std::fprintf(stderr,
                 "warning: the load client was busy %.0f%% of the window (CPU %s%%%s): it, not the server, may be "
                 "the limit (the figure is then a lower bound; --threads N spreads the load)\n",
                 busy, cpu->c_str(), wait_text.c_str());
  }
}

void ResultLine::print() const {
  warn_if_load_client_bound();
  switch (output_) {
    case Output::result_line: {
      std::string line = "RESULT";
      for (const Field& f : fields_) line += " " + f.key + "=" + f.value;
      std::printf("%s\n", line.c_str());
      break;
    }
    case Output::table: print_table(); break;
    case Output::json: print_table(); print_json(); break;
    case Output::csv: print_csv(); break;
  }
  std::fflush(stdout);
}

void ResultLine::print_table() const {
  std::size_t width = 0;
  for (const Field& f : fields_) width = std::max(width, f.key.size());
  for (const Field& f : fields_) {
    // The unit of the CPU figures, which JSON and CSV keep in the docs (%-of-one-core values add up over threads).
    const char* unit = "";
    if (threads_ > 1 && (f.key == "loadgen_cpu_pct" || f.key == "loadgen_wait_pct")) {
      unit = "  (% of one core, all threads)";
    }
    if (f.key == "loadgen_busiest_thread_cpu_pct" || f.key == "loadgen_busiest_thread_wait_pct") unit = "  (% of one core)";
    std::printf("  %-*s  %s%s\n", static_cast<int>(width), f.key.c_str(), f.value.c_str(), unit);
  }
}

void ResultLine::print_json() const {
  std::string line = "{";
  for (const Field& f : fields_) {
    if (line.size() > 1) line += ',';
    line += util::quoted(f.key) + ':' + (f.number ? f.value : util::quoted(f.value));
  }
  std::printf("%s}\n", line.c_str());
}

void ResultLine::print_csv() const {
  std::string header, row;
  for (const Field& f : fields_) {
    if (!header.empty()) header += ',', row += ',';
    header += f.key;
    row += f.value;  // keys and values never hold commas or quotes
  }
  std::printf("%s\n%s\n", header.c_str(), row.c_str());
}

void ProgressLine::update(std::uint64_t now_ns, const char* phase, std::uint64_t count, std::uint64_t errors) {
  if (!enabled_) return;
  if (started_ns_ == 0) {
    started_ns_ = last_ns_ = now_ns;
    last_count_ = count;
    return;
  }
  if (now_ns - last_ns_ < 1'000'000'000) return;
  const double rate = static_cast<double>(count - last_count_) * 1e9 / static_cast<double>(now_ns - last_ns_);
  std::fprintf(stderr, "\r%-10s %6.1f s  %12.0f %s/s  errors %llu   ", phase,
               static_cast<double>(now_ns - started_ns_) / 1e9, rate, unit_.c_str(),
               static_cast<unsigned long long>(errors));
  std::fflush(stderr);
  printed_ = true;
  last_ns_ = now_ns;
  last_count_ = count;
}

void ProgressLine::finish() {
  if (printed_) std::fputc('\n', stderr);
  printed_ = false;
}

}  // namespace sluice::bench
