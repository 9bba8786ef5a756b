// Reconnect storm (issue 5): N TopicClients subscribed to one topic on a
// durable `sluice serve` (sqlite, one event loop); the server is restarted on
// the same port and data directory, and every client must come back,
// resubscribe, and see every event exactly once and in order.
//
//   1. start the server, fork W worker processes (before any thread exists),
//      each running N/W clients subscribed to --topic;
//   2. a publisher (a TopicClient in this process) publishes M numbered events
//      ({"n": 1..M}, acknowledged); every client must receive them;
//   3. SIGTERM the server, wait for it, start it again on the same port and
//      data directory, publish M more (M+1..2M, acknowledged);
//   4. measure from the new server listening until every client reported
//      `resubscribed`, and until every client has received all 2M events;
//      check that each client saw 1..2M exactly once, in order.
//
// Why worker processes: each TopicClient owns one thread and ~4 file
// descriptors (epoll, eventfd, timerfd, socket); one process may hold at most
// RLIMIT_NOFILE (20,000 here) files. Workers report over a pipe, one line per
// message. Everything is on loopback and bounded by --timeout; child
// processes and the temporary directory are removed on every exit path.
#include <CLI/CLI.hpp>

#include <boost/json.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process_stats.hpp"
#include "sluice/client/topic_client.hpp"

extern char** environ;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// steady_clock is CLOCK_MONOTONIC on Linux: the same clock in every process,
// so workers report plain nanosecond timestamps.
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}
double seconds_between(std::int64_t from_ns, std::int64_t to_ns) { return static_cast<double>(to_ns - from_ns) / 1e9; }

namespace stats = sluice::bench;

double process_cpu_seconds() { return stats::self_cpu_time().total(); }

/// utime + stime of a live process (-1 if unreadable).
double proc_cpu_seconds(pid_t pid) { return stats::process_cpu_time(pid).value_or(stats::CpuTime{-1, 0}).total(); }

/// A "VmHWM:" style field of /proc/PID/status, in KiB (-1 if unreadable).
long proc_status_kib(pid_t pid, const char* field) { return stats::process_status_kib(pid, field).value_or(-1); }

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

/// A TcpExt counter of /proc/net/netstat (system-wide; -1 if unreadable).
long long tcp_ext_counter(const std::string& name) {
  std::ifstream in("/proc/net/netstat");
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string key, value;
    while (n >> key && v >> value) {
      if (key == name) return std::stoll(value);
    }
  }
  return -1;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, fmt);
  const int n = std::vsnprintf(buffer, sizeof buffer, fmt, args);
  va_end(args);
  return std::string(buffer, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buffer) - 1)));
}

/// Error messages with digits replaced by '#', so "refused by 127.0.0.1:4123" groups.
std::string error_kind(std::string_view message) {
  std::string out;
  for (char c : message.substr(0, 160)) {
    if (c >= '0' && c <= '9') {
      if (out.empty() || out.back() != '#') out += '#';
    } else {
      out += (c == '\n' || c == '\t') ? ' ' : c;
    }
  }
  return out;
}

sluice::client::TopicClientOptions client_options(double backoff_min_s, double backoff_max_s) {
  sluice::client::TopicClientOptions o;
  o.client.reconnect.backoff.floor = std::chrono::milliseconds(static_cast<long>(backoff_min_s * 1000));
  o.client.reconnect.backoff.max = std::chrono::milliseconds(static_cast<long>(backoff_max_s * 1000));
  o.client.proxy.use_environment = false;
  return o;
}

// ---------------------------------------------------------------------------
// Worker: `clients` TopicClients in one process, reporting lines on `up_fd`.
// ---------------------------------------------------------------------------

struct WorkerConfig {
  int index = 0;
  int clients = 0;
  std::uint64_t events = 0;  // per phase: the clients expect 1..2*events
  std::string url;
  std::string topic;
  double backoff_min_s = 0.1, backoff_max_s = 2.0;
  int close_threads = 8;
};

struct ClientState {
  std::atomic<std::uint64_t> next{1};  // the next n expected
  std::atomic<bool> subscribed{false};
  std::atomic<std::int64_t> resubscribed_ns{0};  // first resubscribe
  std::atomic<std::int64_t> complete_ns{0};      // got n == 2M
  std::atomic<std::uint32_t> reconnects{0};
  std::atomic<std::uint32_t> resubscribes{0};
  std::atomic<std::uint32_t> violations{0};
};

