#pragma once

// Private to the pipeline: the PostgreSQL schema the collectors share, one place for both the
// mark backend and the lease store.
//   pos_schema(component, version): "marks" 1, "leases" 1.
//   pos_marks(store_id, till_id, epoch, through_seq, updated_ms), primary key (store_id,
//             till_id, epoch); epoch is the 64-bit value bit-cast into a bigint.
//   pos_partitions(partition, owner, token, expires_at): one row per partition (partition_count
//             rows, made at creation); owner NULL when free; token grows at each change of owner.
//   pos_collectors(collector_id, expires_at): heartbeats, to count the live collectors.
//   pos_fleet_counters(store_id, till_id, collector_id, published, duplicates, rejected, gaps,
//             last_ack_ms, updated_at): each collector's cumulative per-till counts, primary key
//             (store_id, till_id, collector_id) ("fleet_counters" 1, shared_counters.hpp).

#include <cstddef>
#include <string>
#include <vector>

#include "mark_columns.hpp"
#include "pg_session.hpp"
#include "pos/collector/mark_store.hpp"
#include "pos/collector/ownership.hpp"

namespace pos::collector::pg {

/// Creates or checks every component of the schema.
inline Status migrate_schema(Session& session) {
  if (auto marks = session.migrate(
          "marks", 1,
          {"CREATE TABLE IF NOT EXISTS pos_marks(store_id text NOT NULL, till_id text NOT NULL, "
           "epoch bigint NOT NULL, through_seq bigint NOT NULL, updated_ms bigint NOT NULL, "
           "PRIMARY KEY (store_id, till_id, epoch))"});
      !marks) {
    return marks;
  }
  if (auto leases = session.migrate(
          "leases", 1,
          {"CREATE TABLE IF NOT EXISTS pos_partitions(partition integer PRIMARY KEY, owner text, "
           "token bigint NOT NULL DEFAULT 0, expires_at timestamptz NOT NULL DEFAULT 'epoch')",
           "INSERT INTO pos_partitions(partition) SELECT generate_series(0, " +
               std::to_string(partition_count - 1) + ") ON CONFLICT DO NOTHING",
           "CREATE TABLE IF NOT EXISTS pos_collectors(collector_id text PRIMARY KEY, expires_at "
           "timestamptz NOT NULL)"});
      !leases) {
    return leases;
  }
  return session.migrate(
      "fleet_counters", 1,
      {"CREATE TABLE IF NOT EXISTS pos_fleet_counters(store_id text NOT NULL, till_id text NOT "
       "NULL, collector_id text NOT NULL, published bigint NOT NULL, duplicates bigint NOT NULL, "
       "rejected bigint NOT NULL, gaps bigint NOT NULL, last_ack_ms bigint NOT NULL, updated_at "
       "timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store_id, till_id, collector_id))"});
}

/// The rows of `SELECT store_id, till_id, epoch, through_seq, updated_ms FROM pos_marks ...`.
/// Fails naming `describe` on a malformed row.
inline Result<std::vector<StoredMark>> read_marks(const PGresult* rows,
                                                  const std::string& describe) {
  std::vector<StoredMark> out;
  const int count = PQntuples(rows);
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto epoch = parse_int64(PQgetvalue(rows, i, 2));
    auto seq = parse_int64(PQgetvalue(rows, i, 3));
    auto updated = parse_int64(PQgetvalue(rows, i, 4));
    if (!epoch || !seq || !updated || *seq < 0) {
      return fail(describe + ": pos_marks: a row with a bad number");
    }
    out.push_back(StoredMark{
        MarkKey{PQgetvalue(rows, i, 0), PQgetvalue(rows, i, 1), mark_columns::from_db(*epoch)},
        static_cast<std::uint64_t>(*seq), *updated});
  }
  return out;
}

}  // namespace pos::collector::pg
