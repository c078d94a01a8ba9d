#include "pos/common/sighup_reloader.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <csignal>

#include "support/fake_clock.hpp"
#include "support/wait.hpp"

namespace pos::common {
namespace {

using namespace std::chrono_literals;

TEST(SighupReloader, EachSighupRunsTheReloadAndIsRecordedUntilStop) {
  boost::asio::io_context io;
  pos::test::FakeClock clock;
  clock.set_unix_ms(1'700'000'000'000);
  ServiceNotifier systemd(io.get_executor(), [] { return true; });  // no $NOTIFY_SOCKET: no-op
  SighupReloader reloader(io.get_executor(), "/etc/pos/test.toml", clock);
  int reloads = 0;
  reloader.start(
      systemd,
      [&](std::string& message) {
        ++reloads;
        message = reloads == 1 ? "changed: log_level" : "cannot change without a restart: x";
        return reloads == 1 ? ReloadResult::applied : ReloadResult::refused;
      },
      [] { return std::string("test status"); });

  ASSERT_EQ(::raise(SIGHUP), 0);
  ASSERT_TRUE(pos::test::run_until(
      io, [&] { return reloads == 1; }, 5s, "the first reload"));
  EXPECT_EQ(reloader.stats().total.at(static_cast<std::size_t>(ReloadResult::applied)), 1U);
  EXPECT_EQ(reloader.stats().last, ReloadResult::applied);
  EXPECT_EQ(reloader.stats().last_unix_ms, 1'700'000'000'000);
  EXPECT_EQ(reloader.stats().last_message, "changed: log_level");

  ASSERT_EQ(::raise(SIGHUP), 0);  // it waits again after each reload
  ASSERT_TRUE(pos::test::run_until(
      io, [&] { return reloads == 2; }, 5s, "the second reload"));
  EXPECT_EQ(reloader.stats().total.at(static_cast<std::size_t>(ReloadResult::refused)), 1U);
  EXPECT_EQ(reloader.stats().last, ReloadResult::refused);

  reloader.stop();
  io.restart();
  io.run();  // returns once nothing waits: stop() left no signal wait behind
  EXPECT_EQ(reloads, 2);
}

}  // namespace
}  // namespace pos::common
