#include "pos/agent/sqlite_outbox.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "pos/protocol/ids.hpp"
#include "support/fake_clock.hpp"
#include "support/wait.hpp"

namespace pos::agent {
namespace {

namespace fs = std::filesystem;
using AppendOutcome = Result<std::vector<AppendResult>, AppendError>;
using namespace std::chrono_literals;

using pos::test::FakeClock;
using pos::test::wait_until;

protocol::PosEvent make_event(const std::string& pos_event_id) {
  auto parsed = protocol::parse_pos_event(
      R"({"type":"stock_change","pos_event_id":")" + pos_event_id +
      R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","sku":"SKU-1","location":"floor",)"
      R"("delta":2,"reason":"receipt"})");
  if (!parsed) {
    throw std::runtime_error(parsed.error().message);
  }
  return std::move(*parsed);
}

std::vector<protocol::PosEvent> make_events(std::initializer_list<std::string> ids) {
  std::vector<protocol::PosEvent> events;
  for (const auto& id : ids) {
    events.push_back(make_event(id));
  }
  return events;
}

AppendOutcome append_sync(Outbox& outbox, std::vector<protocol::PosEvent> events) {
  std::promise<AppendOutcome> promise;
  auto future = promise.get_future();
  outbox.append(std::move(events),
                [&promise](AppendOutcome r) { promise.set_value(std::move(r)); });
  return future.get();
}

Status ack_sync(Outbox& outbox, std::uint64_t through) {
  std::promise<Status> promise;
  auto future = promise.get_future();
  outbox.acknowledge(through, [&promise](Status s) { promise.set_value(std::move(s)); });
  return future.get();
}

Result<std::uint64_t> renew_sync(Outbox& outbox, std::uint64_t keep_through) {
  std::promise<Result<std::uint64_t>> promise;
  auto future = promise.get_future();
  outbox.renew_epoch(keep_through,
                     [&promise](Result<std::uint64_t> r) { promise.set_value(std::move(r)); });
  return future.get();
}

std::vector<StoredEvent> read_all(Outbox& outbox) {
  auto read = outbox.read_from(0, 1'000'000, SIZE_MAX);
  EXPECT_TRUE(read) << read.error().message;
  return read ? std::move(*read) : std::vector<StoredEvent>{};
}

class SqliteOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "outbox_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override {
    m_guard.reset();
    if (m_io_thread.joinable()) {
      m_io_thread.join();
    }
    fs::remove_all(m_dir);
  }

  SqliteOutboxOptions options(const std::string& name = "outbox.db") const {
    SqliteOutboxOptions o;
    o.path = m_dir / name;
    o.store_id = "S01";
    o.till_id = "T1";
    o.prune_interval = 5ms;
    return o;
  }

  /// Opens with the io thread running (started on first use, so that fork() happens before it).
  std::unique_ptr<SqliteOutbox> open(const SqliteOutboxOptions& o) {
    if (!m_io_thread.joinable()) {
      m_io_thread = std::thread([this] { m_io.run(); });
    }
    auto outbox = SqliteOutbox::open(o, m_io.get_executor(), m_clock);
    EXPECT_TRUE(outbox) << outbox.error().message;
    return outbox ? std::move(*outbox) : nullptr;
  }

  fs::path m_dir;
  FakeClock m_clock;
  boost::asio::io_context m_io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> m_guard{
      m_io.get_executor()};
  std::thread m_io_thread;
};

