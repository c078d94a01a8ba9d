#include "pos/common/periodic_task.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>

#include "support/wait.hpp"

namespace pos::common {
namespace {

using namespace std::chrono_literals;

TEST(PeriodicTask, RunsEveryIntervalAndGoesOnAfterAnException) {
  boost::asio::io_context io;
  int runs = 0;
  PeriodicTask task(io.get_executor(), "the test task", 5ms, [&] {
    ++runs;
    if (runs == 2) {
      throw std::runtime_error("a failing run");
    }
  });
  task.start(0ms);
  ASSERT_TRUE(pos::test::run_until(
      io, [&] { return runs >= 4; }, 2s, "four runs"));
  task.stop();
  const int after_stop = runs;
  io.restart();
  io.run();  // returns once nothing is scheduled: stop() left no timer behind
  EXPECT_EQ(runs, after_stop);
}

TEST(PeriodicTask, NothingRunsBeforeStartNorAfterDestruction) {
  boost::asio::io_context io;
  int runs = 0;
  {
    PeriodicTask never(io.get_executor(), "never started", 1ms, [&] { ++runs; });
  }
  {
    PeriodicTask destroyed(io.get_executor(), "destroyed", 1ms, [&] { ++runs; });
    destroyed.start();
  }
  io.run();  // the destroyed task's cancelled wait completes without running it
  EXPECT_EQ(runs, 0);
}

}  // namespace
}  // namespace pos::common
