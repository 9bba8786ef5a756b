// net::Readiness: the per-loop epoll set of plain-TCP server connections.
// Socket pairs stand in for connections; no network.
#include "sluice/net/readiness.hpp"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <vector>

namespace {

using sluice::net::Pollable;
using sluice::net::Readiness;

struct SocketPair {
  int ours = -1, theirs = -1;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    ours = fds[0];
    theirs = fds[1];
  }
  ~SocketPair() {
    if (ours >= 0) ::close(ours);
    if (theirs >= 0) ::close(theirs);
  }
};

// Records what it was told and runs a hook on input.
struct Probe : Pollable {
  std::vector<std::uint32_t> events;
  std::function<void()> on_input;
  bool* destroyed = nullptr;
  ~Probe() override {
    if (destroyed) *destroyed = true;
  }
  void on_ready(std::uint32_t e) override {
    events.push_back(e);
    if ((e & EPOLLIN) && on_input) on_input();
  }
};

TEST(NetReadiness, ReportsInputEdgeTriggeredAndStopsAfterRemove) {
  boost::asio::io_context io{1};
  auto& readiness = Readiness::of(io);
  SocketPair pair;
  auto probe = std::make_shared<Probe>();
  ASSERT_FALSE(readiness.add(pair.ours, probe));
  EXPECT_EQ(readiness.size(), 1u);
  EXPECT_TRUE(readiness.add(pair.ours, probe)) << "a second registration of one fd is refused";

  ASSERT_EQ(::write(pair.theirs, "x", 1), 1);
  probe->on_input = [&] { io.stop(); };
  io.run_for(std::chrono::seconds(5));
  ASSERT_FALSE(probe->events.empty());
  EXPECT_TRUE(probe->events.back() & EPOLLIN);

  readiness.remove(pair.ours);
  readiness.remove(pair.ours);  // twice: harmless
  EXPECT_EQ(readiness.size(), 0u);
  const auto seen = probe->events.size();
  ASSERT_EQ(::write(pair.theirs, "y", 1), 1);
  io.restart();
  io.run_for(std::chrono::milliseconds(50));  // bounded: nothing may arrive
  EXPECT_EQ(probe->events.size(), seen);
}

TEST(NetReadiness, OwnerRemovedDuringDispatchStaysAliveUntilTheBatchEnds) {
  boost::asio::io_context io{1};
  auto& readiness = Readiness::of(io);
  SocketPair a, b;
  bool a_destroyed = false, b_destroyed = false;
  {
    auto pa = std::make_shared<Probe>();
    auto pb = std::make_shared<Probe>();
    pa->destroyed = &a_destroyed;
    pb->destroyed = &b_destroyed;
    // Whichever is reported first removes both: the other's event in the same
    // batch must find it alive and must not be delivered.
    auto remove_both = [&] {
      readiness.remove(a.ours);
      readiness.remove(b.ours);
      EXPECT_FALSE(a_destroyed);
      EXPECT_FALSE(b_destroyed);
      io.stop();
    };
    pa->on_input = remove_both;
    pb->on_input = remove_both;
    ASSERT_FALSE(readiness.add(a.ours, pa));
    ASSERT_FALSE(readiness.add(b.ours, pb));
    ASSERT_EQ(::write(a.theirs, "x", 1), 1);
    ASSERT_EQ(::write(b.theirs, "x", 1), 1);
    pa.reset();
    pb.reset();
    io.run_for(std::chrono::seconds(5));
    EXPECT_TRUE(a_destroyed && b_destroyed) << "released once the dispatch returned";
  }
}

TEST(NetReadiness, DestroyingTheLoopReleasesEveryOwner) {
  bool destroyed = false;
  SocketPair pair;
  {
    boost::asio::io_context io{1};
    auto probe = std::make_shared<Probe>();
    probe->destroyed = &destroyed;
    ASSERT_FALSE(Readiness::of(io).add(pair.ours, std::move(probe)));
    EXPECT_FALSE(destroyed);
  }
  EXPECT_TRUE(destroyed);
}

}  // namespace
