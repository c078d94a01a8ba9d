// The power-cut loop: the real system (or the alternative a user would pick instead of posagent,
// a local mosquitto with persistence bridged to a central one) with its files on power-cut
// filesystems (powercutfs), a POS client that records what it was told is safe, and random power
// cuts: kill -9 of every process with files on the filesystem, drop what was not made durable,
// remount, restart, carry on. At the end everything drains and what reached the centre is checked
// against what the POS was told. See docs/testing.md, "The power-cut loop".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "subscription_checker.hpp"

namespace pos::test {

// What the POS talks to.
enum class PowerCutTarget {
  posagent,           // posagent (HTTP, `accepted`) -> mosquitto -> poscollector -> Pub/Sub
  mosquitto_default,  // local mosquitto (QoS 1, PUBACK), default persistence, bridged to a centre
  mosquitto_durable,  // the same with the most durable persistence (save on every change)
};

// Name for output and tables ("posagent", "mosquitto (default)", ...).
std::string target_name(PowerCutTarget target);

struct PowerCutLoopOptions {
  PowerCutTarget target = PowerCutTarget::posagent;
  int cuts = 20;
  std::uint64_t seed = 1;  // every random choice (moments, what is cut, how) comes from it
  // Time the system runs between one restart and the next cut, drawn uniformly.
  std::chrono::milliseconds min_run{1000};
  std::chrono::milliseconds max_run{3000};
  // POS load per HTTP/MQTT till (each till posts 1-4 events per request, one request at a time).
  double events_per_s_per_till = 40;
  // posagent only: the share of cuts that also (or only) cut the collector's filesystem.
  bool cut_collector = true;
  // posagent only: a third till is fed only through its spool directory by a writer that
  // follows docs/agent.md (write, fsync, rename in, fsync the directory).
  bool spool_writer = true;
  // In about a third of the rounds the tills' uplink to the centre is down (connections
  // refused) from before the cut until after the restart, so that events wait in the till's
  // buffer (posagent's database, the local broker's queue) when the power goes.
  bool uplink_outages = true;
};

// What one loop produced. Counts are of distinct events (pos_event_ids).
struct PowerCutLoopResult {
  std::string target;
  std::uint64_t seed = 0;
  int cuts = 0;
  int till_cuts = 0;                     // cuts of the tills' filesystem
  int collector_cuts = 0;                // cuts of the collector's filesystem
  std::map<std::string, int> cut_modes;  // clean / torn / reorder -> count
  int uplink_outages = 0;
  std::size_t acknowledged = 0;    // events the POS was told are safe (accepted/duplicate, PUBACK)
  std::size_t reached_centre = 0;  // of those, how many arrived at the centre
  std::size_t lost = 0;            // acknowledged - reached_centre
  std::size_t duplicates = 0;      // further arrivals of an event at the centre
  std::size_t out_of_order = 0;    // per till, an event arriving before an earlier one
  std::size_t spool_files = 0;     // spool files finished by the writer (fsynced, renamed in)
  std::size_t spool_events = 0;    // events in them
  std::size_t spool_lost = 0;      // of those, never published
  std::size_t databases_checked = 0;   // PRAGMA integrity_check runs (after each cut, at the end)
  std::size_t integrity_failures = 0;  // ... that did not answer ok
  std::size_t operator_needed = 0;     // restarts that failed without a hand fixing something
  DeliveryReport report;               // posagent only: the full per-event check (HTTP tills)
  std::vector<std::string> problems;   // what went wrong, for the failure message
  double seconds = 0;
  std::size_t ingest_events_per_s = 0;  // acknowledged / time the load ran

  // One line with the counts, for the test output.
  std::string summary() const;
};

// Runs the loop as `options` says: sets up the mounts and the system, drives load and cuts, then
// drains (at most a few minutes) and checks. Prints the seed first and one line per cut. Throws
// std::runtime_error when the system cannot be set up at all (a missing program, no FUSE); every
// failure after that is recorded in `problems` and the counts, with the logs' tails.
PowerCutLoopResult run_power_cut_loop(const PowerCutLoopOptions& options);

// The collector cut between publish and commit: posagent under load, the collector's fsyncs
// held (its mark commit blocks after Pub/Sub accepted the events), kill -9 of the collector, a
// cut of its filesystem, restart; `rounds` times. Then drain and check.
struct CollectorWindowResult {
  PowerCutLoopResult loop;  // acknowledged, lost, duplicates, integrity, ... as for the loop
  // Per round: events the collector published while its commit was held, and the window
  // (per till, last_seq at the cut minus acked_through when the hold began, summed).
  std::vector<std::size_t> published_while_held;
  std::vector<std::size_t> window;
  std::size_t duplicates_in_window = 0;  // duplicates of events inside a round's window
  std::size_t duplicates_outside = 0;    // any other duplicate (must be 0)
  std::vector<std::string> outside;      // the first few of those

  std::string summary() const;
};
CollectorWindowResult run_collector_window_scenario(int rounds, std::uint64_t seed);

// The seed for a loop: POS_POWERCUT_SEED from the environment when set, else a fresh random one.
std::uint64_t power_cut_seed();

// A number from the environment (e.g. POS_POWERCUT_CUTS), or `fallback` when it is not set.
// Throws std::runtime_error naming the variable when it is not a whole number.
int env_int(const char* name, int fallback);

}  // namespace pos::test