int run_worker(const WorkerConfig& cfg, int up_fd, int down_fd) {
  // Raise the open-file limit to the hard limit: ~4 files per client.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const std::uint64_t total = 2 * cfg.events;
  std::vector<ClientState> states(static_cast<std::size_t>(cfg.clients));
  std::atomic<int> n_subscribed{0}, n_phase1{0}, n_resubscribed{0}, n_complete{0};
  std::atomic<std::int64_t> t_subscribed{0}, t_phase1{0}, t_resubscribed{0}, t_complete{0};
  std::atomic<std::uint64_t> reconnects{0}, errors{0}, violations{0}, unrecovered{0}, failed{0}, gaps{0}, ended{0};
  std::mutex mutex;  // guards the two below and wakes the main thread
  std::condition_variable cv;
  std::map<std::string, std::uint64_t> error_kinds;
  std::vector<std::string> violation_lines;
  const int n = cfg.clients;

  auto bump = [&](std::atomic<int>& count, std::atomic<std::int64_t>& at) {
    if (count.fetch_add(1) + 1 == n) {
      at = now_ns();
      std::lock_guard lock(mutex);
      cv.notify_all();
    }
  };
  auto violation = [&](int client, std::string what) {
    states[static_cast<std::size_t>(client)].violations.fetch_add(1);
    violations.fetch_add(1);
    std::lock_guard lock(mutex);
    if (violation_lines.size() < 20) violation_lines.push_back(format("worker %d client %d: ", cfg.index, client) + what);
  };

  std::vector<std::unique_ptr<sluice::TopicClient>> clients;
  clients.reserve(static_cast<std::size_t>(n));
  const auto options = client_options(cfg.backoff_min_s, cfg.backoff_max_s);
  std::string create_error;
  for (int i = 0; i < n; ++i) {
    ClientState& st = states[static_cast<std::size_t>(i)];
    std::unique_ptr<sluice::TopicClient> c;
    try {
      c = std::make_unique<sluice::TopicClient>(cfg.url, options);
    } catch (const std::exception& e) {  // e.g. out of threads or files
      create_error = format("worker %d: client %d could not be created: %s", cfg.index, i, e.what());
      break;
    }
    c->client().on_reconnecting([&st, &reconnects](std::uint32_t, std::chrono::milliseconds) {
      st.reconnects.fetch_add(1, std::memory_order_relaxed);
      reconnects.fetch_add(1, std::memory_order_relaxed);
    });
    c->client().on_error([&](const sluice::client::ErrorEvent& e) {
      errors.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(mutex);
      ++error_kinds[error_kind(e.message)];
    });
    sluice::client::SubscribeOptions so;
    so.on_status = [&, i](const sluice::client::SubscriptionStatus& s) {
      ClientState& cs = states[static_cast<std::size_t>(i)];
      using K = sluice::client::SubscriptionStatus::Kind;
      switch (s.kind) {
        case K::subscribed:
          if (!cs.subscribed.exchange(true)) bump(n_subscribed, t_subscribed);
          break;
        case K::resubscribed:
          cs.resubscribes.fetch_add(1);
          if (!s.recovered) {
            unrecovered.fetch_add(1);
            violation(i, "resubscribed with recovered=false: " + s.message);
          }
          if (cs.resubscribed_ns.load() == 0) {
            cs.resubscribed_ns = now_ns();
            bump(n_resubscribed, t_resubscribed);
          }
          break;
        case K::failed:
          failed.fetch_add(1);
          violation(i, "subscription failed: " + s.code + " " + s.message);
          break;
        case K::ended:
          ended.fetch_add(1);
          violation(i, "subscription ended: " + s.message);
          break;
        case K::gap:
          gaps.fetch_add(1);
          violation(i, format("gap of %llu events", static_cast<unsigned long long>(s.dropped)));
          break;
      }
    };
    const auto id = c->subscribe(
        cfg.topic,
        [&, i, total](const sluice::client::TopicEvent& e) {
          ClientState& cs = states[static_cast<std::size_t>(i)];
          std::uint64_t got = 0;
          if (const auto* obj = e.data.if_object()) {
            if (const auto* v = obj->if_contains("n"); v && v->is_int64() && v->get_int64() > 0) {
              got = static_cast<std::uint64_t>(v->get_int64());
            }
          }
          const std::uint64_t expected = cs.next.load(std::memory_order_relaxed);
          if (got == 0) {
            violation(i, "event without a number: " + e.json.substr(0, 200));
            return;
          }
          if (got < expected) {
            violation(i, format("duplicate or out of order: got %llu, expected %llu (offset %llu)",
                                static_cast<unsigned long long>(got), static_cast<unsigned long long>(expected),
                                static_cast<unsigned long long>(e.offset)));
            return;
          }
          if (got > expected) {
            violation(i, format("missed %llu..%llu (got %llu, offset %llu)", static_cast<unsigned long long>(expected),
                                static_cast<unsigned long long>(got - 1), static_cast<unsigned long long>(got),
                                static_cast<unsigned long long>(e.offset)));
          }
          cs.next.store(got + 1, std::memory_order_relaxed);
          if (expected <= cfg.events && got >= cfg.events) bump(n_phase1, t_phase1);
          if (got == total) {
            cs.complete_ns = now_ns();
            bump(n_complete, t_complete);
          }
        },
        so);
    if (id == 0) {
      create_error = "invalid topic pattern: " + cfg.topic;
      break;
    }
    c->connect();
    clients.push_back(std::move(c));
  }
  const int created = static_cast<int>(clients.size());
  if (!create_error.empty()) write_all(up_fd, "fatal " + create_error + "\n");

  // Report progress every second and each milestone once; then wait for the
  // parent to close our pipe (everyone finished) before closing the clients.
  const double cpu_start = process_cpu_seconds();
  double cpu_phase1 = -1;
  bool sent_ready = false, sent_phase1 = false, sent_resub = false, sent_done = false;
  auto last_progress = Clock::now() - 1h;
  while (create_error.empty()) {
    {
      std::unique_lock lock(mutex);
      cv.wait_for(lock, 100ms);
    }
    std::string out;
    if (!sent_ready && n_subscribed.load() == n) {
      sent_ready = true;
      out += format("ready %lld\n", static_cast<long long>(t_subscribed.load()));
    }
    if (!sent_phase1 && n_phase1.load() == n) {
      sent_phase1 = true;
      cpu_phase1 = process_cpu_seconds();
      out += format("phase1 %lld %.3f\n", static_cast<long long>(t_phase1.load()), cpu_phase1);
    }
    if (!sent_resub && n_resubscribed.load() == n) {
      sent_resub = true;
      out += format("resub %lld\n", static_cast<long long>(t_resubscribed.load()));
    }
    if (!sent_done && n_complete.load() == n) {
      sent_done = true;
      out += format("done %lld %.3f\n", static_cast<long long>(t_complete.load()), process_cpu_seconds());
    }
    if (Clock::now() - last_progress >= 1s || sent_done) {
      last_progress = Clock::now();
      out += format("progress subscribed=%d phase1=%d resubscribed=%d complete=%d reconnects=%llu errors=%llu "
                    "violations=%llu\n",
                    n_subscribed.load(), n_phase1.load(), n_resubscribed.load(), n_complete.load(),
                    static_cast<unsigned long long>(reconnects.load()), static_cast<unsigned long long>(errors.load()),
                    static_cast<unsigned long long>(violations.load()));
    }
    if (!out.empty() && !write_all(up_fd, out)) break;  // the parent is gone
    if (sent_done) break;
    // The parent closing our command pipe early means: give up.
    pollfd p{down_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) break;
  }

  // The final report: per-client worst cases, per-client times, error kinds.
  {
    std::uint32_t max_reconnects = 0, max_resubscribes = 0;
    int clients_with_violations = 0;
    std::string times = "times";
    for (int i = 0; i < created; ++i) {
      const ClientState& cs = states[static_cast<std::size_t>(i)];
      max_reconnects = std::max(max_reconnects, cs.reconnects.load());
      max_resubscribes = std::max(max_resubscribes, cs.resubscribes.load());
      if (cs.violations.load() > 0) ++clients_with_violations;
      times += format(" %lld,%lld", static_cast<long long>(cs.resubscribed_ns.load()),
                      static_cast<long long>(cs.complete_ns.load()));
    }
    std::string out = times + "\n";
    std::lock_guard lock(mutex);
    for (const auto& line : violation_lines) out += "violation " + line + "\n";
    for (const auto& [kind, count] : error_kinds) out += format("error %llu ", static_cast<unsigned long long>(count)) + kind + "\n";
    out += format("final created=%d reconnects=%llu max_reconnects=%u max_resubscribes=%u errors=%llu violations=%llu "
                  "clients_with_violations=%d unrecovered=%llu failed=%llu gaps=%llu ended=%llu cpu_start=%.3f "
                  "cpu_phase1=%.3f cpu_now=%.3f\n",
                  created, static_cast<unsigned long long>(reconnects.load()), max_reconnects, max_resubscribes,
                  static_cast<unsigned long long>(errors.load()), static_cast<unsigned long long>(violations.load()),
                  clients_with_violations, static_cast<unsigned long long>(unrecovered.load()),
                  static_cast<unsigned long long>(failed.load()), static_cast<unsigned long long>(gaps.load()),
                  static_cast<unsigned long long>(ended.load()), cpu_start, cpu_phase1, process_cpu_seconds());
    write_all(up_fd, out);
  }

  // Wait for the parent to say everyone is done (EOF on the command pipe).
  char sink[64];
  while (true) {
    const ssize_t r = ::read(down_fd, sink, sizeof sink);
    if (r == 0 || (r < 0 && errno != EINTR)) break;
  }
  // Close in parallel: each close() waits for its close handshake.
  std::vector<std::thread> closers;
  std::atomic<std::size_t> next{0};
  for (int t = 0; t < cfg.close_threads; ++t) {
    closers.emplace_back([&] {
      for (std::size_t i = next++; i < clients.size(); i = next++) clients[i]->close();
    });
  }
  for (auto& t : closers) t.join();
  clients.clear();
  write_all(up_fd, "end\n");
  return create_error.empty() ? 0 : 1;
}

