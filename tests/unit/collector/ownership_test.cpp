// Several collectors: the partition hash, the LeaseManager (over a scripted LeaseStore) and the
// BatchProcessor's side of ownership (over a settable Ownership). The real PostgreSQL lease store
// is tested in tests/integration/postgres_marks_test.cpp, the whole tier in tests/e2e/ha_test.cpp.

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "collector_test_support.hpp"
#include "fake_marks.hpp"
#include "fake_sink.hpp"
#include "pos/collector/batch_processor.hpp"
#include "pos/collector/leases.hpp"
#include "pos/collector/ownership.hpp"
#include "pos/protocol/messages.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"

namespace pos::collector {
namespace {

using namespace std::chrono_literals;
using test::encode;
using test::lines_for;

constexpr std::uint64_t epoch = 0x1122334455667788ULL;

/// A till of store S01 whose partition is `partition`.
std::string till_in(std::uint32_t partition) {
  for (int i = 0;; ++i) {
    std::string till = "T" + std::to_string(i);
    if (partition_of("S01", till) == partition) {
      return till;
    }
  }
}

// Every collector of a cluster, whatever its version, must put a till in the same partition.
TEST(PartitionOf, IsFnv1aOfStoreSlashTillAndNeverChanges) {
  EXPECT_EQ(partition_of("S07", "T1"), 67U);
  EXPECT_EQ(partition_of("S01", "T2"), 4U);
  EXPECT_EQ(partition_of("WH", "T1"), 48U);
  EXPECT_NE(partition_of("S0", "7T1"), partition_of("S07", "T1")) << "the '/' separates";
}

/// A LeaseStore whose rounds the test scripts; records what each round was asked to release.
class ScriptedLeaseStore final : public LeaseStore {
 public:
  Result<LeaseRound> run_round(const std::vector<std::uint32_t>& release) override {
    std::lock_guard lock(mutex);
    releases.push_back(release);
    ++rounds;
    if (failing) {
      return fail("leases postgres test: connection refused");
    }
    LeaseRound round = next;
    next.acquired.clear();
    next.acquired_marks.clear();
    std::erase_if(next.owned,
                  [&](const Fence& f) { return std::ranges::count(release, f.partition) > 0; });
    if (!release.empty()) {
      next.excess = 0;
    }
    return round;
  }
  Status release_all() override { return {}; }

  std::mutex mutex;
  LeaseRound next;
  bool failing = false;
  std::size_t rounds = 0;
  std::vector<std::vector<std::uint32_t>> releases;
};

class LeaseManagerTest : public ::testing::Test {
 protected:
  void start(LeaseManager::Hooks hooks = {}) {
    auto store = std::make_unique<ScriptedLeaseStore>();
    m_store = store.get();
    LeaseManagerOptions options;
    options.ttl = 5000ms;
    options.safety_margin = 1000ms;
    options.renew_interval = 5ms;
    m_manager =
        std::make_unique<LeaseManager>(m_io.get_executor(), std::move(store), m_clock, options);
    m_manager->set_hooks(std::move(hooks));
  }
  /// Runs until `more` further rounds have come back to the io thread.
  bool rounds(std::uint64_t more) {
    const std::uint64_t target = m_manager->stats().rounds + more;
    return test::run_until(m_io, [&] { return m_manager->stats().rounds >= target; });
  }
  void script(LeaseRound round) {
    std::lock_guard lock(m_store->mutex);
    m_store->next = std::move(round);
  }