TEST_F(SqliteOutboxTest, SeqsHaveNoGapsAcrossReopen) {
  std::uint64_t epoch = 0;
  {
    auto outbox = open(options());
    ASSERT_TRUE(outbox);
    epoch = outbox->epoch();
    auto first = append_sync(*outbox, make_events({"A", "B", "C"}));
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_EQ(first->size(), 3U);
    for (std::uint64_t i = 0; i < 3; ++i) {
      EXPECT_EQ((*first)[i].status, AppendResult::Status::accepted);
      EXPECT_EQ((*first)[i].seq, i + 1);
      EXPECT_EQ((*first)[i].event_id, protocol::make_event_id("S01", "T1", epoch, i + 1));
    }
    ASSERT_TRUE(append_sync(*outbox, make_events({"D", "E"})));
  }
  auto outbox = open(options());
  ASSERT_TRUE(outbox);
  EXPECT_EQ(outbox->stats().last_seq, 5U);
  auto more = append_sync(*outbox, make_events({"F", "G"}));
  ASSERT_TRUE(more);
  EXPECT_EQ((*more)[0].seq, 6U);
  EXPECT_EQ((*more)[1].seq, 7U);

  const auto stored = read_all(*outbox);
  ASSERT_EQ(stored.size(), 7U);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].seq, i + 1);
    auto line = protocol::parse_payload_line(stored[i].payload_line, {"S01", "T1"});
    ASSERT_TRUE(line) << line.error().message << ": " << stored[i].payload_line;
    EXPECT_EQ(line->stamp.seq, i + 1);
    EXPECT_EQ(line->stamp.epoch, epoch);
    EXPECT_EQ(line->stamp.received_at, protocol::format_rfc3339_utc_ms(m_clock.now_unix_ms()));
    EXPECT_EQ(stored[i].received_at_ms, m_clock.now_unix_ms());
  }
  EXPECT_EQ(outbox->stats().accepted_total, 2U);
}

TEST_F(SqliteOutboxTest, EpochStableAcrossReopenAndRandomPerDatabase) {
  std::uint64_t first = 0;
  {
    auto a = open(options("a.db"));
    ASSERT_TRUE(a);
    first = a->epoch();
    EXPECT_NE(first, 0U);
    EXPECT_EQ(a->stats().epoch, first);
    ASSERT_TRUE(append_sync(*a, make_events({"E1"})));
  }
  auto again = open(options("a.db"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->epoch(), first);
  EXPECT_EQ(again->stats().epoch_renewals, 0U);
  auto other = open(options("b.db"));
  ASSERT_TRUE(other);
  EXPECT_NE(other->epoch(), first);
}

// Nothing in a database that never held an event proves that no collector saw its epoch (an image
// of a till restored after it had sold): reopening it gives it a fresh epoch.
TEST_F(SqliteOutboxTest, EmptyDatabaseGetsANewEpochWhenReopened) {
  std::uint64_t first = 0;
  {
    auto a = open(options("a.db"));
    ASSERT_TRUE(a);
    first = a->epoch();
  }
  auto again = open(options("a.db"));
  ASSERT_TRUE(again);
  EXPECT_NE(again->epoch(), first);
  EXPECT_EQ(again->stats().epoch_renewals, 1U);
  EXPECT_EQ(again->stats().previous_epoch, first);
  auto appended = append_sync(*again, make_events({"E1"}));
  ASSERT_TRUE(appended);
  EXPECT_EQ((*appended)[0].event_id, protocol::make_event_id("S01", "T1", again->epoch(), 1));
}

// The collector acknowledged beyond seq 4 of a database that holds 6 (a restored copy): 1-4 are
// published, 5 and 6 move to a fresh epoch as 1 and 2, re-stamped, durably.
TEST_F(SqliteOutboxTest, RenewEpochMovesLaterEventsToSeqOneAndDropsTheKeptOnes) {
  std::uint64_t old_epoch = 0;
  std::uint64_t new_epoch = 0;
  {
    auto outbox = open(options());
    ASSERT_TRUE(outbox);
    old_epoch = outbox->epoch();
    ASSERT_TRUE(append_sync(*outbox, make_events({"R1", "R2", "R3", "R4", "R5", "R6"})));
    ASSERT_TRUE(ack_sync(*outbox, 2));
    auto renewed = renew_sync(*outbox, 4);
    ASSERT_TRUE(renewed) << renewed.error().message;
    new_epoch = *renewed;
    EXPECT_NE(new_epoch, old_epoch);
    EXPECT_EQ(outbox->epoch(), new_epoch);
    const auto stats = outbox->stats();
    EXPECT_EQ(stats.epoch, new_epoch);
    EXPECT_EQ(stats.last_seq, 2U);
    EXPECT_EQ(stats.acked_through, 0U);
    EXPECT_EQ(stats.backlog_events, 2U);
    EXPECT_EQ(stats.epoch_renewals, 1U);
    EXPECT_EQ(stats.previous_epoch, old_epoch);
    ASSERT_TRUE(stats.epoch_renewed_ms);
    ASSERT_TRUE(stats.oldest_unacked_received_ms);

    // A re-sent R5 is a duplicate of its new identity; new events continue the new epoch.
    auto more = append_sync(*outbox, make_events({"R5", "R7"}));
    ASSERT_TRUE(more);
    EXPECT_EQ((*more)[0].status, AppendResult::Status::duplicate);
    EXPECT_EQ((*more)[0].event_id, protocol::make_event_id("S01", "T1", new_epoch, 1));
    EXPECT_EQ((*more)[1].seq, 3U);
    EXPECT_EQ((*more)[1].event_id, protocol::make_event_id("S01", "T1", new_epoch, 3));
  }
  auto outbox = open(options());
  ASSERT_TRUE(outbox);
  EXPECT_EQ(outbox->epoch(), new_epoch);
  EXPECT_EQ(outbox->stats().epoch_renewals, 1U);
  EXPECT_EQ(outbox->stats().previous_epoch, old_epoch);
  const auto stored = read_all(*outbox);
  ASSERT_EQ(stored.size(), 3U);
  const char* pos_ids[] = {"R5", "R6", "R7"};
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].seq, i + 1);
    auto line = protocol::parse_payload_line(stored[i].payload_line, {"S01", "T1"});
    ASSERT_TRUE(line) << line.error().message;
    EXPECT_EQ(line->stamp.epoch, new_epoch);
    EXPECT_EQ(line->stamp.seq, i + 1);
    EXPECT_EQ(line->event_id, protocol::make_event_id("S01", "T1", new_epoch, i + 1));
    EXPECT_EQ(line->event.pos_event_id(), pos_ids[i]);
  }
  ASSERT_TRUE(ack_sync(*outbox, 3));
  EXPECT_EQ(outbox->stats().backlog_events, 0U);
  EXPECT_EQ(outbox->stats().backlog_bytes, 0U);
}

