// The power-cut loop (tests/e2e/powercut_loop.hpp): the real system with its files on power-cut
// filesystems, random power cuts, then the end-to-end check. Built twice: label `e2e` (20 cuts)
// and with POS_POWERCUT_SOAK=1 as label `soak` (500 cuts). POS_POWERCUT_SEED repeats a run's
// choices, POS_POWERCUT_CUTS changes the number of cuts. See docs/testing.md, "The power-cut
// loop".

#include <gtest/gtest.h>

#include <iomanip>
#include <iostream>
#include <sstream>

#include "powercut_loop.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;

#if POS_POWERCUT_SOAK
#define POWERCUT_SUITE PowerCutSoak
constexpr int default_cuts = 500;
constexpr int collector_rounds = 20;
constexpr int comparison_cuts = 100;
constexpr auto min_run = 500ms;
constexpr auto max_run = 3000ms;
constexpr double events_per_s = 25;  // bounds the memory of 500 cuts' worth of events
#else
#define POWERCUT_SUITE PowerCut
constexpr int default_cuts = 20;
constexpr int collector_rounds = 3;
constexpr int comparison_cuts = 6;
constexpr auto min_run = 1000ms;
constexpr auto max_run = 3000ms;
constexpr double events_per_s = 40;
#endif

std::string problems_of(const PowerCutLoopResult& r) {
  std::ostringstream out;
  for (const auto& p : r.problems) {
    out << p << '\n';
  }
  return out.str();
}

// posagent and poscollector on power-cut filesystems: every event answered `accepted` (and every
// spool file finished as docs/agent.md says) reaches Pub/Sub, in per-till order; every database
// passes integrity_check after every cut; every restart succeeds on its own.
TEST(POWERCUT_SUITE, PosagentLosesNothingAcrossPowerCuts) {
  PowerCutLoopOptions options;
  options.cuts = env_int("POS_POWERCUT_CUTS", default_cuts);
  options.seed = power_cut_seed();
  options.min_run = min_run;
  options.max_run = max_run;
  options.events_per_s_per_till = events_per_s;
  const auto r = run_power_cut_loop(options);
  SCOPED_TRACE("seed " + std::to_string(r.seed) + " (POS_POWERCUT_SEED repeats it)");

  EXPECT_EQ(r.cuts, options.cuts) << problems_of(r);
  // The faults really happened: cuts of both filesystems, every mode, load through all of it.
  EXPECT_GT(r.till_cuts, 0);
  if (options.cuts >= 20) {
    EXPECT_GT(r.collector_cuts, 0);
    EXPECT_EQ(r.cut_modes.size(), 3u);
  }
  EXPECT_GT(r.acknowledged, static_cast<std::size_t>(options.cuts) * 20);
  EXPECT_GT(r.spool_files, 0u);
  EXPECT_GT(r.databases_checked, static_cast<std::size_t>(options.cuts));

  EXPECT_EQ(r.lost, 0u) << problems_of(r);
  EXPECT_EQ(r.spool_lost, 0u) << problems_of(r);
  EXPECT_EQ(r.out_of_order, 0u) << problems_of(r);
  EXPECT_EQ(r.integrity_failures, 0u) << problems_of(r);
  EXPECT_EQ(r.operator_needed, 0u) << problems_of(r);
  EXPECT_TRUE(r.problems.empty()) << problems_of(r);
}

// The collector's one duplicate window (docs/collector.md): its fsyncs are held, so the mark
// commit after a Pub/Sub publish blocks; then kill -9 and a cut of its filesystem. Events
// published but not committed come out twice, and only those.
TEST(POWERCUT_SUITE, CollectorCutBetweenPublishAndCommitDuplicatesStayInWindow) {
  const auto w = run_collector_window_scenario(collector_rounds, power_cut_seed());
  const auto& r = w.loop;
  ASSERT_EQ(r.cuts, collector_rounds) << problems_of(r);
  EXPECT_EQ(r.lost, 0u) << problems_of(r);
  EXPECT_EQ(r.integrity_failures, 0u) << problems_of(r);
  EXPECT_EQ(r.operator_needed, 0u) << problems_of(r);
  EXPECT_TRUE(r.problems.empty()) << problems_of(r);
  // The window was really hit: the collector published while its commit was held, and those
  // events came out again after the restart.
  for (const auto n : w.published_while_held) {
    EXPECT_GE(n, 30u) << w.summary();
  }
  // None of those was committed, so all of them came out a second time.
  std::size_t held = 0;
  for (const auto n : w.published_while_held) {
    held += n;
  }
  EXPECT_GE(w.duplicates_in_window, held) << w.summary();
  std::size_t window = 0;
  for (const auto n : w.window) {
    window += n;
  }
  EXPECT_LE(w.duplicates_in_window, window) << w.summary();
  EXPECT_EQ(w.duplicates_outside, 0u) << w.summary() << "\nfirst outside the window:\n"
                                      << [&] {
                                           std::string s;
                                           for (const auto& o : w.outside) {
                                             s += "  " + o + "\n";
                                           }
                                           return s;
                                         }();
}

// What a user would pick instead: a local mosquitto with persistence on the till's disk,
// bridged to a central one, with the same POS client and the same cuts. A measurement: it prints
// the table and fails only when the loop itself did not run (its losses are the finding).
TEST(POWERCUT_SUITE, SideBySideWithMosquittoBridge) {
  const auto seed = power_cut_seed();
  const int cuts = env_int("POS_POWERCUT_COMPARE_CUTS", comparison_cuts);
  std::vector<PowerCutLoopResult> results;
  for (const auto target : {PowerCutTarget::posagent, PowerCutTarget::mosquitto_default,
                            PowerCutTarget::mosquitto_durable}) {
    PowerCutLoopOptions options;
    options.target = target;
    options.cuts = cuts;
    options.seed = seed;
    options.min_run = min_run;
    options.max_run = max_run;
    options.events_per_s_per_till = events_per_s;
    options.cut_collector = false;  // the same cuts for all: the tills' disk only
    options.spool_writer = false;   // mosquitto has no spool directory
    results.push_back(run_power_cut_loop(options));
  }
  std::ostringstream table;
  table << "| set-up | cuts | acknowledged to the POS | reached the centre | lost | duplicates "
           "| restarts needing an operator |\n|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : results) {
    table << "| " << r.target << " | " << r.cuts << " | " << r.acknowledged << " | "
          << r.reached_centre << " | " << r.lost << " | " << r.duplicates << " | "
          << r.operator_needed << " |\n";
  }
  std::cout << "[ powercut ] side by side, seed " << seed << ":\n" << table.str() << std::flush;
  for (const auto& r : results) {
    EXPECT_EQ(r.cuts, cuts) << r.target << "\n" << problems_of(r);
    EXPECT_GT(r.acknowledged, 0u) << r.target;
  }
  // posagent must lose nothing here too.
  EXPECT_EQ(results[0].lost, 0u) << problems_of(results[0]);
  EXPECT_TRUE(results[0].problems.empty()) << problems_of(results[0]);
}

}  // namespace
}  // namespace pos::test