  boost::asio::io_context m_io;
  pos::test::FakeClock m_clock;
  ScriptedLeaseStore* m_store = nullptr;
  std::unique_ptr<LeaseManager> m_manager;
};

TEST_F(LeaseManagerTest, ATillIsOursOnlyWhileItsLeaseIsValidByOurClock) {
  start();
  const std::string till = till_in(5);
  script({.owned = {{5, 7}},
          .acquired = {5},
          .acquired_marks = {},
          .live_collectors = 1,
          .excess = 0});
  EXPECT_FALSE(m_manager->fence_for("S01", till)) << "nothing before the first round";
  m_manager->start();
  ASSERT_TRUE(rounds(1));
  EXPECT_EQ(m_manager->fence_for("S01", till), (Fence{5, 7}));
  EXPECT_FALSE(m_manager->fence_for("S01", till_in(6))) << "a partition we do not hold";

  // The database goes away: rounds fail, the lease is kept until ttl - margin after the start
  // of the last round that renewed it, then the till is no longer ours.
  {
    std::lock_guard lock(m_store->mutex);
    m_store->failing = true;
  }
  ASSERT_TRUE(rounds(2));
  EXPECT_FALSE(m_manager->stats().healthy);
  m_clock.advance(3900ms);
  EXPECT_TRUE(m_manager->fence_for("S01", till));
  m_clock.advance(200ms);
  EXPECT_FALSE(m_manager->fence_for("S01", till)) << "past ttl - safety margin";
}

TEST_F(LeaseManagerTest, MarksAreAdoptedBeforeATakenPartitionIsAdmitted) {
  const std::string till = till_in(9);
  bool owned_when_adopting = true;
  bool owned_when_acquired = false;
  std::vector<StoredMark> adopted;
  start({.adopt =
             [&](const std::vector<StoredMark>& marks) {
               owned_when_adopting = m_manager->fence_for("S01", till).has_value();
               adopted = marks;
             },
         .busy = {},
         .acquired =
             [&](const std::vector<StoredMark>&) {
               owned_when_acquired = m_manager->fence_for("S01", till).has_value();
             }});
  const StoredMark mark{{"S01", till, epoch}, 41, 1000};
  script({.owned = {{9, 3}},
          .acquired = {9},
          .acquired_marks = {mark},
          .live_collectors = 2,
          .excess = 0});
  m_manager->start();
  ASSERT_TRUE(rounds(1));
  ASSERT_EQ(adopted.size(), 1U);
  EXPECT_EQ(adopted[0].through_seq, 41U);
  EXPECT_FALSE(owned_when_adopting);
  EXPECT_TRUE(owned_when_acquired);
  EXPECT_EQ(m_manager->stats().live_collectors, 2U);
}

TEST_F(LeaseManagerTest, SurplusIsHandedBackOnlyOnceItsBatchesAreDone) {
  bool busy = true;
  start({.adopt = {}, .busy = [&](std::uint32_t) { return busy; }, .acquired = {}});
  script({.owned = {{1, 1}, {2, 1}},
          .acquired = {1, 2},
          .acquired_marks = {},
          .live_collectors = 2,
          .excess = 1});
  m_manager->start();
  ASSERT_TRUE(rounds(1));
  // The highest partition is handed back: no new batch of it is taken from now on.
  EXPECT_TRUE(m_manager->fence_for("S01", till_in(1)));
  EXPECT_FALSE(m_manager->fence_for("S01", till_in(2)));
  EXPECT_EQ(m_manager->stats().releasing, 1U);
  ASSERT_TRUE(rounds(3));
  {
    std::lock_guard lock(m_store->mutex);
    for (const auto& release : m_store->releases) {
      EXPECT_TRUE(release.empty()) << "released while its batches were in flight";
    }
  }
  busy = false;
  ASSERT_TRUE(test::run_until(m_io, [&] { return m_manager->stats().released == 1; }));
  std::lock_guard lock(m_store->mutex);
  EXPECT_EQ(m_store->releases.back(), (std::vector<std::uint32_t>{2}));
}

/// Ownership the test sets per till.
class SettableOwnership final : public Ownership {
 public:
  std::optional<Fence> fence_for(std::string_view store_id,
                                 std::string_view till_id) const override {
    const auto it = fences.find(std::string(store_id) + "/" + std::string(till_id));
    return it == fences.end() ? std::nullopt : std::optional<Fence>(it->second);
  }
  std::map<std::string, Fence> fences;
};

class ProcessorOwnershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MarkStoreOptions mark_options;
    mark_options.path = m_dir.path() / "collector.db";
    mark_options.group_window = 0us;
    mark_options.ownership = &m_ownership;
    m_marks = std::move(*MarkStore::open(mark_options, m_io.get_executor(), m_clock));
    BatchProcessorOptions options;
    options.ownership = &m_ownership;
    m_processor = std::make_unique<BatchProcessor>(m_io.get_executor(), m_sink, *m_marks,
                                                   m_transport, std::vector<PipelineObserver*>{},
                                                   m_clock, protocol::DictionaryLookup{}, options);
  }
  void send(std::uint64_t first, std::uint64_t count) {
    m_processor->handle_message(
        {"pos/v1/S07/T1/batch", encode(epoch, first, lines_for("S07", "T1", epoch, first, count))});
  }
  std::vector<protocol::Ack> acks() const {
    std::vector<protocol::Ack> out;
    for (const auto& p : m_transport.publishes) {
      out.push_back(*protocol::parse_ack(p.payload));
    }
    return out;
  }

  test::TempDir m_dir;
  boost::asio::io_context m_io;
  pos::test::FakeClock m_clock;
  SettableOwnership m_ownership;
  test::FakeSink m_sink{m_io.get_executor()};
  pos::test::FakeTransport m_transport{m_io.get_executor()};
  std::unique_ptr<MarkStore> m_marks;
  std::unique_ptr<BatchProcessor> m_processor;
};