TEST_F(SqliteOutboxTest, DuplicatesInsideOneCallAndAcrossCallsAndReopen) {
  std::uint64_t epoch = 0;
  {
    auto outbox = open(options());
    ASSERT_TRUE(outbox);
    epoch = outbox->epoch();
    auto first = append_sync(*outbox, make_events({"E1", "E2", "E1"}));
    ASSERT_TRUE(first);
    ASSERT_EQ(first->size(), 3U);
    EXPECT_EQ((*first)[2].status, AppendResult::Status::duplicate);
    EXPECT_EQ((*first)[2].seq, 1U);
    EXPECT_EQ((*first)[2].event_id, protocol::make_event_id("S01", "T1", epoch, 1));

    auto second = append_sync(*outbox, make_events({"E2", "E3"}));
    ASSERT_TRUE(second);
    EXPECT_EQ((*second)[0].status, AppendResult::Status::duplicate);
    EXPECT_EQ((*second)[0].seq, 2U);
    EXPECT_EQ((*second)[1].status, AppendResult::Status::accepted);
    EXPECT_EQ((*second)[1].seq, 3U);
    EXPECT_EQ(outbox->stats().duplicates_total, 2U);
    EXPECT_EQ(outbox->stats().accepted_total, 3U);
  }
  auto outbox = open(options());
  ASSERT_TRUE(outbox);
  auto third = append_sync(*outbox, make_events({"E3", "E4"}));
  ASSERT_TRUE(third);
  EXPECT_EQ((*third)[0].status, AppendResult::Status::duplicate);
  EXPECT_EQ((*third)[0].event_id, protocol::make_event_id("S01", "T1", epoch, 3));
  EXPECT_EQ((*third)[1].seq, 4U);
  EXPECT_EQ(read_all(*outbox).size(), 4U);
}

