// posagent export. The outbox schema it reads is SqliteOutbox's
// (agent/outbox/src/sqlite_outbox.cpp): meta(epoch, store_id, till_id, next_seq, acked_through,
// ...) and events(seq, received_at_ms, payload), seqs and the epoch bit-cast into INTEGERs.
// Everything is read in one deferred read transaction, so that pruning or an epoch renewal by a
// running agent cannot change the answer between the range check and the rows.

#include "pos/agent/export.hpp"

#include <sys/stat.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <optional>
#include <ostream>
#include <system_error>
#include <utility>

#include "pos/agent/config.hpp"
#include "pos/common/files.hpp"
#include "pos/common/sqlite.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::agent {
namespace {

namespace fs = std::filesystem;
using common::Database;
using common::SqliteError;
using common::Statement;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
/// The export file's mode: sales data, readable by the operator's group, not by everyone.
constexpr mode_t export_file_mode = 0640;

std::uint64_t from_db(std::int64_t value) {
  return std::bit_cast<std::uint64_t>(value);
}
std::int64_t to_db(std::uint64_t value) {
  return std::bit_cast<std::int64_t>(value);
}

std::string seq_span(std::uint64_t first, std::uint64_t last) {
  return std::to_string(first) + ".." + std::to_string(last);
}

Result<std::uint64_t> parse_seq(std::string_view option, const std::string& text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value == 0) {
    return fail(std::string(option) + ": '" + text + "' is not a seq (an integer >= 1)");
  }
  return value;
}

Result<std::int64_t> parse_time(std::string_view option, const std::string& text) {
  const auto ms = protocol::parse_rfc3339_ms(text);
  if (!ms) {
    return fail(std::string(option) + ": '" + text +
                "' is not an RFC 3339 timestamp (e.g. 2026-12-05T09:00:00Z or "
                "2026-12-05T10:00:00+01:00)");
  }
  return *ms;
}

/// What the database says about itself, read inside the export's transaction.
struct HeldRange {
  std::uint64_t epoch = 0;
  std::string store_id;
  std::string till_id;
  std::uint64_t last_seq = 0;  ///< next_seq - 1: the last seq ever written in this epoch
  std::uint64_t acked_through = 0;
  std::optional<std::uint64_t> oldest_seq;  ///< nullopt: no event held
  std::int64_t oldest_received_ms = 0;
};

/// A failed SQLite call as the export reports it: "outbox PATH: <message>", with a hint when the
/// file is not a database.
std::string sqlite_message(const fs::path& path, const SqliteError& error) {
  std::string message = "outbox " + path.string() + ": " + error.message;
  if (error.is_corrupt()) {
    message += " (not a readable outbox database: damaged, or not an outbox.db)";
  }
  return message;
}

Result<HeldRange, std::string> read_held(Database& db, const fs::path& path) {
  using Held = Result<HeldRange, std::string>;
  const auto failed = [&](const SqliteError& error) {
    return Held::failure(sqlite_message(path, error));
  };
  auto meta =
      db.prepare("SELECT epoch, store_id, till_id, next_seq, acked_through FROM meta WHERE id = 1");
  if (!meta) {
    return failed(meta.error());
  }
  auto row = meta->step();
  if (!row) {
    return failed(row.error());
  }
  if (*row != Statement::Step::row) {
    return Held::failure("outbox " + path.string() + ": meta row missing (not an outbox database)");
  }
  HeldRange held;
  held.epoch = from_db(meta->column_int64(0));
  held.store_id = std::string(meta->column_text(1));
  held.till_id = std::string(meta->column_text(2));
  held.last_seq = from_db(meta->column_int64(3)) - 1;
  held.acked_through = from_db(meta->column_int64(4));
  meta->reset();

  // The events table's rowid: the first row is the lowest seq.
  auto oldest = db.prepare("SELECT seq, received_at_ms FROM events ORDER BY seq LIMIT 1");
  if (!oldest) {
    return failed(oldest.error());
  }
  row = oldest->step();
  if (!row) {
    return failed(row.error());
  }
  if (*row == Statement::Step::row) {
    held.oldest_seq = from_db(oldest->column_int64(0));
    held.oldest_received_ms = oldest->column_int64(1);
  }
  oldest->reset();
  return held;
}

std::string holds(const HeldRange& held) {
  if (!held.oldest_seq) {
    return "this database holds no events (its last seq was " + std::to_string(held.last_seq) + ")";
  }
  return "this database holds " + seq_span(*held.oldest_seq, held.last_seq);
}

