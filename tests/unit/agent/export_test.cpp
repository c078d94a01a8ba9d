// posagent export against databases written by the real SqliteOutbox (appends, acks, pruning
// after retention with a fake clock), and the command's options, files and exit codes.

#include "pos/agent/export.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "pos/agent/sqlite_outbox.hpp"
#include "pos/protocol/ids.hpp"
#include "support/fake_clock.hpp"
#include "support/wait.hpp"

namespace pos::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using pos::test::FakeClock;
using pos::test::wait_until;

protocol::PosEvent export_event(const std::string& pos_event_id) {
  auto parsed = protocol::parse_pos_event(
      R"({"type":"stock_change","pos_event_id":")" + pos_event_id +
      R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","sku":"SKU-1","location":"floor",)"
      R"("delta":2,"reason":"receipt"})");
  if (!parsed) {
    throw std::runtime_error(parsed.error().message);
  }
  return std::move(*parsed);
}

/// The file's bytes and modification time: what "export changes nothing" compares.
struct FileState {
  std::string bytes;
  fs::file_time_type mtime;
  bool operator==(const FileState&) const = default;
};

// NOLINTNEXTLINE(readability-identifier-naming): the name GoogleTest looks up
void PrintTo(const FileState& state, std::ostream* os) {
  *os << state.bytes.size() << " bytes, mtime " << state.mtime.time_since_epoch().count();
}

std::map<std::string, FileState> snapshot(const fs::path& dir) {
  std::map<std::string, FileState> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    files[entry.path().filename().string()] = {bytes.str(), entry.last_write_time()};
  }
  return files;
}

ExportRange seqs(std::uint64_t from, std::uint64_t to) {
  ExportRange range;
  range.by = ExportRange::By::seq;
  range.from_seq = from;
  range.to_seq = to;
  return range;
}

ExportRange received(std::int64_t from_ms, std::int64_t to_ms) {
  ExportRange range;
  range.by = ExportRange::By::received_at;
  range.from_ms = from_ms;
  range.to_ms = to_ms;
  return range;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "export_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    m_dir = tmpl;
    fs::create_directories(data_dir());
    m_io_thread = std::thread([this] { m_io.run(); });
  }
  void TearDown() override {
    m_outbox.reset();
    m_guard.reset();
    m_io_thread.join();
    fs::remove_all(m_dir);
  }

  fs::path data_dir() const { return m_dir / "data"; }
  fs::path db_path() const { return data_dir() / "outbox.db"; }

  SqliteOutbox& open_outbox() {
    SqliteOutboxOptions o;
    o.path = db_path();
    o.store_id = "S01";
    o.till_id = "T1";
    o.retention = 1h;
    o.ack_mark_interval = 0ms;
    o.prune_interval = 5ms;
    auto outbox = SqliteOutbox::open(o, m_io.get_executor(), m_clock);
    if (!outbox) {
      throw std::runtime_error(outbox.error().message);
    }
    m_outbox = std::move(*outbox);
    return *m_outbox;
  }

  /// Appends events e<first>..e<last>, one request each, the clock 1 s further for each.
  void append(std::uint64_t first, std::uint64_t last) {
    for (auto i = first; i <= last; ++i) {
      std::promise<bool> done;
      std::vector<protocol::PosEvent> events;
      events.push_back(export_event("e" + std::to_string(i)));
      m_outbox->append(std::move(events),
                       [&done](const Result<std::vector<AppendResult>, AppendError>& r) {
                         done.set_value(r.has_value());
                       });
      ASSERT_TRUE(done.get_future().get());
      m_clock.advance(1s);
    }
  }

  void acknowledge(std::uint64_t through) {
    std::promise<Status> done;
    m_outbox->acknowledge(through, [&done](Status s) { done.set_value(std::move(s)); });
    auto status = done.get_future().get();
    ASSERT_TRUE(status) << status.error().message;
  }

  /// The payload lines SqliteOutbox itself hands to the forwarder, by seq.
  std::map<std::uint64_t, std::string> stored() {
    auto read = m_outbox->read_from(0, 1000, SIZE_MAX);
    EXPECT_TRUE(read) << read.error().message;
    std::map<std::uint64_t, std::string> lines;
    for (auto& event : *read) {
      lines[event.seq] = event.payload_line;
    }
    return lines;
  }

  Result<ExportSummary> run_export(const ExportRange& range, std::vector<std::string>& lines) {
    return export_events(db_path(), "S01", "T1", range, [&lines](std::string_view line) {
      lines.emplace_back(line);
      return Status{};
    });
  }

  fs::path write_config(const std::string& store = "S01") const {
    auto path = m_dir / ("till-" + store + ".toml");
    std::ofstream(path) << "store_id = \"" << store << "\"\ntill_id = \"T1\"\ndata_dir = \""
                        << data_dir().string() << "\"\n[mqtt]\nuri = \"mqtt://127.0.0.1:1\"\n";
    return path;
  }

  /// Runs the command; returns the exit code, stdout and stderr.
  std::tuple<int, std::string, std::string> command(const ExportRangeOptions& range,
                                                    const std::string& out_path = "",
                                                    const std::string& store = "S01") const {
    std::ostringstream out;
    std::ostringstream err;
    const int code = export_command(write_config(store).string(), range, out_path, out, err);
    return {code, out.str(), err.str()};
  }

  fs::path m_dir;
  FakeClock m_clock;
  boost::asio::io_context m_io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> m_guard{
      m_io.get_executor()};
  std::thread m_io_thread;
  std::unique_ptr<SqliteOutbox> m_outbox;
};