TEST_F(SqliteOutboxTest, ConcurrentAppendsAllCompleteAndShareCommits) {
  auto outbox = open(options());
  ASSERT_TRUE(outbox);
  std::atomic<std::uint64_t> last_heard{0};
  outbox->set_commit_listener([&](std::uint64_t last) {
    std::uint64_t seen = last_heard.load();
    while (last > seen && !last_heard.compare_exchange_weak(seen, last)) {
    }
  });
  constexpr int threads = 8;
  constexpr int per_thread = 150;
  std::mutex mutex;
  std::set<std::uint64_t> seqs;
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        outbox->append(make_events({"T" + std::to_string(t) + "-" + std::to_string(i)}),
                       [&](AppendOutcome r) {
                         ASSERT_TRUE(r) << r.error().message;
                         std::lock_guard lock(mutex);
                         seqs.insert((*r)[0].seq);
                         ++done;
                       });
      }
    });
  }
  for (auto& worker : workers) {
    worker.join();
  }
  constexpr std::uint64_t total = threads * per_thread;
  ASSERT_TRUE(wait_until([&] { return done.load() == static_cast<int>(total); }, 30s,
                         "every append answered"));
  EXPECT_EQ(seqs.size(), total);
  EXPECT_EQ(*seqs.begin(), 1U);
  EXPECT_EQ(*seqs.rbegin(), total);
  const auto stats = outbox->stats();
  EXPECT_EQ(stats.last_seq, total);
  EXPECT_LT(stats.commits_total, total);
  EXPECT_TRUE(wait_until([&] { return last_heard.load() == total; }, 5s,
                         "the commit listener told of the last seq"));
}

