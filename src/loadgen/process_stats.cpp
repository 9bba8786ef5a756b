#include "process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice::bench {

namespace {
double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }
}  // namespace

CpuTime cpu_time(const rusage& usage) { return {seconds(usage.ru_utime), seconds(usage.ru_stime)}; }

CpuTime self_cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return cpu_time(usage);
}

std::optional<CpuTime> process_cpu_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may hold spaces: fields are counted after its ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return CpuTime{static_cast<double>(utime) / tick, static_cast<double>(stime) / tick};
}

std::optional<double> process_run_queue_wait(pid_t pid) {
  const std::string tasks = "/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/task";
  std::error_code ec;
  double total = 0;
  bool any = false;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "schedstat");
    unsigned long long running_ns = 0, waiting_ns = 0;
    if (in >> running_ns >> waiting_ns) {
      total += static_cast<double>(waiting_ns) / 1e9;
      any = true;
    }
  }
  if (ec || !any) return std::nullopt;
  return total;
}

std::optional<ThreadSchedTime> thread_sched_time(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  unsigned long long running_ns = 0, waiting_ns = 0;
  if (!(in >> running_ns >> waiting_ns)) return std::nullopt;
  return ThreadSchedTime{static_cast<double>(running_ns) / 1e9, static_cast<double>(waiting_ns) / 1e9};
}

std::optional<long> process_status_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::string name(field);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0) return std::stol(line.substr(name.size()));
  }
  return std::nullopt;
}

std::optional<long> process_rss_kib(pid_t pid) { return process_status_kib(pid, "VmRSS:"); }

}  // namespace sluice::bench