TEST(ExportRangeTest, OptionsAreCheckedNamingTheOption) {
  const auto error = [](const ExportRangeOptions& options) {
    auto range = parse_export_range(options);
    return range ? std::string("ok") : range.error().message;
  };
  EXPECT_EQ(error({}),
            "give a range: --from T1 --to T2 (RFC 3339 received_at times) or --from-seq A "
            "--to-seq B");
  EXPECT_EQ(error({.from_seq = "1"}), "--from-seq needs --to-seq");
  EXPECT_EQ(error({.to_seq = "1"}), "--to-seq needs --from-seq");
  EXPECT_EQ(error({.from = "2026-12-05T00:00:00Z"}), "--from needs --to");
  EXPECT_EQ(error({.to = "2026-12-05T00:00:00Z"}), "--to needs --from");
  EXPECT_EQ(error({.from = "2026-12-05T00:00:00Z", .from_seq = "1", .to_seq = "2"}),
            "--from/--to and --from-seq/--to-seq cannot be combined: give one range, by "
            "received_at time or by seq");
  EXPECT_EQ(error({.from_seq = "0", .to_seq = "5"}),
            "--from-seq: '0' is not a seq (an integer >= 1)");
  EXPECT_EQ(error({.from_seq = "1", .to_seq = "-5"}),
            "--to-seq: '-5' is not a seq (an integer >= 1)");
  EXPECT_EQ(error({.from_seq = "1", .to_seq = "5x"}),
            "--to-seq: '5x' is not a seq (an integer >= 1)");
  EXPECT_EQ(error({.from_seq = "9", .to_seq = "5"}), "--from-seq 9 is after --to-seq 5");
  EXPECT_EQ(error({.from = "yesterday", .to = "2026-12-05T00:00:00Z"}),
            "--from: 'yesterday' is not an RFC 3339 timestamp (e.g. 2026-12-05T09:00:00Z or "
            "2026-12-05T10:00:00+01:00)");
  EXPECT_EQ(error({.from = "2026-12-05T00:00:00Z", .to = "2026-12-05 10:00"}).substr(0, 25),
            "--to: '2026-12-05 10:00' ");
  EXPECT_EQ(error({.from = "2026-12-05T10:00:00+01:00", .to = "2026-12-05T08:59:59Z"}),
            "--from 2026-12-05T10:00:00+01:00 is after --to 2026-12-05T08:59:59Z");

  auto by_time =
      parse_export_range({.from = "2026-12-05T10:00:00+01:00", .to = "2026-12-05T09:00:00Z"});
  ASSERT_TRUE(by_time) << by_time.error().message;
  EXPECT_EQ(by_time->by, ExportRange::By::received_at);
  EXPECT_EQ(by_time->from_ms, by_time->to_ms);  // the same instant, both bounds inclusive
  auto by_seq = parse_export_range({.from_seq = "500", .to_seq = "500"});
  ASSERT_TRUE(by_seq);
  EXPECT_EQ(by_seq->from_seq, 500U);
  EXPECT_EQ(by_seq->to_seq, 500U);
}