TEST_F(SqliteOutboxTest, ReadFromRespectsLimits) {
  auto outbox = open(options());
  ASSERT_TRUE(outbox);
  std::vector<protocol::PosEvent> events;
  for (int i = 0; i < 10; ++i) {
    events.push_back(make_event("R" + std::to_string(i)));
  }
  ASSERT_TRUE(append_sync(*outbox, std::move(events)));

  auto three = outbox->read_from(1, 3, SIZE_MAX);
  ASSERT_TRUE(three);
  ASSERT_EQ(three->size(), 3U);
  EXPECT_EQ((*three)[2].seq, 3U);

  const std::size_t one_size = (*three)[0].payload_line.size();
  auto by_bytes = outbox->read_from(4, 100, 2 * one_size + 1);
  ASSERT_TRUE(by_bytes);
  ASSERT_EQ(by_bytes->size(), 2U);
  EXPECT_EQ((*by_bytes)[0].seq, 4U);

  auto at_least_one = outbox->read_from(9, 100, 0);
  ASSERT_TRUE(at_least_one);
  ASSERT_EQ(at_least_one->size(), 1U);
  EXPECT_EQ((*at_least_one)[0].seq, 9U);

  auto past_end = outbox->read_from(11, 100, SIZE_MAX);
  ASSERT_TRUE(past_end);
  EXPECT_TRUE(past_end->empty());

  auto none = outbox->read_from(1, 0, SIZE_MAX);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(SqliteOutboxTest, AcknowledgeSemanticsAndBacklogStats) {
  std::uint64_t bytes_4_5 = 0;
  {
    auto outbox = open(options());
    ASSERT_TRUE(outbox);
    ASSERT_TRUE(append_sync(*outbox, make_events({"A1", "A2", "A3", "A4", "A5"})));
    const auto stored = read_all(*outbox);
    ASSERT_EQ(stored.size(), 5U);
    std::uint64_t all_bytes = 0;
    for (const auto& e : stored) {
      all_bytes += e.payload_line.size();
    }
    bytes_4_5 = stored[3].payload_line.size() + stored[4].payload_line.size();
    auto before = outbox->stats();
    EXPECT_EQ(before.backlog_events, 5U);
    EXPECT_EQ(before.backlog_bytes, all_bytes);
    EXPECT_EQ(before.oldest_unacked_received_ms, m_clock.now_unix_ms());
    EXPECT_FALSE(before.last_ack_ms);

    m_clock.advance(1s);
    ASSERT_TRUE(ack_sync(*outbox, 3));
    auto after = outbox->stats();
    EXPECT_EQ(after.acked_through, 3U);
    EXPECT_EQ(after.backlog_events, 2U);
    EXPECT_EQ(after.backlog_bytes, bytes_4_5);
    EXPECT_EQ(after.last_ack_ms, m_clock.now_unix_ms());
    EXPECT_EQ(after.oldest_unacked_received_ms, m_clock.now_unix_ms() - 1000);

    EXPECT_TRUE(ack_sync(*outbox, 2));  // below the mark: no-op
    EXPECT_EQ(outbox->stats().acked_through, 3U);
    auto beyond = ack_sync(*outbox, 6);
    ASSERT_FALSE(beyond);
    EXPECT_NE(beyond.error().message.find("beyond the last seq 5"), std::string::npos);
    EXPECT_EQ(outbox->stats().acked_through, 3U);
    EXPECT_GT(outbox->stats().db_bytes, 0U);
  }
  auto outbox = open(options());
  ASSERT_TRUE(outbox);
  auto reopened = outbox->stats();
  EXPECT_EQ(reopened.acked_through, 3U);
  EXPECT_EQ(reopened.backlog_bytes, bytes_4_5);
  EXPECT_TRUE(reopened.last_ack_ms);
  ASSERT_TRUE(ack_sync(*outbox, 5));
  auto empty = outbox->stats();
  EXPECT_EQ(empty.backlog_events, 0U);
  EXPECT_EQ(empty.backlog_bytes, 0U);
  EXPECT_FALSE(empty.oldest_unacked_received_ms);
}

TEST_F(SqliteOutboxTest, BufferLimitFailsFullAndAckMakesRoom) {
  std::size_t one = 0;
  {
    auto probe = open(options("probe.db"));
    ASSERT_TRUE(probe);
    ASSERT_TRUE(append_sync(*probe, make_events({"P00"})));
    one = read_all(*probe)[0].payload_line.size();
  }
  auto o = options();
  o.max_backlog_bytes = 3 * one + one / 2;
  auto outbox = open(o);
  ASSERT_TRUE(outbox);
  ASSERT_TRUE(append_sync(*outbox, make_events({"P01", "P02"})));
  auto too_big = append_sync(*outbox, make_events({"P03", "P04"}));
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().kind, AppendError::Kind::full);
  ASSERT_TRUE(append_sync(*outbox, make_events({"P03"})));
  auto full = append_sync(*outbox, make_events({"P04"}));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().kind, AppendError::Kind::full);
  // A repeat of a stored event needs no room: it is still answered as a duplicate.
  auto dup = append_sync(*outbox, make_events({"P01"}));
  ASSERT_TRUE(dup);
  EXPECT_EQ((*dup)[0].status, AppendResult::Status::duplicate);
  EXPECT_EQ(outbox->stats().last_seq, 3U);

  ASSERT_TRUE(ack_sync(*outbox, 2));
  auto room = append_sync(*outbox, make_events({"P04"}));
  ASSERT_TRUE(room) << room.error().message;
  EXPECT_EQ((*room)[0].seq, 4U);  // failed requests consumed no seq
}