/// Empty when the database holds all of `range`, else why not.
std::string not_held(const ExportRange& range, const HeldRange& held) {
  // Events were pruned when the oldest seq still held is not 1 (or none is held but some were
  // written): pruning deletes from the lowest seq up, so what is held is one unbroken span.
  const std::uint64_t first_held = held.oldest_seq.value_or(held.last_seq + 1);
  const bool pruned = first_held > 1;
  if (range.by == ExportRange::By::seq) {
    if (pruned && range.from_seq < first_held) {
      return "seqs " + seq_span(range.from_seq, std::min(range.to_seq, first_held - 1)) +
             " are no longer held (pruned after retention); " + holds(held);
    }
    if (range.to_seq > held.last_seq) {
      return "seqs " + seq_span(std::max(range.from_seq, held.last_seq + 1), range.to_seq) +
             " were never written (the last seq of epoch " + protocol::format_epoch(held.epoch) +
             " is " + std::to_string(held.last_seq) + "); " + holds(held);
    }
    return {};
  }
  if (pruned && (!held.oldest_seq || range.from_ms <= held.oldest_received_ms)) {
    std::string message = "events received from " + protocol::format_rfc3339_utc_ms(range.from_ms) +
                          " may be no longer held: seqs " + seq_span(1, first_held - 1) +
                          " were pruned after retention; " + holds(held);
    if (held.oldest_seq) {
      message += ", the oldest received at " +
                 protocol::format_rfc3339_utc_ms(held.oldest_received_ms) +
                 " (export from a later --from, or by seq)";
    }
    return message;
  }
  return {};
}

/// Opens the outbox read-only without creating anything beside it (see export_events).
Result<Database, std::string> open_read_only(const fs::path& path) {
  using Opened = Result<Database, std::string>;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return Opened::failure("outbox database " + path.string() +
                           " does not exist (is data_dir right? a dead till's disk must be "
                           "copied or mounted there)");
  }
  const bool has_wal = fs::exists(path.string() + "-wal", ec);
  if (has_wal && !fs::exists(path.string() + "-shm", ec)) {
    return Opened::failure("outbox " + path.string() + ": " + path.filename().string() +
                           "-wal is there without " + path.filename().string() +
                           "-shm, which SQLite would create; export from a copy of the whole "
                           "data_dir");
  }
  auto db = Database::open(path, {.read_only = true, .create = false, .immutable = !has_wal});
  if (!db) {
    return Opened::failure(sqlite_message(path, db.error()));
  }
  return std::move(*db);
}

/// True when `file` would be created in `dir` or below it (symbolic links resolved).
bool inside(const fs::path& file, const fs::path& dir) {
  std::error_code ec;
  const auto target = fs::weakly_canonical(fs::absolute(file, ec), ec);
  if (ec) {
    return false;
  }
  for (auto at = target.parent_path(); !at.empty(); at = at.parent_path()) {
    if (fs::equivalent(at, dir, ec)) {
      return true;
    }
    if (at == at.root_path()) {
      break;
    }
  }
  return false;
}

}  // namespace

Result<ExportRange> parse_export_range(const ExportRangeOptions& options) {
  const bool by_time = options.from || options.to;
  const bool by_seq = options.from_seq || options.to_seq;
  if (by_time && by_seq) {
    return fail(
        "--from/--to and --from-seq/--to-seq cannot be combined: give one range, by received_at "
        "time or by seq");
  }
  if (!by_time && !by_seq) {
    return fail(
        "give a range: --from T1 --to T2 (RFC 3339 received_at times) or --from-seq A --to-seq B");
  }
  ExportRange range;
  if (by_seq) {
    if (!options.from_seq || !options.to_seq) {
      return fail(options.from_seq ? "--from-seq needs --to-seq" : "--to-seq needs --from-seq");
    }
    auto from = parse_seq("--from-seq", *options.from_seq);
    if (!from) {
      return fail(from.error());
    }
    auto to = parse_seq("--to-seq", *options.to_seq);
    if (!to) {
      return fail(to.error());
    }
    if (*from > *to) {
      return fail("--from-seq " + std::to_string(*from) + " is after --to-seq " +
                  std::to_string(*to));
    }
    range.by = ExportRange::By::seq;
    range.from_seq = *from;
    range.to_seq = *to;
    return range;
  }
  if (!options.from || !options.to) {
    return fail(options.from ? "--from needs --to" : "--to needs --from");
  }
  auto from = parse_time("--from", *options.from);
  if (!from) {
    return fail(from.error());
  }
  auto to = parse_time("--to", *options.to);
  if (!to) {
    return fail(to.error());
  }
  if (*from > *to) {
    return fail("--from " + *options.from + " is after --to " + *options.to);
  }
  range.by = ExportRange::By::received_at;
  range.from_ms = *from;
  range.to_ms = *to;
  return range;
}

