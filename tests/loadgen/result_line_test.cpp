// ResultLine's warning that the load client, not the server, is the limit:
// a load thread busy (CPU + waiting for a core) above 90 % of the window.
#include <gtest/gtest.h>

#include <string>

#include "options.hpp"
#include "report.hpp"

namespace sluice::bench {
namespace {

std::string warnings_of(std::size_t threads, double cpu, double wait, double busiest_cpu = -1,
                        double busiest_wait = -1) {
  Options o;
  o.mode = "fanout";
  o.threads = threads;
  o.output = Output::csv;
  ResultLine line(o);
  line.add("loadgen_cpu_pct", cpu).add("loadgen_wait_pct", wait);
  if (busiest_cpu >= 0) line.add("loadgen_busiest_thread_cpu_pct", busiest_cpu);
  if (busiest_wait >= 0) line.add("loadgen_busiest_thread_wait_pct", busiest_wait);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  line.print();
  (void)testing::internal::GetCapturedStdout();
  return testing::internal::GetCapturedStderr();
}

TEST(ResultLineWarning, OneThreadBusyByCpuOrByWaitingForItsCore) {
  EXPECT_NE(warnings_of(1, 95, 1).find("warning: the load client was busy 96%"), std::string::npos);
  // Held back by other load on its core: as much the limit as when running.
  EXPECT_NE(warnings_of(1, 60, 35).find("waiting for a core 35.0%"), std::string::npos);
  EXPECT_EQ(warnings_of(1, 60, 20), "");
}

TEST(ResultLineWarning, SeveralThreadsLookAtTheBusiestThread) {
  // 150 % of one core over 2 threads, but one thread saturated.
  const std::string saturated = warnings_of(2, 150, 10, 92, 3);
  EXPECT_NE(saturated.find("busiest of the 2 load threads was busy 95%"), std::string::npos) << saturated;
  // 170 % of one core, yet neither thread busy all the time: no warning (N threads, N cores).
  EXPECT_EQ(warnings_of(2, 170, 5, 86, 2), "");
  // Two threads on one core: each runs half the time and waits the other half.
  EXPECT_NE(warnings_of(2, 98, 98, 49, 49).find("busy 98%"), std::string::npos);
  // No per-thread figures (unreadable): the sum against N cores.
  EXPECT_EQ(warnings_of(2, 120, 30), "");
  EXPECT_NE(warnings_of(2, 150, 40).find("the load client was busy"), std::string::npos);
}

}  // namespace
}  // namespace sluice::bench