TEST_F(ExportTest, BySeqAndByReceivedAtWhileTheOutboxRuns) {
  auto& outbox = open_outbox();
  const std::int64_t start_ms = m_clock.now_unix_ms();
  append(1, 10);
  acknowledge(4);
  const auto lines = stored();
  ASSERT_EQ(lines.size(), 10U);

  std::vector<std::string> out;
  auto summary = run_export(seqs(3, 7), out);
  ASSERT_TRUE(summary) << summary.error().message;
  ASSERT_EQ(out.size(), 5U);
  for (std::uint64_t seq = 3; seq <= 7; ++seq) {
    EXPECT_EQ(out[seq - 3], lines.at(seq));
    const auto doc = boost::json::parse(out[seq - 3]).as_object();
    EXPECT_EQ(doc.at("seq").as_int64(), static_cast<std::int64_t>(seq));
    EXPECT_EQ(doc.at("pos_event_id").as_string(), "e" + std::to_string(seq));
  }
  EXPECT_EQ(summary->events, 5U);
  EXPECT_EQ(summary->first_seq, 3U);
  EXPECT_EQ(summary->last_seq, 7U);
  EXPECT_EQ(summary->epoch, outbox.epoch());
  EXPECT_EQ(summary->acked_through, 4U);
  EXPECT_EQ(summary->unacknowledged, 3U);  // 5, 6, 7
  EXPECT_EQ(describe_export(*summary, "stdout"),
            "exported 5 events of S01/T1 to stdout: seqs 3..7, epoch " +
                protocol::format_epoch(outbox.epoch()) +
                ", 3 not yet acknowledged (acknowledged through seq 4)");

  // Event i was received at start + (i - 1) s: both bounds inclusive.
  out.clear();
  summary = run_export(received(start_ms + 1000, start_ms + 3000), out);
  ASSERT_TRUE(summary) << summary.error().message;
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0], lines.at(2));
  EXPECT_EQ(out[2], lines.at(4));
  EXPECT_EQ(summary->unacknowledged, 0U);

  // A time range after the last event is empty, not an error.
  out.clear();
  summary = run_export(received(start_ms + 3'600'000, start_ms + 7'200'000), out);
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->events, 0U);
  EXPECT_TRUE(out.empty());

  // Seqs never written are refused.
  summary = run_export(seqs(8, 12), out);
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().message, "seqs 11..12 were never written (the last seq of epoch " +
                                         protocol::format_epoch(outbox.epoch()) +
                                         " is 10); this database holds 1..10");
}

TEST_F(ExportTest, PrunedRangeIsRefusedNotSilentlyShortened) {
  open_outbox();
  const std::int64_t start_ms = m_clock.now_unix_ms();
  append(1, 10);
  acknowledge(5);  // the event at acked_through stays (the forwarder's probe): 1..4 go
  m_clock.advance(61min);
  ASSERT_TRUE(
      wait_until([&] { return m_outbox->stats().pruned_total == 4; }, 5s, "4 events pruned"));

  std::vector<std::string> out;
  auto summary = run_export(seqs(1, 10), out);
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().message,
            "seqs 1..4 are no longer held (pruned after retention); this database holds 5..10");
  summary = run_export(seqs(2, 3), out);
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().message,
            "seqs 2..3 are no longer held (pruned after retention); this database holds 5..10");
  EXPECT_TRUE(out.empty());

  // By time: from before the oldest held event, pruned events may have been in the range.
  summary = run_export(received(start_ms, start_ms + 20'000), out);
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().message,
            "events received from " + protocol::format_rfc3339_utc_ms(start_ms) +
                " may be no longer held: seqs 1..4 were pruned after retention; this database "
                "holds 5..10, the oldest received at " +
                protocol::format_rfc3339_utc_ms(start_ms + 4000) +
                " (export from a later --from, or by seq)");
  EXPECT_TRUE(out.empty());

  // What is held exports.
  summary = run_export(seqs(5, 10), out);
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->events, 6U);
  out.clear();
  summary = run_export(received(start_ms + 4001, start_ms + 20'000), out);
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->first_seq, 6U);
  EXPECT_EQ(summary->last_seq, 10U);
}

