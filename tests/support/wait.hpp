// Waiting in tests: poll a condition until it holds or a timeout passes, and say what was awaited
// when it does not. Header-only (target pos::test_headers). Use these instead of a local loop.
//
// Rule: a test that asserts that something did NOT happen first waits (with these helpers) for a
// counted number of passes of the loop under test (a tick, scan or batch counter of the class),
// then asserts. Sleeping for a while and then asserting can pass without the loop having run.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <string_view>
#include <thread>
#include <utility>

namespace pos::test {

/// Evaluates `predicate` until it returns true or `timeout` has passed, calling `step` (which must
/// let time pass or run the code under test) between evaluations. The predicate is evaluated once
/// more at the deadline. Returns success, or a failure naming `what` and the time waited, for
/// ASSERT_TRUE / EXPECT_TRUE or as a bool via `if`. Runs on the calling thread.
template <class Predicate, class Step>
::testing::AssertionResult poll_until(Predicate&& predicate, std::chrono::milliseconds timeout,
                                      std::string_view what, Step&& step) {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) {
      return ::testing::AssertionSuccess();
    }
    step();
  }
  if (predicate()) {
    return ::testing::AssertionSuccess();
  }
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return ::testing::AssertionFailure()
         << "timed out after " << waited.count() << " ms waiting for: " << what;
}

/// Waits (on the calling thread, sleeping `interval` between checks) until `predicate` holds; for
/// code that runs on other threads. See poll_until for the result.
template <class Predicate>
::testing::AssertionResult wait_until(
    Predicate&& predicate, std::chrono::milliseconds timeout, std::string_view what,
    std::chrono::milliseconds interval = std::chrono::milliseconds(10)) {
  return poll_until(std::forward<Predicate>(predicate), timeout, what,
                    [interval] { std::this_thread::sleep_for(interval); });
}

/// Runs `io` on the calling thread (slices of `slice`) until `predicate` holds; for code under test
/// that runs on that io_context. `io` must not be run by another thread meanwhile. Restarts a
/// stopped io_context; returns at once from a slice when `io` has no work. See poll_until.
template <class Predicate>
::testing::AssertionResult run_until(
    boost::asio::io_context& io, Predicate&& predicate, std::chrono::milliseconds timeout,
    std::string_view what, std::chrono::milliseconds slice = std::chrono::milliseconds(5)) {
  return poll_until(std::forward<Predicate>(predicate), timeout, what, [&io, slice] {
    io.restart();
    io.run_for(slice);
  });
}

/// Runs the handlers of `io` that are ready, and those they make ready, until none is; returns
/// how many ran. Timers not yet due and work on other threads are not waited for. Use it before
/// asserting that code which runs on `io` did NOT react to what the test just handed it: unlike a
/// timed run (io.run_for), it cannot end before the reaction had its turn on a loaded machine.
/// `io` must not be run by another thread meanwhile.
inline std::size_t run_ready(boost::asio::io_context& io) {
  std::size_t total = 0;
  for (;;) {
    io.restart();
    const std::size_t ran = io.poll();
    if (ran == 0) {
      return total;
    }
    total += ran;
  }
}

}  // namespace pos::test