TEST_F(SqliteOutboxTest, QueueLimitFailsBusyAtOnce) {
  auto o = options();
  o.max_queued_events = 2;
  auto outbox = open(o);
  ASSERT_TRUE(outbox);
  auto busy = append_sync(*outbox, make_events({"Q1", "Q2", "Q3"}));
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind, AppendError::Kind::busy);
  auto empty = append_sync(*outbox, {});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST_F(SqliteOutboxTest, RetentionPrunesOnlyAckedEventsOlderThanRetentionInSteps) {
  auto o = options();
  o.retention = 1h;
  o.prune_step = 3;
  o.ack_mark_interval = 0ms;
  auto outbox = open(o);
  ASSERT_TRUE(outbox);
  std::vector<protocol::PosEvent> events;
  for (int i = 1; i <= 10; ++i) {
    events.push_back(make_event("K" + std::to_string(i)));
  }
  ASSERT_TRUE(append_sync(*outbox, std::move(events)));
  ASSERT_TRUE(ack_sync(*outbox, 4));
  m_clock.advance(30min);
  ASSERT_TRUE(ack_sync(*outbox, 7));

  // Nothing is old enough yet: wait for pruning passes that ran after the last ack.
  const auto passes = outbox->stats().prune_passes;
  ASSERT_TRUE(wait_until([&] { return outbox->stats().prune_passes >= passes + 3; }, 5s,
                         "three pruning passes"));
  EXPECT_EQ(outbox->stats().pruned_total, 0U);
  EXPECT_EQ(read_all(*outbox).size(), 10U);

  m_clock.advance(31min);  // the first ack is now 61 minutes old, the second 31
  ASSERT_TRUE(wait_until([&] { return outbox->stats().pruned_total == 4; }, 5s, "4 events pruned"));
  auto remaining = read_all(*outbox);
  ASSERT_EQ(remaining.size(), 6U);
  EXPECT_EQ(remaining.front().seq, 5U);

  m_clock.advance(30min);
  // The event at acked_through (7) stays: the forwarder's probe of the collector's mark.
  ASSERT_TRUE(wait_until([&] { return outbox->stats().pruned_total == 6; }, 5s, "6 events pruned"));
  m_clock.advance(1000h);
  const auto later = outbox->stats().prune_passes;
  ASSERT_TRUE(wait_until([&] { return outbox->stats().prune_passes >= later + 3; }, 5s,
                         "three more pruning passes"));
  EXPECT_EQ(outbox->stats().pruned_total, 6U);
  remaining = read_all(*outbox);
  ASSERT_EQ(remaining.size(), 4U);  // unacknowledged events are never pruned
  EXPECT_EQ(remaining.front().seq, 7U);
  const auto stats = outbox->stats();
  EXPECT_EQ(stats.backlog_events, 3U);
  EXPECT_EQ(stats.last_seq, 10U);

  auto next = append_sync(*outbox, make_events({"K11"}));
  ASSERT_TRUE(next);
  EXPECT_EQ((*next)[0].seq, 11U);
}

TEST_F(SqliteOutboxTest, KillNineLosesNothingThatWasAnswered) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const auto o = options();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    common::SystemClock clock;
    auto outbox = SqliteOutbox::open(o, io.get_executor(), clock);
    if (!outbox) {
      _exit(2);
    }
    for (int i = 0;; ++i) {
      auto result = append_sync(**outbox, make_events({"C" + std::to_string(i)}));
      if (!result) {
        _exit(3);
      }
      const std::string line =
          "C" + std::to_string(i) + " " + std::to_string((*result)[0].seq) + "\n";
      if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        _exit(4);
      }
    }
  }
  close(fds[1]);
  std::string answered;
  char buffer[4096];
  while (std::count(answered.begin(), answered.end(), '\n') < 40) {
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    ASSERT_GT(n, 0) << "child stopped early";
    answered.append(buffer, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) {
    answered.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);

  auto outbox = open(o);
  ASSERT_TRUE(outbox);
  const auto stored = read_all(*outbox);
  std::map<std::uint64_t, std::string> by_seq;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    ASSERT_EQ(stored[i].seq, i + 1);
    auto line = protocol::parse_payload_line(stored[i].payload_line, {"S01", "T1"});
    ASSERT_TRUE(line);
    by_seq[stored[i].seq] = line->event.pos_event_id();
  }
  std::istringstream lines(answered);
  std::string id;
  std::uint64_t seq = 0;
  std::size_t checked = 0;
  while (lines >> id >> seq) {
    ASSERT_TRUE(by_seq.contains(seq)) << "answered seq " << seq << " lost";
    EXPECT_EQ(by_seq[seq], id);
    ++checked;
  }
  EXPECT_GE(checked, 40U);
  EXPECT_EQ(outbox->stats().last_seq, stored.size());
  auto after = append_sync(*outbox, make_events({"after-crash"}));
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)[0].seq, stored.size() + 1);
}

