#include "pos/common/worker_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pos::common {
namespace {

TEST(WorkerThreadTest, RunsJobsInPostOrderOffTheCallersThread) {
  WorkerThread worker("test", 100);
  std::vector<int> order;
  std::thread::id ran_on;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(worker.post([&order, &ran_on, i] {
      order.push_back(i);
      ran_on = std::this_thread::get_id();
    }));
  }
  worker.stop();  // runs what is queued
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(WorkerThreadTest, TheQueueIsBoundedAndStoppedWorkersRefuse) {
  WorkerThread worker("test", 1);
  std::promise<void> release;
  std::promise<void> started;
  ASSERT_TRUE(worker.post([&] {
    started.set_value();
    release.get_future().wait();
  }));
  started.get_future().wait();  // the first job runs: the queue is empty again
  EXPECT_TRUE(worker.post([] {}));
  EXPECT_FALSE(worker.post([] {})) << "one job waiting already";
  release.set_value();
  worker.stop();
  EXPECT_FALSE(worker.post([] {}));
}

TEST(WorkerThreadTest, AThrowingJobDoesNotStopTheWorker) {
  WorkerThread worker("test", 10);
  std::atomic<bool> ran{false};
  ASSERT_TRUE(worker.post([] { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(worker.post([&] { ran = true; }));
  worker.stop();
  EXPECT_TRUE(ran);
}

TEST(LoopThreadTest, StopWakesTheLoopAndReturnsOnceItDrainedWhatWasQueued) {
  LoopThread loop;
  std::deque<int> queue;
  std::vector<int> done;
  loop.start([&] {
    std::unique_lock lock(loop.mutex());
    for (;;) {
      loop.wake().wait(lock, [&] { return loop.stopping() || !queue.empty(); });
      if (queue.empty()) {
        return;
      }
      done.push_back(queue.front());
      queue.pop_front();
    }
  });
  {
    std::lock_guard lock(loop.mutex());
    for (int i = 0; i < 5; ++i) {
      queue.push_back(i);  // no notify: stop() must wake the loop itself
    }
  }
  loop.stop();
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2, 3, 4}));
  {
    std::lock_guard lock(loop.mutex());
    EXPECT_TRUE(loop.stopping());
  }
  loop.stop();  // idempotent
}

TEST(LoopThreadTest, StopWithoutStartReturnsAtOnce) {
  LoopThread loop;
  loop.stop();
  std::lock_guard lock(loop.mutex());
  EXPECT_TRUE(loop.stopping());
}

}  // namespace
}  // namespace pos::common