Result<ExportSummary> export_events(const fs::path& db_path, const std::string& store_id,
                                    const std::string& till_id, const ExportRange& range,
                                    const ExportLineSink& sink) {
  auto opened = open_read_only(db_path);
  if (!opened) {
    return fail(opened.error());
  }
  Database& db = *opened;
  // A deferred transaction only reads: one snapshot for the checks and the rows. Closing the
  // connection ends it, on every path.
  if (auto begun = db.exec("BEGIN"); !begun) {
    return fail(sqlite_message(db_path, begun.error()));
  }
  auto held = read_held(db, db_path);
  if (!held) {
    return fail(held.error());
  }
  if (held->store_id != store_id || held->till_id != till_id) {
    return fail("outbox " + db_path.string() + ": created for store " + held->store_id + " till " +
                held->till_id + ", not store " + store_id + " till " + till_id +
                " (the configuration's ids)");
  }
  if (auto why = not_held(range, *held); !why.empty()) {
    return fail(why);
  }

  const bool by_seq = range.by == ExportRange::By::seq;
  auto rows =
      db.prepare(by_seq ? "SELECT seq, payload FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq"
                        : "SELECT seq, payload FROM events WHERE received_at_ms BETWEEN ? AND ? "
                          "ORDER BY seq");
  if (!rows) {
    return fail(sqlite_message(db_path, rows.error()));
  }
  auto bound = by_seq ? rows->bind_all(to_db(range.from_seq), to_db(range.to_seq))
                      : rows->bind_all(range.from_ms, range.to_ms);
  if (!bound) {
    return fail(sqlite_message(db_path, bound.error()));
  }
  ExportSummary summary;
  summary.store_id = held->store_id;
  summary.till_id = held->till_id;
  summary.epoch = held->epoch;
  summary.acked_through = held->acked_through;
  for (;;) {
    auto stepped = rows->step();
    if (!stepped) {
      return fail(sqlite_message(db_path, stepped.error()));
    }
    if (*stepped == Statement::Step::done) {
      break;
    }
    const std::uint64_t seq = from_db(rows->column_int64(0));
    if (auto written = sink(rows->column_text(1)); !written) {
      return fail(written.error());
    }
    if (summary.events == 0) {
      summary.first_seq = seq;
    }
    summary.last_seq = seq;
    ++summary.events;
    if (seq > held->acked_through) {
      ++summary.unacknowledged;
    }
  }
  return summary;
}

std::string describe_export(const ExportSummary& summary, std::string_view destination) {
  std::string line = "exported " + std::to_string(summary.events) + " events of " +
                     summary.store_id + "/" + summary.till_id + " to " + std::string(destination);
  if (summary.events > 0) {
    line += ": seqs " + seq_span(summary.first_seq, summary.last_seq);
  } else {
    line += ": none in the range";
  }
  line += ", epoch " + protocol::format_epoch(summary.epoch) + ", " +
          std::to_string(summary.unacknowledged) +
          " not yet acknowledged (acknowledged through seq " +
          std::to_string(summary.acked_through) + ")";
  return line;
}

int export_command(const std::string& config_path, const ExportRangeOptions& range_options,
                   const std::string& out_path, std::ostream& out, std::ostream& err) {
  auto range = parse_export_range(range_options);
  if (!range) {
    err << "posagent export: " << range.error().message << "\n";
    return exit_usage;
  }
  const auto loaded = load_agent_config_for_command(config_path, err);
  if (!loaded) {
    return exit_usage;
  }
  const AgentConfig& config = *loaded;
  const fs::path data_dir(config.data_dir);
  const fs::path db_path = data_dir / "outbox.db";
  if (!out_path.empty() && inside(out_path, data_dir)) {
    err << "posagent export: --out " << out_path
        << " is in data_dir; export never writes there: choose another directory\n";
    return exit_usage;
  }

  std::optional<common::files::StagedFile> file;
  if (!out_path.empty()) {
    auto created = common::files::StagedFile::create(out_path, export_file_mode);
    if (!created) {
      err << "posagent export: " << created.error().message << "\n";
      return exit_failure;
    }
    file.emplace(std::move(*created));
  }
  const ExportLineSink to_file = [&file](std::string_view line) -> Status {
    if (auto written = file->write(line); !written) {
      return written;
    }
    return file->write("\n");
  };
  const ExportLineSink to_stream = [&out](std::string_view line) -> Status {
    out << line << '\n';
    if (!out) {
      return fail("stdout: write failed");
    }
    return {};
  };
  auto summary =
      export_events(db_path, config.store_id, config.till_id, *range, file ? to_file : to_stream);
  if (!summary) {
    err << "posagent export: " << summary.error().message << "\n";
    return exit_failure;
  }
  if (file) {
    if (auto committed = file->commit(); !committed) {
      err << "posagent export: " << committed.error().message << "\n";
      return exit_failure;
    }
  } else if (!out.flush()) {
    err << "posagent export: stdout: write failed\n";
    return exit_failure;
  }
  err << "posagent export: " << describe_export(*summary, out_path.empty() ? "stdout" : out_path)
      << "\n";
  return 0;
}

}  // namespace pos::agent