TEST_F(SqliteOutboxTest, StopThenAppendIsShuttingDown) {
  auto outbox = open(options());
  ASSERT_TRUE(outbox);
  ASSERT_TRUE(append_sync(*outbox, make_events({"S1"})));
  outbox->stop();
  outbox->stop();
  auto late = append_sync(*outbox, make_events({"S2"}));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().kind, AppendError::Kind::shutting_down);
  EXPECT_FALSE(ack_sync(*outbox, 1));
  auto read = outbox->read_from(1, 10, SIZE_MAX);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->size(), 1U);
}

TEST_F(SqliteOutboxTest, StopFinishesQueuedWork) {
  auto outbox = open(options());
  ASSERT_TRUE(outbox);
  std::atomic<int> completed{0};
  for (int i = 0; i < 50; ++i) {
    outbox->append(make_events({"W" + std::to_string(i)}), [&](AppendOutcome r) {
      EXPECT_TRUE(r);
      ++completed;
    });
  }
  outbox->stop();
  EXPECT_EQ(outbox->stats().last_seq, 50U);
  EXPECT_TRUE(wait_until([&] { return completed.load() == 50; }, 5s, "all 50 appends answered"));
}

TEST_F(SqliteOutboxTest, NotADatabaseFailsWithClearError) {
  const auto o = options("junk.db");
  {
    std::ofstream out(o.path, std::ios::binary);
    out << std::string(10000, 'j');
  }
  auto outbox = SqliteOutbox::open(o, m_io.get_executor(), m_clock);
  ASSERT_FALSE(outbox);
  EXPECT_NE(outbox.error().message.find(o.path.string()), std::string::npos)
      << outbox.error().message;
  EXPECT_NE(outbox.error().message.find("not a database"), std::string::npos)
      << outbox.error().message;
}

TEST_F(SqliteOutboxTest, MissingDirectoryAndOtherTillFail) {
  auto missing = options();
  missing.path = m_dir / "no" / "such" / "outbox.db";
  auto failed = SqliteOutbox::open(missing, m_io.get_executor(), m_clock);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find(missing.path.string()), std::string::npos);

  { ASSERT_TRUE(open(options())); }
  auto other = options();
  other.till_id = "T2";
  auto mismatch = SqliteOutbox::open(other, m_io.get_executor(), m_clock);
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("till T1"), std::string::npos)
      << mismatch.error().message;
}

// A write error (the file size limit makes WAL writes fail) fails the whole group, restores the
// counters, and the next append after the cause is gone gets the next seq. Runs in a child because
// RLIMIT_FSIZE is per process.
TEST_F(SqliteOutboxTest, WriteErrorFailsGroupAndLeavesNothingHalfDone) {
  const auto o = options();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    signal(SIGXFSZ, SIG_IGN);
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    common::SystemClock clock;
    auto outbox = SqliteOutbox::open(o, io.get_executor(), clock);
    if (!outbox || !append_sync(**outbox, make_events({"F1"}))) {
      _exit(2);
    }
    auto wal = o.path;
    wal += "-wal";
    rlimit limit{};
    getrlimit(RLIMIT_FSIZE, &limit);
    const rlim_t saved = limit.rlim_cur;
    limit.rlim_cur = fs::file_size(wal);
    setrlimit(RLIMIT_FSIZE, &limit);
    auto failed = append_sync(**outbox, make_events({"F2", "F3"}));
    if (failed || (failed.error().kind != AppendError::Kind::io &&
                   failed.error().kind != AppendError::Kind::full)) {
      _exit(3);
    }
    if ((*outbox)->stats().last_seq != 1 || (*outbox)->stats().backlog_events != 1) {
      _exit(4);
    }
    limit.rlim_cur = saved;
    setrlimit(RLIMIT_FSIZE, &limit);
    auto again = append_sync(**outbox, make_events({"F2"}));
    if (!again || (*again)[0].seq != 2) {
      _exit(5);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  auto outbox = open(o);
  ASSERT_TRUE(outbox);
  const auto stored = read_all(*outbox);
  ASSERT_EQ(stored.size(), 2U);
  EXPECT_EQ(stored[1].seq, 2U);
}

}  // namespace
}  // namespace pos::agent
