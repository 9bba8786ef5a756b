// net::Server's accept path: the listening socket in the loop's Readiness set,
// drained with accept4. A backlog longer than one turn is taken in full, and
// running out of descriptors pauses accepting instead of losing connections.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <vector>

#include "net/run_until.hpp"
#include "sluice/net/readiness.hpp"
#include "sluice/net/server.hpp"

namespace {

namespace asio = boost::asio;
namespace net = sluice::net;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using sluice::test::run_until;

struct Listening {
  asio::io_context io;
  net::Server server{io, [] {
                       net::ServerOptions options;
                       options.port = 0;
                       return options;
                     }(),
                     {}};
  Listening() {
    EXPECT_FALSE(server.listen());
    server.start();
  }
  // Sockets in the loop's set: the listener and every accepted connection.
  std::size_t registered() { return net::Readiness::of(io).size(); }

  // TCP connections the kernel completes before the server accepts them.
  std::vector<tcp::socket> connect(asio::io_context& client_io, int count) {
    std::vector<tcp::socket> sockets;
    for (int i = 0; i < count; ++i) {
      sockets.emplace_back(client_io);
      sockets.back().connect({asio::ip::make_address("127.0.0.1"), server.port()});
    }
    return sockets;
  }
};

TEST(NetServerAccept, TakesABacklogLongerThanOneTurnAndForgetsClosedConnections) {
  Listening listening;
  asio::io_context client_io;
  auto clients = listening.connect(client_io, 300);  // several turns of 64
  ASSERT_TRUE(run_until(listening.io, [&] { return listening.registered() == 301; })) << listening.registered();
  clients.clear();  // EOF before any handshake: each server connection ends
  EXPECT_TRUE(run_until(listening.io, [&] { return listening.registered() == 1; })) << listening.registered();
}

TEST(NetServerAccept, OutOfDescriptorsPausesAcceptingAndResumes) {
  Listening listening;
  asio::io_context client_io;
  // Every path the test takes runs once first, with descriptors to spare: a
  // sanitizer's first check of a type may itself need one (UBSan's vptr check
  // probes memory through a pipe).
  auto warm_up = listening.connect(client_io, 1);
  ASSERT_TRUE(run_until(listening.io, [&] { return listening.registered() == 2; }));
  bool timer_fired = false;
  asio::steady_timer timer(listening.io, 1ms);
  timer.async_wait([&](const boost::system::error_code&) { timer_fired = true; });
  ASSERT_TRUE(run_until(listening.io, [&] { return timer_fired; }));
  auto clients = listening.connect(client_io, 3);
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  // No free descriptor number below the limit: accept4 fails with EMFILE.
  const int lowest_free = ::open("/dev/null", O_RDONLY);  // the lowest free number (stdin may be closed)
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit lowered = original;
  lowered.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  listening.io.run_for(200ms);  // the server tries, and must wait rather than spin or drop
  const std::size_t while_out = listening.registered();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
  EXPECT_EQ(while_out, 2u);  // the listener and the warm-up connection only
  // Nothing raises a new edge: the retry timer alone brings the queued three in.
  EXPECT_TRUE(run_until(listening.io, [&] { return listening.registered() == 5; })) << listening.registered();
}

TEST(NetServerAccept, StopClosesTheListenerAndKeepsOpenConnections) {
  Listening listening;
  asio::io_context client_io;
  auto clients = listening.connect(client_io, 2);
  ASSERT_TRUE(run_until(listening.io, [&] { return listening.registered() == 3; }));
  const auto port = listening.server.port();
  listening.server.stop();
  listening.server.stop();  // twice is fine
  EXPECT_EQ(listening.registered(), 2u);
  tcp::socket late(client_io);
  boost::system::error_code ec;
  late.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_EQ(ec, asio::error::connection_refused);
}

}  // namespace
