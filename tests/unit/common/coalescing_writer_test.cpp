#include "pos/common/coalescing_writer.hpp"

#include <gtest/gtest.h>

#include <future>
#include <vector>

namespace pos::common {
namespace {

TEST(CoalescingWriterTest, UpdatesWhileAWriteRunsMergeIntoOneLaterWrite) {
  std::promise<void> first_started;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::vector<std::vector<int>> writes;
  CoalescingWriter<std::vector<int>> writer("test", [&](std::vector<int> values) -> Status {
    if (writes.empty()) {
      first_started.set_value();
      released.wait();
    }
    writes.push_back(std::move(values));
    return {};
  });
  const auto add = [&](int v) {
    writer.update([v](std::vector<int>& pending) {
      pending.push_back(v);
      return true;
    });
  };
  add(1);
  first_started.get_future().wait();  // the first write holds the worker
  for (int v = 2; v <= 50; ++v) {
    add(v);
  }
  release.set_value();
  writer.stop();  // writes what is pending
  ASSERT_EQ(writes.size(), 2U) << "49 updates, one write";
  EXPECT_EQ(writes[0], std::vector<int>{1});
  EXPECT_EQ(writes[1].size(), 49U);
  EXPECT_EQ(writer.saved(), 2U);
}

TEST(CoalescingWriterTest, FailuresAreCountedAndNothingIsWrittenAfterStop) {
  int calls = 0;
  CoalescingWriter<int> writer("test", [&](int) -> Status {
    ++calls;
    return fail("disk full");
  });
  writer.update([](int& pending) { return ++pending > 0; });
  writer.stop();
  EXPECT_EQ(writer.failures(), 1U);
  writer.update([](int& pending) { return ++pending > 0; });
  writer.stop();
  EXPECT_EQ(calls, 1);
}

TEST(CoalescingWriterTest, AMergeWithNothingToWriteQueuesNoWrite) {
  int calls = 0;
  CoalescingWriter<int> writer("test", [&](int) -> Status {
    ++calls;
    return {};
  });
  writer.update([](int&) { return false; });
  writer.stop();
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace pos::common