TEST_F(ExportTest, CommandWritesTheFileWholeAndChangesNothingInDataDir) {
  open_outbox();
  append(1, 5);
  acknowledge(2);
  const auto lines = stored();
  m_outbox.reset();  // stopped cleanly: only outbox.db is left, no -wal or -shm
  const auto before = snapshot(data_dir());
  ASSERT_EQ(before.count("outbox.db-wal"), 0U);

  const auto out_file = m_dir / "export.ndjson";
  auto [code, out, err] = command({.from_seq = "2", .to_seq = "5"}, out_file.string());
  EXPECT_EQ(code, 0) << err;
  EXPECT_TRUE(out.empty());
  EXPECT_NE(err.find("exported 4 events of S01/T1 to " + out_file.string() + ": seqs 2..5, epoch "),
            std::string::npos)
      << err;
  EXPECT_NE(err.find(", 3 not yet acknowledged (acknowledged through seq 2)"), std::string::npos)
      << err;
  std::ifstream in(out_file);
  std::string expected;
  for (std::uint64_t seq = 2; seq <= 5; ++seq) {
    expected += lines.at(seq) + "\n";
  }
  std::ostringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), expected);

  // To stdout.
  std::tie(code, out, err) = command({.from_seq = "1", .to_seq = "1"});
  EXPECT_EQ(code, 0) << err;
  EXPECT_EQ(out, lines.at(1) + "\n");

  EXPECT_EQ(snapshot(data_dir()), before) << "export created or changed a file in data_dir";

  // A refused range leaves nothing under --out (and no temporary file beside it).
  const auto refused_file = m_dir / "refused.ndjson";
  std::tie(code, out, err) = command({.from_seq = "4", .to_seq = "9"}, refused_file.string());
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("seqs 6..9 were never written"), std::string::npos) << err;
  for (const auto& entry : fs::directory_iterator(m_dir)) {
    EXPECT_EQ(entry.path().filename().string().find("refused"), std::string::npos) << entry.path();
  }

  // Usage errors: exit 2, nothing read or written.
  std::tie(code, out, err) = command({.from_seq = "4"});
  EXPECT_EQ(code, 2);
  EXPECT_EQ(err, "posagent export: --from-seq needs --to-seq\n");
  std::tie(code, out, err) =
      command({.from_seq = "1", .to_seq = "2"}, (data_dir() / "x.ndjson").string());
  EXPECT_EQ(code, 2);
  EXPECT_NE(err.find("is in data_dir; export never writes there"), std::string::npos) << err;
  fs::create_directories(data_dir() / "sub");
  std::tie(code, out, err) = command({.from_seq = "1", .to_seq = "2"},
                                     (m_dir / "data" / "sub" / ".." / "sub" / "x.ndjson").string());
  EXPECT_EQ(code, 2);
  EXPECT_NE(err.find("is in data_dir; export never writes there"), std::string::npos) << err;
  fs::remove(data_dir() / "sub");

  // Another till's configuration.
  std::tie(code, out, err) = command({.from_seq = "1", .to_seq = "2"}, "", "S02");
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("created for store S01 till T1, not store S02 till T1"), std::string::npos)
      << err;
  EXPECT_EQ(snapshot(data_dir()), before);
}

TEST_F(ExportTest, MissingOrDamagedDatabaseIsExit1WithTheReason) {
  auto [code, out, err] = command({.from_seq = "1", .to_seq = "2"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("outbox database " + db_path().string() + " does not exist"),
            std::string::npos)
      << err;
  EXPECT_FALSE(fs::exists(db_path())) << "export created the database";

  std::ofstream(db_path()) << std::string(8192, 'x');
  std::tie(code, out, err) = command({.from_seq = "1", .to_seq = "2"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("not a readable outbox database"), std::string::npos) << err;

  // A -wal without its -shm: SQLite would create the -shm in data_dir.
  fs::remove(db_path());
  open_outbox();
  append(1, 1);
  m_outbox.reset();
  std::ofstream(db_path().string() + "-wal") << "";
  std::tie(code, out, err) = command({.from_seq = "1", .to_seq = "1"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("outbox.db-wal is there without outbox.db-shm"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(db_path().string() + "-shm"));
}

}  // namespace
}  // namespace pos::agent
