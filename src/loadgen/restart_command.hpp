// storm --restart-cmd: the user's command that restarts the server (for
// instance `systemctl restart sluice`), run with /bin/sh -c while the load
// client keeps polling. Its standard output goes to our standard error (our
// stdout carries the result), its standard input is /dev/null.
//
// Thread safety: none; one thread starts, polls and stops it. Lifetime: a
// command still running when the object goes is sent SIGTERM and reaped.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace sluice::bench {

class RestartCommand {
 public:
  explicit RestartCommand(std::string command) : command_(std::move(command)) {}
  ~RestartCommand();
  RestartCommand(const RestartCommand&) = delete;
  RestartCommand& operator=(const RestartCommand&) = delete;

  /// Starts the command; false with `error` set when it cannot be spawned.
  bool start(std::string& error);
  bool running() const noexcept { return pid_ > 0; }
  /// Without waiting: the exit status (a shell's: 128+N after signal N) once
  /// it ended, nothing while it runs (or when none was started).
  std::optional<int> poll();

 private:
  std::string command_;
  pid_t pid_ = -1;
};

}  // namespace sluice::bench
