// `sluice serve` as a child process (the real binary, SLUICE_BINARY) on a
// free loopback port with its own data directory: for tests that kill and
// restart the server (durability, idempotency across a restart, retention).
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace sluice::test {

class ServerProcess {
 public:
  /// Starts `sluice serve --port 0 --threads 1 --ping-interval 0 --data-dir
  /// <data_dir>` plus `extra` arguments, and waits for the line naming its port.
  explicit ServerProcess(const std::string& data_dir, std::vector<std::string> extra = {}) {
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<std::string> args = {SLUICE_BINARY, "serve", "--port", "0", "--threads", "1",
                                     "--ping-interval", "0", "--data-dir", data_dir};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, SLUICE_BINARY, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    // The first log line names the port ("listening on ws://127.0.0.1:PORT/v1/ws").
    FILE* log = fdopen(out[0], "r");
    char line[512];
    while (port_ == 0 && std::fgets(line, sizeof line, log)) {
      if (const char* at = std::strstr(line, "ws://127.0.0.1:")) port_ = static_cast<std::uint16_t>(std::atoi(at + 15));
    }
    log_ = log;
  }
  ~ServerProcess() {
    kill_now();
    if (log_) std::fclose(log_);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::uint16_t port() const { return port_; }
  /// SIGKILL, and reaps it.
  void kill_now() { stop(SIGKILL); }
  /// SIGTERM (graceful shutdown), and reaps it; returns the exit status.
  int terminate() { return stop(SIGTERM); }

 private:
  int stop(int signal_number) {
    int status = 0;
    if (pid_ > 0) {
      ::kill(pid_, signal_number);
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    return status;
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  FILE* log_ = nullptr;
};

}  // namespace sluice::test
