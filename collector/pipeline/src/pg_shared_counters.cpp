// The PostgreSQL shared counter store (schema in pg_schema.hpp, table pos_fleet_counters). A
// write is one upsert of array parameters (one round trip for the whole round); a read sums the
// other collectors' rows per till on the server.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pg_schema.hpp"
#include "pg_session.hpp"
#include "pos/collector/shared_counters.hpp"

namespace pos::collector {
namespace {

/// A count as a bigint (counts never come near 2^63; clamped rather than wrapped).
std::int64_t to_db(std::uint64_t value) {
  return static_cast<std::int64_t>(
      std::min<std::uint64_t>(value, std::numeric_limits<std::int64_t>::max()));
}

class PostgresSharedCounters final : public SharedCounterStore {
 public:
  PostgresSharedCounters(std::string dsn, const std::string& server, std::string collector_id)
      : m_collector_id(std::move(collector_id)),
        m_session(std::move(dsn), "fleet counters postgres " + server,
                  "poscollector-fleet-counters") {}

  Status open() {
    if (auto connected = m_session.connect(); !connected) {
      return connected;
    }
    return pg::migrate_schema(m_session);
  }

  Status write(const std::vector<SharedTillCounts>& rows) override {
    if (rows.empty()) {
      return {};
    }
    std::vector<const std::string*> stores;
    std::vector<const std::string*> tills;
    std::vector<std::int64_t> published;
    std::vector<std::int64_t> duplicates;
    std::vector<std::int64_t> rejected;
    std::vector<std::int64_t> gaps;
    std::vector<std::int64_t> acks;
    for (const auto& row : rows) {
      stores.push_back(&row.store_id);
      tills.push_back(&row.till_id);
      published.push_back(to_db(row.published));
      duplicates.push_back(to_db(row.duplicates));
      rejected.push_back(to_db(row.rejected));
      gaps.push_back(to_db(row.gaps));
      acks.push_back(row.last_ack_ms);
    }
    // One till named twice in a round would make ON CONFLICT fail; FleetState never does that.
    auto done = m_session.exec(
        "INSERT INTO pos_fleet_counters(store_id, till_id, collector_id, published, duplicates, "
        "rejected, gaps, last_ack_ms, updated_at) SELECT s, t, $1, p, d, r, g, a, now() FROM "
        "unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], "
        "$8::bigint[]) AS u(s, t, p, d, r, g, a) ON CONFLICT (store_id, till_id, collector_id) "
        "DO UPDATE SET published = EXCLUDED.published, duplicates = EXCLUDED.duplicates, "
        "rejected = EXCLUDED.rejected, gaps = EXCLUDED.gaps, last_ack_ms = EXCLUDED.last_ack_ms, "
        "updated_at = now()",
        {m_collector_id, pg::text_array(stores), pg::text_array(tills), pg::int_array(published),
         pg::int_array(duplicates), pg::int_array(rejected), pg::int_array(gaps),
         pg::int_array(acks)},
        PGRES_COMMAND_OK);
    if (!done) {
      return fail(done.error());
    }
    return {};
  }

  Result<std::vector<SharedTillCounts>> read_own(std::size_t limit) override {
    return read_rows(
        "SELECT store_id, till_id, published, duplicates, rejected, gaps, last_ack_ms FROM "
        "pos_fleet_counters WHERE collector_id = $1 ORDER BY updated_at DESC, store_id, till_id "
        "LIMIT $2",
        limit);
  }

  Result<std::vector<SharedTillCounts>> read_others(std::size_t limit) override {
    return read_rows(
        "SELECT store_id, till_id, sum(published)::bigint, sum(duplicates)::bigint, "
        "sum(rejected)::bigint, sum(gaps)::bigint, max(last_ack_ms) FROM pos_fleet_counters "
        "WHERE collector_id <> $1 GROUP BY store_id, till_id ORDER BY max(updated_at) DESC, "
        "store_id, till_id LIMIT $2",
        limit);
  }

 private:
  /// Rows (store_id, till_id, published, duplicates, rejected, gaps, last_ack_ms) of `sql`, whose
  /// parameters are the collector id and `limit`.
  Result<std::vector<SharedTillCounts>> read_rows(const std::string& sql, std::size_t limit) {
    auto rows = m_session.exec(sql, {m_collector_id, std::to_string(limit)}, PGRES_TUPLES_OK);
    if (!rows) {
      return fail(rows.error());
    }
    const PGresult* r = rows->get();
    std::vector<SharedTillCounts> out;
    out.reserve(static_cast<std::size_t>(PQntuples(r)));
    for (int i = 0; i < PQntuples(r); ++i) {
      std::int64_t values[5] = {};
      for (int column = 0; column < 5; ++column) {
        auto value = pg::parse_int64(PQgetvalue(r, i, 2 + column));
        if (!value || (column < 4 && *value < 0)) {
          return fail(m_session.error("pos_fleet_counters: a row with a bad number"));
        }
        values[column] = *value;
      }
      out.push_back(SharedTillCounts{
          PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), static_cast<std::uint64_t>(values[0]),
          static_cast<std::uint64_t>(values[1]), static_cast<std::uint64_t>(values[2]),
          static_cast<std::uint64_t>(values[3]), values[4]});
    }
    return out;
  }

  std::string m_collector_id;
  pg::Session m_session;
};

}  // namespace

Result<std::unique_ptr<SharedCounterStore>> open_postgres_shared_counters(
    const std::string& dsn, std::string collector_id) {
  auto server = pg::server_of(dsn, "marks.dsn");
  if (!server) {
    return fail(server.error());
  }
  auto store = std::make_unique<PostgresSharedCounters>(dsn, *server, std::move(collector_id));
  if (auto opened = store->open(); !opened) {
    return fail(opened.error());
  }
  return std::unique_ptr<SharedCounterStore>(std::move(store));
}

}  // namespace pos::collector
