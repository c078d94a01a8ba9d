#pragma once
// `posagent export`: a range of the events a till's outbox database still holds, as NDJSON (the
// stored SPEC batch payload lines), for a dead till or a data team that lost a day downstream.
// Reads a copied database or a running agent's, read-only, without the data_dir lock.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::agent {

/// Which events to export, both bounds inclusive: by seq, or by the agent's received_at stamp.
struct ExportRange {
  enum class By { seq, received_at };
  By by = By::seq;
  std::uint64_t from_seq = 0;
  std::uint64_t to_seq = 0;
  std::int64_t from_ms = 0;  ///< UNIX milliseconds
  std::int64_t to_ms = 0;
};

/// The command line's range options as given (unset: not given).
struct ExportRangeOptions {
  std::optional<std::string> from = {};  ///< --from, RFC 3339
  std::optional<std::string> to = {};    ///< --to, RFC 3339
  std::optional<std::string> from_seq = {};
  std::optional<std::string> to_seq = {};
};

/// Checks the options: exactly one form (--from/--to or --from-seq/--to-seq, both bounds given),
/// RFC 3339 timestamps (`--to 2026-12-05T18:00:00+01:00`; fractions beyond milliseconds dropped),
/// seqs >= 1, from <= to. Fails with a message naming the option.
Result<ExportRange> parse_export_range(const ExportRangeOptions& options);

/// What an export wrote.
struct ExportSummary {
  std::string store_id;
  std::string till_id;
  std::uint64_t epoch = 0;
  std::uint64_t events = 0;
  std::uint64_t first_seq = 0;  ///< 0 when no event was written
  std::uint64_t last_seq = 0;
  std::uint64_t unacknowledged = 0;  ///< written events with seq > the database's acked_through
  std::uint64_t acked_through = 0;
};

/// Receives one payload line at a time (without its newline); a failure stops the export.
using ExportLineSink = std::function<Status(std::string_view line)>;

/// Streams the events of `range` held in the outbox database at `db_path` to `sink` in seq
/// order, one statement step at a time (memory does not grow with the range), from one read
/// snapshot. Returns what was written. The file is opened read-only: with `-wal` and `-shm` files
/// present (a running agent, or one that died) as a WAL reader, which never blocks the writer;
/// without a `-wal` file (a cleanly stopped agent) as immutable, so that SQLite creates no file
/// beside it. Never takes the data_dir lock and never writes the database or its WAL. Fails when
/// the file is missing, not an outbox database, created for another store/till than
/// `store_id`/`till_id`, when a `-wal` file has no `-shm` (SQLite would create it), and when the
/// range is not held: seqs pruned after retention ("seqs 1..499 are no longer held (pruned after
/// retention); this database holds 500..9000"), a time range starting at or before the oldest held
/// event's received_at when events were pruned, or seqs beyond the last one written.
Result<ExportSummary> export_events(const std::filesystem::path& db_path,
                                    const std::string& store_id, const std::string& till_id,
                                    const ExportRange& range, const ExportLineSink& sink);

/// The one-line summary printed after an export, naming where it went (`destination`).
std::string describe_export(const ExportSummary& summary, std::string_view destination);

/// `posagent export --config FILE (--from T1 --to T2 | --from-seq A --to-seq B) [--out FILE]`:
/// reads store_id, till_id and data_dir from the configuration (TLS files need not exist: the
/// config of a dead till, read elsewhere), exports `{data_dir}/outbox.db` to `out_path`
/// (common::files::StagedFile: complete or absent; refused inside data_dir) or, when empty, to
/// `out`, then prints describe_export to `err`. Returns 0, 2 for a usage or configuration error,
/// 1 when the database cannot be read or the range is not held (nothing is left under out_path).
int export_command(const std::string& config_path, const ExportRangeOptions& range_options,
                   const std::string& out_path, std::ostream& out, std::ostream& err);

}  // namespace pos::agent
