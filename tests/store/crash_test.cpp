// Durability across kill -9: a child process publishes through GroupCommitLog
// and reports each acknowledged offset over a pipe; the parent SIGKILLs it at
// a random moment, reopens the store, and checks that every acknowledged event
// is there, exactly once, with its exact fields.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "store/store_test_util.hpp"

namespace sluice::store {
namespace {

using namespace std::chrono_literals;
using testing::expect_same;
using testing::make_event;
using testing::TempDir;

constexpr int kChildThreads = 2;

struct Ack {
  std::uint64_t thread;
  std::uint64_t offset;
};
static_assert(sizeof(Ack) <= PIPE_BUF, "one write() per ack stays atomic");

std::string topic_of(std::uint64_t thread) { return "crash.t" + std::to_string(thread); }

// The child: publishes on kChildThreads topics until killed (or 30 s pass,
// should the parent have died), writing each acknowledged offset to `fd`.
[[noreturn]] void run_child(const std::string& directory, Durability durability, int fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::string error;
  auto store = open_sqlite_store(directory, durability, error);
  if (!store) ::_exit(2);
  {
    GroupCommitLog log(*store, 1 << 20);
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    std::vector<std::thread> threads;
    for (std::uint64_t t = 0; t < kChildThreads; ++t) {
      threads.emplace_back([&, t] {
        for (std::uint64_t offset = 1; std::chrono::steady_clock::now() < give_up;) {
          auto done = [fd, t, offset](std::error_code ec) {
            if (ec) ::_exit(3);
            const Ack ack{t, offset};
            if (::write(fd, &ack, sizeof ack) != static_cast<ssize_t>(sizeof ack)) ::_exit(4);
          };
          if (log.submit(make_event(topic_of(t), offset), done)) {
            ++offset;
          } else {
            std::this_thread::sleep_for(100us);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  ::_exit(0);
}

// Reads whole Ack records from `fd` until EOF or `deadline`.
void read_acks(int fd, std::string& buffer, std::chrono::steady_clock::time_point deadline, bool until_eof) {
  char chunk[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready <= 0) continue;
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) return;  // EOF: the child is gone and the pipe drained
    buffer.append(chunk, static_cast<std::size_t>(n));
    if (!until_eof && !buffer.empty()) return;
  }
}

// Kills and reaps the child if the parent leaves a round early (a failed ASSERT).
struct ChildGuard {
  pid_t pid;
  ~ChildGuard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

TEST(StoreCrash, EveryAcknowledgedEventSurvivesKill9) {
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    TempDir dir;
    const Durability durability = round % 2 == 0 ? Durability::fsync : Durability::os_buffered;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      run_child(dir.str(), durability, fds[1]);
    }
    ::close(fds[1]);
    ChildGuard guard{pid};

    // Wait for the first ack, then kill at a random moment within 300 ms.
    std::string buffer;
    read_acks(fds[0], buffer, std::chrono::steady_clock::now() + 20s, false);
    ASSERT_FALSE(buffer.empty()) << "the child acknowledged nothing";
    const auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(rng() % 300);
    read_acks(fds[0], buffer, kill_at, true);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    read_acks(fds[0], buffer, std::chrono::steady_clock::now() + 20s, true);  // what it wrote before dying
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    guard.pid = 0;
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;

    std::map<std::uint64_t, std::uint64_t> max_acked;  // thread -> highest acknowledged offset
    std::size_t acks = buffer.size() / sizeof(Ack);
    for (std::size_t i = 0; i < acks; ++i) {
      Ack ack;
      std::memcpy(&ack, buffer.data() + i * sizeof(Ack), sizeof ack);
      ASSERT_LT(ack.thread, std::uint64_t{kChildThreads});
      // Acks of one topic arrive in offset order (completions run in submission order).
      ASSERT_EQ(ack.offset, max_acked[ack.thread] + 1);
      max_acked[ack.thread] = ack.offset;
    }

    std::string error;
    auto store = open_sqlite_store(dir.str(), durability, error);
    ASSERT_NE(store, nullptr) << error;
    for (const auto& [thread, last] : max_acked) {
      const std::string topic = topic_of(thread);
      auto events = store->read(topic, 0, 10'000'000);
      // Every acknowledged offset is there; more may be (written, not yet acked).
      ASSERT_GE(events.size(), last) << topic;
      for (std::size_t i = 0; i < events.size(); ++i) {
        ASSERT_EQ(events[i].offset, i + 1) << topic;  // contiguous, each offset once
        if (i + 1 <= last) expect_same(events[i], make_event(topic, i + 1));
      }
      ASSERT_TRUE(store->find(make_event(topic, last).id).has_value());
    }
    std::printf("[          ] round %d (%s): %zu acknowledged, all found after SIGKILL\n", round,
                durability == Durability::fsync ? "fsync" : "os_buffered", acks);
  }
}

}  // namespace
}  // namespace sluice::store
