#pragma once
// Per-till pipeline counters shared between collectors ([marks] type = "postgres"): each
// collector writes its own cumulative counts and reads the sums of the others', so every
// collector's fleet view shows fleet-wide totals (docs/collector.md, "Several collectors").
// The pipeline only stores the rows; the fleet decides what they mean (fleet_sharing.hpp).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::collector {

/// One till's cumulative counts as one collector (or, read back, the other collectors together)
/// made them.
struct SharedTillCounts {
  std::string store_id;
  std::string till_id;
  std::uint64_t published = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t rejected = 0;
  std::uint64_t gaps = 0;
  std::int64_t last_ack_ms = 0;  ///< 0: never acked
  bool operator==(const SharedTillCounts&) const = default;
};

/// The shared counter table. Blocking; used from one thread at a time.
class SharedCounterStore {
 public:
  virtual ~SharedCounterStore() = default;
  /// Upserts this collector's rows (one transaction). Fails naming the database; nothing changed
  /// then.
  virtual Status write(const std::vector<SharedTillCounts>& rows) = 0;
  /// This collector's own rows, at most `limit` (what it shared before a restart).
  virtual Result<std::vector<SharedTillCounts>> read_own(std::size_t limit) = 0;
  /// The other collectors' rows summed per till (last_ack_ms: the latest), the most recently
  /// updated tills first, at most `limit` tills.
  virtual Result<std::vector<SharedTillCounts>> read_others(std::size_t limit) = 0;
};

/// The table pos_fleet_counters in the PostgreSQL database at `dsn`, written as `collector_id`.
/// Creates or checks the schema. Fails naming the server (never the password).
Result<std::unique_ptr<SharedCounterStore>> open_postgres_shared_counters(const std::string& dsn,
                                                                          std::string collector_id);

}  // namespace pos::collector