// ---------------------------------------------------------------------------
// Parent: the server, the workers, the publisher.
// ---------------------------------------------------------------------------

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

struct Fail : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::uint16_t pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw Fail(std::string("cannot find a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct Server {
  std::string binary;
  std::vector<std::string> args;
  pid_t pid = -1;
  fs::path log;
  std::int64_t spawned_ns = 0, listening_ns = 0;
  rusage usage{};  // after reap()

  void start(const fs::path& log_path) {
    log = log_path;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    argv.push_back(binary.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    spawned_ns = now_ns();
    listening_ns = 0;
    const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid = -1;
      throw Fail("cannot start " + binary + ": " + std::strerror(rc));
    }
  }

  std::string log_tail() const {
    std::ifstream in(log);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    std::string out;
    for (std::size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i) out += "  | " + lines[i] + "\n";
    return out;
  }

  /// Polls the log for the "listening on" line (every millisecond).
  void wait_listening(Clock::time_point deadline) {
    while (true) {
      {
        std::ifstream in(log);
        std::string line;
        while (std::getline(in, line)) {
          if (line.find("listening on") != std::string::npos) {
            listening_ns = now_ns();
            return;
          }
        }
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        throw Fail("the server exited before listening (status " + std::to_string(status) + "); its log:\n" + log_tail());
      }
      if (Clock::now() > deadline || g_interrupted) throw Fail("the server did not start listening in time; its log:\n" + log_tail());
      std::this_thread::sleep_for(1ms);
    }
  }

  /// SIGTERM, then wait (SIGKILL after `grace`). Returns the seconds it took.
  double stop(std::chrono::milliseconds grace) {
    if (pid <= 0) return 0;
    const auto t0 = Clock::now();
    ::kill(pid, SIGTERM);
    const auto deadline = t0 + grace;
    while (true) {
      int status = 0;
      const pid_t r = ::wait4(pid, &status, WNOHANG, &usage);
      if (r == pid || r < 0) break;
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "storm: the server did not stop within %.1f s of SIGTERM; killing it\n",
                     std::chrono::duration<double>(grace).count());
        ::kill(pid, SIGKILL);
        ::wait4(pid, &status, 0, &usage);
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
    pid = -1;
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }
};

struct Worker {
  pid_t pid = -1;
  int up = -1;    // we read its lines
  int down = -1;  // closing it tells the worker to finish
  int clients = 0;
  std::string buffer;
  bool eof = false;
  // Milestones (CLOCK_MONOTONIC ns) and CPU.
  std::int64_t ready_ns = 0, phase1_ns = 0, resub_ns = 0, done_ns = 0;
  double cpu_phase1 = -1, cpu_done = -1;
  std::string progress, final_line, fatal;
  std::vector<std::string> violations;
  std::vector<std::pair<std::uint64_t, std::string>> errors;
  std::vector<std::int64_t> resub_times, complete_times;
  bool ended = false;
};

std::uint64_t field_u64(const std::string& line, const std::string& key) {
  const auto at = line.find(" " + key + "=");
  if (at == std::string::npos) return 0;
  return std::strtoull(line.c_str() + at + key.size() + 2, nullptr, 10);
}

void handle_line(Worker& w, const std::string& line) {
  std::istringstream in(line);
  std::string word;
  in >> word;
  if (word == "ready") {
    in >> w.ready_ns;
  } else if (word == "phase1") {
    in >> w.phase1_ns >> w.cpu_phase1;
  } else if (word == "resub") {
    in >> w.resub_ns;
  } else if (word == "done") {
    in >> w.done_ns >> w.cpu_done;
  } else if (word == "progress") {
    w.progress = line.substr(9);
  } else if (word == "final") {
    w.final_line = line;
  } else if (word == "violation") {
    w.violations.push_back(line.substr(10));
  } else if (word == "error") {
    std::uint64_t count = 0;
    in >> count;
    std::string rest;
    std::getline(in, rest);
    if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
    w.errors.emplace_back(count, rest);
  } else if (word == "times") {
    std::string pair;
    while (in >> pair) {
      const auto comma = pair.find(',');
      w.resub_times.push_back(std::strtoll(pair.c_str(), nullptr, 10));
      w.complete_times.push_back(std::strtoll(pair.c_str() + comma + 1, nullptr, 10));
    }
  } else if (word == "fatal") {
    w.fatal = line.substr(6);
  } else if (word == "end") {
    w.ended = true;
  }
}

/// Reads worker lines until `done()` holds; throws on the deadline, a signal,
/// a worker that died, or a fatal worker report.
template <class Pred>
void pump(std::vector<Worker>& workers, Clock::time_point deadline, const char* what, Pred done) {
  while (!done()) {
    if (g_interrupted) throw Fail(std::string("interrupted while waiting for ") + what);
    if (Clock::now() > deadline) throw Fail(std::string("timed out waiting for ") + what);
    std::vector<pollfd> fds;
    for (auto& w : workers) fds.push_back(pollfd{w.eof ? -1 : w.up, POLLIN, 0});
    const int r = ::poll(fds.data(), fds.size(), 50);
    if (r < 0 && errno != EINTR) throw Fail(std::string("poll: ") + std::strerror(errno));
    for (std::size_t i = 0; i < workers.size(); ++i) {
      if (r <= 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Worker& w = workers[i];
      char buf[65536];
      const ssize_t n = ::read(w.up, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        w.eof = true;
        if (!w.ended) throw Fail(format("worker %zu exited unexpectedly", i) + (w.fatal.empty() ? "" : ": " + w.fatal));
        continue;
      }
      w.buffer.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0, nl;
      while ((nl = w.buffer.find('\n', start)) != std::string::npos) {
        handle_line(w, w.buffer.substr(start, nl - start));
        start = nl + 1;
      }
      w.buffer.erase(0, start);
      if (!w.fatal.empty()) throw Fail(w.fatal);
    }
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

fs::path default_sluice_path() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "sluice";
  return (self.parent_path() / ".." / "sluice").lexically_normal();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Reconnect storm: N TopicClients on one topic across a restart of a durable sluice server"};
  std::string sluice = default_sluice_path().string();
  int clients = 10'000, workers_n = 5;
  std::uint64_t events = 100;
  double timeout_s = 300, backoff_min_s = 0.1, backoff_max_s = 2.0, shutdown_drain_s = 5;
  std::string topic = "storm.events";
  unsigned server_threads = 1;
  bool keep = false;
  app.add_option("--sluice", sluice, "The sluice binary (default: ../sluice next to this bench)")->capture_default_str();
  app.add_option("--clients", clients, "Subscribing clients in all")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--workers", workers_n, "Worker processes the clients are spread over")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--events", events, "Events published before the restart, and again after it")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--topic", topic, "Topic to subscribe and publish to")->capture_default_str();
  app.add_option("--backoff-min", backoff_min_s, "Clients' reconnect backoff floor, seconds")->capture_default_str();
  app.add_option("--backoff-max", backoff_max_s, "Clients' reconnect backoff ceiling, seconds")->capture_default_str();
  app.add_option("--server-threads", server_threads, "The server's event loops (--threads)")->capture_default_str();
  app.add_option("--shutdown-drain", shutdown_drain_s, "The server's --shutdown-drain, seconds")->capture_default_str();
  app.add_option("--timeout", timeout_s, "Give up (and fail) after this many seconds in all")->capture_default_str();
  app.add_flag("--keep", keep, "Keep the temporary directory (server logs, sqlite store)");
  CLI11_PARSE(app, argc, argv);
  if (workers_n > clients) workers_n = clients;

  const auto started = Clock::now();
  const auto deadline = started + std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);
  ::signal(SIGPIPE, SIG_IGN);

  char tmpl[] = "/tmp/sluice-storm-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    std::fprintf(stderr, "storm: mkdtemp: %s\n", std::strerror(errno));
    return 1;
  }
  const fs::path tmp = tmpl;
  Server server;
  std::vector<Worker> workers;
  std::unique_ptr<sluice::TopicClient> publisher;
  int exit_code = 0;

  auto cleanup = [&] {
    if (publisher) {
      publisher->close();
      publisher.reset();
    }
    for (auto& w : workers) {
      if (w.down >= 0) ::close(w.down), w.down = -1;
    }
    // Workers close their clients once their pipe closes; give them a moment.
    const auto until = Clock::now() + 10s;
    for (auto& w : workers) {
      while (w.pid > 0) {
        int status = 0;
        const pid_t r = ::waitpid(w.pid, &status, WNOHANG);
        if (r == w.pid || r < 0) {
          if (r == w.pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) && exit_code == 0) {
            std::fprintf(stderr, "storm: a worker ended with status %d\n", status);
          }
          w.pid = -1;
        } else if (Clock::now() > until) {
          ::kill(w.pid, SIGKILL);
          ::waitpid(w.pid, &status, 0);
          w.pid = -1;
        } else {
          std::this_thread::sleep_for(5ms);
        }
      }
      if (w.up >= 0) ::close(w.up), w.up = -1;
    }
    server.stop(std::chrono::milliseconds(static_cast<long>(shutdown_drain_s * 1000) + 5000));
    std::error_code ec;
    if (keep) {
      std::fprintf(stderr, "storm: kept %s\n", tmp.c_str());
    } else {
      fs::remove_all(tmp, ec);
    }
  };

  try {
    if (::access(sluice.c_str(), X_OK) != 0) throw Fail("no sluice binary at " + sluice + " (pass --sluice)");
    const std::uint16_t port = pick_free_port();
    const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/v1/ws";
    server.binary = sluice;
    server.args = {"serve",
                   "--address", "127.0.0.1",
                   "--port", std::to_string(port),
                   "--store", "sqlite",
                   "--data-dir", (tmp / "data").string(),
                   "--threads", std::to_string(server_threads),
                   "--max-connections", std::to_string(clients + 100),
                   "--shutdown-drain", format("%g", shutdown_drain_s)};
    {
      rlimit rl{};
      getrlimit(RLIMIT_NOFILE, &rl);
      if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;  // the server inherits it: one file per connection
        setrlimit(RLIMIT_NOFILE, &rl);
      }
      if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < static_cast<rlim_t>(clients) + 200) {
        throw Fail(format("RLIMIT_NOFILE is %llu: the server needs one file per connection (%d clients + ~200)",
                          static_cast<unsigned long long>(rl.rlim_cur), clients));
      }
    }
    std::printf("storm: %d clients in %d workers, %llu + %llu events on %s, server %s (%u event loop%s, sqlite), "
                "backoff %.0f ms .. %.0f ms, load average %s\n",
                clients, workers_n, static_cast<unsigned long long>(events), static_cast<unsigned long long>(events),
                url.c_str(), sluice.c_str(), server_threads, server_threads == 1 ? "" : "s", backoff_min_s * 1000,
                backoff_max_s * 1000, load_average().c_str());
    std::fflush(stdout);

    server.start(tmp / "server1.log");
    server.wait_listening(deadline);

    // Fork the workers while this process has no thread but the main one.
    for (int i = 0; i < workers_n; ++i) {
      int up[2], down[2];
      if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) throw Fail(std::string("pipe: ") + std::strerror(errno));
      Worker w;
      w.clients = clients / workers_n + (i < clients % workers_n ? 1 : 0);
      std::fflush(nullptr);
      const pid_t pid = ::fork();
      if (pid < 0) throw Fail(std::string("fork: ") + std::strerror(errno));
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::signal(SIGINT, SIG_IGN);  // the parent handles ^C and closes our pipe
        ::signal(SIGTERM, SIG_DFL);
        for (auto& other : workers) {
          ::close(other.up);
          ::close(other.down);
        }
        ::close(up[0]);
        ::close(down[1]);
        WorkerConfig cfg;
        cfg.index = i;
        cfg.clients = w.clients;
        cfg.events = events;
        cfg.url = url;
        cfg.topic = topic;
        cfg.backoff_min_s = backoff_min_s;
        cfg.backoff_max_s = backoff_max_s;
        int rc = 1;
        try {
          rc = run_worker(cfg, up[1], down[0]);
        } catch (const std::exception& e) {
          write_all(up[1], format("fatal worker %d: ", i) + e.what() + "\n");
        }
        std::fflush(nullptr);
        ::_exit(rc);
      }
      ::close(up[1]);
      ::close(down[0]);
      w.pid = pid;
      w.up = up[0];
      w.down = down[1];
      workers.push_back(std::move(w));
    }
    const std::int64_t forked_ns = now_ns();

    publisher = std::make_unique<sluice::TopicClient>(url, client_options(backoff_min_s, backoff_max_s));
    std::atomic<std::uint64_t> publisher_reconnects{0};
    publisher->client().on_reconnecting(
        [&](std::uint32_t, std::chrono::milliseconds) { publisher_reconnects.fetch_add(1); });
    publisher->connect();

    auto all = [&](auto member) {
      return [&, member] {
        return std::all_of(workers.begin(), workers.end(), [&](const Worker& w) { return w.*member != 0; });
      };
    };
    auto latest = [&](auto member) {
      std::int64_t t = 0;
      for (const auto& w : workers) t = std::max(t, w.*member);
      return t;
    };
    auto publish_range = [&](std::uint64_t from, std::uint64_t to) {
      std::vector<std::future<sluice::client::PublishResult>> acks;
      for (std::uint64_t n = from; n <= to; ++n) {
        boost::json::object data;
        data["n"] = static_cast<std::int64_t>(n);
        acks.push_back(publisher->publish(topic, data));
      }
      for (std::size_t i = 0; i < acks.size(); ++i) {
        while (acks[i].wait_for(50ms) != std::future_status::ready) {
          if (g_interrupted) throw Fail("interrupted while waiting for publish acknowledgements");
          if (Clock::now() > deadline) {
            throw Fail(format("timed out waiting for the acknowledgement of event %llu",
                              static_cast<unsigned long long>(from + i)));
          }
        }
        const auto r = acks[i].get();
        if (!r.ok) {
          throw Fail(format("publish of event %llu failed: ", static_cast<unsigned long long>(from + i)) + r.code + " " +
                     r.message);
        }
      }
    };
    auto progress_report = [&] {
      std::string out;
      for (std::size_t i = 0; i < workers.size(); ++i) out += format("  worker %zu: ", i) + workers[i].progress + "\n";
      return out;
    };

    try {
      // Phase 1: everyone subscribed, M events, everyone has them.
      pump(workers, deadline, "every client to subscribe", all(&Worker::ready_ns));
      const std::int64_t subscribed_ns = latest(&Worker::ready_ns);
      std::printf("initial connect: all %d clients subscribed %.2f s after the workers started\n", clients,
                  seconds_between(forked_ns, subscribed_ns));
      std::fflush(stdout);
      const std::int64_t publish1_ns = now_ns();
      publish_range(1, events);
      pump(workers, deadline, "every client to receive the first events", all(&Worker::phase1_ns));
      std::printf("phase 1: %llu events published (acknowledged) and received by every client in %.2f s\n",
                  static_cast<unsigned long long>(events), seconds_between(publish1_ns, latest(&Worker::phase1_ns)));

      // The restart.
      const long hwm1 = proc_status_kib(server.pid, "VmHWM:");
      const long long overflows_before = tcp_ext_counter("ListenOverflows");
      const std::int64_t sigterm_ns = now_ns();
      const double stop_s = server.stop(std::chrono::milliseconds(static_cast<long>(shutdown_drain_s * 1000) + 30000));
      const double cpu1 = stats::cpu_time(server.usage).total();
      server.start(tmp / "server2.log");
      server.wait_listening(deadline);
      const std::int64_t listening_ns = server.listening_ns;
      const double server_cpu_at_listen = proc_cpu_seconds(server.pid);
      std::printf("restart: SIGTERM -> exited in %.2f s; new server listening %.3f s after spawn, %.2f s after "
                  "SIGTERM\n",
                  stop_s, seconds_between(server.spawned_ns, listening_ns), seconds_between(sigterm_ns, listening_ns));
      std::fflush(stdout);

      // Phase 2: M more events, published during the storm.
      publish_range(events + 1, 2 * events);
      const std::int64_t acked_ns = now_ns();
      pump(workers, deadline, "every client to resubscribe", all(&Worker::resub_ns));
      pump(workers, deadline, "every client to receive all events", all(&Worker::done_ns));
      const double server_cpu_at_recovery = proc_cpu_seconds(server.pid);
      const long hwm2 = proc_status_kib(server.pid, "VmHWM:");
      const long rss2 = proc_status_kib(server.pid, "VmRSS:");
      const long long overflows = tcp_ext_counter("ListenOverflows") - overflows_before;
      const std::int64_t resub_all_ns = latest(&Worker::resub_ns);
      const std::int64_t done_all_ns = latest(&Worker::done_ns);

      // Final reports, then let the workers close their clients.
      for (auto& w : workers) ::close(w.down), w.down = -1;
      pump(workers, deadline, "the workers' final reports",
           [&] { return std::all_of(workers.begin(), workers.end(), [](const Worker& w) { return w.ended; }); });

      std::vector<double> resub_s, complete_s;
      std::uint64_t reconnects = 0, errors = 0, violations = 0, bad_clients = 0, unrecovered = 0;
      std::uint64_t max_reconnects = 0, max_resubscribes = 0;
      double client_cpu_total = 0, client_cpu_storm = 0;
      std::map<std::string, std::uint64_t> error_kinds;
      std::vector<std::string> violation_lines;
      for (auto& w : workers) {
        for (auto t : w.resub_times) resub_s.push_back(t ? seconds_between(listening_ns, t) : -1);
        for (auto t : w.complete_times) complete_s.push_back(t ? seconds_between(listening_ns, t) : -1);
        reconnects += field_u64(w.final_line, "reconnects");
        errors += field_u64(w.final_line, "errors");
        violations += field_u64(w.final_line, "violations");
        bad_clients += field_u64(w.final_line, "clients_with_violations");
        unrecovered += field_u64(w.final_line, "unrecovered");
        max_reconnects = std::max(max_reconnects, field_u64(w.final_line, "max_reconnects"));
        max_resubscribes = std::max(max_resubscribes, field_u64(w.final_line, "max_resubscribes"));
        client_cpu_total += w.cpu_done;
        client_cpu_storm += w.cpu_done - w.cpu_phase1;
        for (const auto& [count, kind] : w.errors) error_kinds[kind] += count;
        for (const auto& v : w.violations) violation_lines.push_back(v);
      }
      std::printf("recovery (from the new server listening):\n");
      std::printf("  every client resubscribed after %.2f s (per client: p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s)\n",
                  seconds_between(listening_ns, resub_all_ns), percentile(resub_s, 50), percentile(resub_s, 90),
                  percentile(resub_s, 99), percentile(resub_s, 100));
      std::printf("  every client had all %llu events after %.2f s (per client: p50 %.2f s, p99 %.2f s); "
                  "post-restart publishes acknowledged after %.2f s\n",
                  static_cast<unsigned long long>(2 * events), seconds_between(listening_ns, done_all_ns),
                  percentile(complete_s, 50), percentile(complete_s, 99), seconds_between(listening_ns, acked_ns));
      std::printf("  reconnect attempts (on_reconnecting): %llu in all, %.2f per client, at most %llu for one client; "
                  "publisher %llu\n",
                  static_cast<unsigned long long>(reconnects), static_cast<double>(reconnects) / clients,
                  static_cast<unsigned long long>(max_reconnects),
                  static_cast<unsigned long long>(publisher_reconnects.load()));
      std::printf("  resubscribes per client: at most %llu\n", static_cast<unsigned long long>(max_resubscribes));
      std::printf("  listen queue overflows (TcpExt ListenOverflows, system-wide) from SIGTERM to recovery: %lld\n",
                  overflows);
      std::printf("  client errors (on_error): %llu\n", static_cast<unsigned long long>(errors));
      std::vector<std::pair<std::uint64_t, std::string>> kinds;
      for (const auto& [k, c] : error_kinds) kinds.emplace_back(c, k);
      std::sort(kinds.rbegin(), kinds.rend());
      for (std::size_t i = 0; i < kinds.size() && i < 8; ++i) {
        std::printf("    %8llu  %s\n", static_cast<unsigned long long>(kinds[i].first), kinds[i].second.c_str());
      }
      std::printf("cpu: server %.2f s from listening to full recovery (first server %.2f s in all, incl. shutdown); "
                  "clients %.2f s from the restart to full recovery (%.2f s in all); bench parent %.2f s\n",
                  server_cpu_at_recovery - server_cpu_at_listen, cpu1, client_cpu_storm, client_cpu_total,
                  process_cpu_seconds());
      std::printf("memory: server peak RSS (VmHWM) %.1f MiB before the restart, %.1f MiB after recovery (VmRSS %.1f "
                  "MiB)\n",
                  static_cast<double>(hwm1) / 1024, static_cast<double>(hwm2) / 1024, static_cast<double>(rss2) / 1024);
      std::printf("load average at the end: %s\n", load_average().c_str());
      if (violations > 0 || unrecovered > 0) {
        std::printf("FAILED: %llu violations in %llu clients (%llu unrecovered resubscribes):\n",
                    static_cast<unsigned long long>(violations), static_cast<unsigned long long>(bad_clients),
                    static_cast<unsigned long long>(unrecovered));
        for (const auto& v : violation_lines) std::printf("  %s\n", v.c_str());
        exit_code = 1;
      } else {
        std::printf("OK: every client saw 1..%llu exactly once, in order\n", static_cast<unsigned long long>(2 * events));
      }
    } catch (const Fail&) {
      std::fprintf(stderr, "storm: each worker's last progress line (sent once a second) when it failed:\n%s", progress_report().c_str());
      for (const auto& w : workers) {
        for (const auto& v : w.violations) std::fprintf(stderr, "  violation %s\n", v.c_str());
      }
      throw;
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "storm: FAILED: %s\n", e.what());
    if (server.pid > 0) std::fprintf(stderr, "storm: server log (%s):\n%s", server.log.c_str(), server.log_tail().c_str());
    exit_code = 1;
  }
  std::fflush(stdout);
  cleanup();
  std::printf("total wall time %.1f s\n", std::chrono::duration<double>(Clock::now() - started).count());
  return exit_code;
}
