// CPU time and memory of this process and of another one (the server under
// test), read from getrusage and /proc. Linux only.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>

namespace sluice::bench {

/// User + system CPU seconds.
struct CpuTime {
  double user = 0;
  double system = 0;
  double total() const noexcept { return user + system; }
};

/// This process (all threads), from getrusage(RUSAGE_SELF).
CpuTime self_cpu_time();

/// What a getrusage() or wait4() answer says.
CpuTime cpu_time(const rusage& usage);

/// Another process (all threads), from /proc/PID/stat; nullopt if unreadable.
std::optional<CpuTime> process_cpu_time(pid_t pid);

/// Seconds a process's threads (all of them) spent runnable but waiting for a
/// CPU, from /proc/PID/task/*/schedstat: how much other load on the machine
/// held it back. pid 0: this process. nullopt if unreadable.
std::optional<double> process_run_queue_wait(pid_t pid);

/// One thread's time on a CPU and time runnable but waiting for one, in
/// seconds, from /proc/self/task/TID/schedstat. tid: a thread of this
/// process (gettid()). nullopt if unreadable (the thread ended).
struct ThreadSchedTime {
  double running = 0;
  double waiting = 0;
};
std::optional<ThreadSchedTime> thread_sched_time(pid_t tid);

/// A "Name:" line of /proc/PID/status in KiB ("VmRSS:", "VmHWM:"); nullopt if unreadable.
std::optional<long> process_status_kib(pid_t pid, const char* field);

/// VmRSS of a process in KiB, from /proc/PID/status; nullopt if unreadable.
std::optional<long> process_rss_kib(pid_t pid);

}  // namespace sluice::bench