TEST_F(ProcessorOwnershipTest, BatchesOfATillAnotherCollectorOwnsAreNeitherPublishedNorAcked) {
  send(1, 3);
  EXPECT_EQ(m_processor->stats().batches_not_owned, 1U);
  EXPECT_EQ(m_processor->stats().batches_received, 1U) << "the batch was looked at";
  m_ownership.fences["S07/T1"] = Fence{67, 1};
  send(1, 3);
  ASSERT_TRUE(test::run_until(m_io, [&] { return acks().size() == 1; }));
  EXPECT_EQ(m_sink.calls.size(), 1U) << "only the owned batch reached the sink";
  EXPECT_EQ(acks().front(), (protocol::Ack{epoch, 3}));
}

// Taking a till over: another collector published and committed seqs 4..10 meanwhile. The
// stream starts again from the shared mark (which the LeaseManager adopted), so 11 is the next
// seq rather than a gap after 3.
TEST_F(ProcessorOwnershipTest, ATakeOverStartsTheTillAgainFromTheSharedMark) {
  m_ownership.fences["S07/T1"] = Fence{67, 1};
  send(1, 3);
  ASSERT_TRUE(test::run_until(m_io, [&] { return acks().size() == 1; }));
  m_ownership.fences["S07/T1"] = Fence{67, 3};
  m_marks->adopt({StoredMark{{"S07", "T1", epoch}, 10, 2000}});
  send(11, 2);
  ASSERT_TRUE(test::run_until(m_io, [&] { return acks().size() == 2; }));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 12}));
  EXPECT_EQ(m_processor->stats().batches_gap, 0U);
}

// The lease is lost while a batch is in the sink: its commit is refused, it is not acked, and
// intake is not paused (nothing is wrong with the database; the new owner publishes the batch
// again when the agent resends it).
TEST_F(ProcessorOwnershipTest, ACommitAfterTheLeaseWasLostIsDroppedNotRetried) {
  m_ownership.fences["S07/T1"] = Fence{67, 1};
  m_sink.auto_complete = false;
  send(1, 3);
  ASSERT_EQ(m_sink.calls.size(), 1U);
  m_ownership.fences.erase("S07/T1");
  m_sink.complete(0);
  ASSERT_TRUE(test::run_until(m_io, [&] { return m_processor->stats().commits_fenced == 1; }));
  EXPECT_FALSE(m_processor->commits_paused());
  EXPECT_EQ(m_processor->stats().commit_failures, 0U);
  EXPECT_EQ(m_processor->pending_batches(), 0U);
  EXPECT_TRUE(acks().empty());
  EXPECT_EQ(m_marks->mark({"S07", "T1", epoch}), 0U);
}

// PostgreSQL goes away: a commit fails and intake pauses while the failed mark is retried. The
// lease then runs out: the retried mark is dropped, not retried forever, and intake resumes
// (it stayed paused for good before: found by tests/e2e/ha_test.cpp's PostgreSQL restart).
TEST(ProcessorOwnershipPauseTest, IntakeResumesWhenThePausingMarkIsNoLongerOurs) {
  boost::asio::io_context io;
  pos::test::FakeClock clock(pos::test::FakeClock::default_unix_ms,
                             pos::test::FakeClock::Steady::real);
  SettableOwnership ownership;
  ownership.fences["S07/T1"] = Fence{67, 1};
  test::FakeSink sink{io.get_executor()};
  pos::test::FakeTransport transport{io.get_executor()};
  test::FakeMarks marks{io.get_executor()};
  marks.fail_commits = true;
  BatchProcessorOptions options;
  options.ownership = &ownership;
  options.commit_retry_initial = 10ms;
  options.commit_retry_max = 20ms;
  BatchProcessor processor(io.get_executor(), sink, marks, transport, {}, clock,
                           protocol::DictionaryLookup{}, options);
  processor.handle_message(
      {"pos/v1/S07/T1/batch", encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 3))});
  ASSERT_TRUE(test::run_until(io, [&] { return processor.commits_paused(); }));
  ownership.fences.erase("S07/T1");
  ASSERT_TRUE(test::run_until(io, [&] { return !processor.commits_paused(); }));
  EXPECT_EQ(processor.stats().commits_fenced, 1U);
  EXPECT_TRUE(transport.publishes.empty()) << "nothing acked";
}

TEST_F(ProcessorOwnershipTest, AResendRequestIsAnAckOfTheMarkWithResend) {
  m_processor->request_resend(StoredMark{{"S07", "T1", epoch}, 41, 0});
  ASSERT_EQ(m_transport.publishes.size(), 1U);
  EXPECT_EQ(m_transport.publishes[0].topic, "pos/v1/S07/T1/ack");
  EXPECT_NE(m_transport.publishes[0].payload.find("\"resend\":true"), std::string::npos);
  EXPECT_EQ(m_processor->stats().resends_requested, 1U);
}

}  // namespace
}  // namespace pos::collector
