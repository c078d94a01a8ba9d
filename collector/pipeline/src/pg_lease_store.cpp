// The PostgreSQL lease store (schema in pg_schema.hpp). A round is one transaction on its own
// connection; the server's clock (now()) is the only one that decides expiry, so collectors'
// clocks need not agree. A claim takes free or expired partitions with FOR UPDATE SKIP LOCKED
// (collectors claiming together never wait on each other) and bumps each one's token: a mark
// commit still carrying the old token is refused (pg_mark_backend.cpp), which is what stops a
// collector that lost its lease from advancing a mark.

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "pg_schema.hpp"
#include "pg_session.hpp"
#include "pos/collector/leases.hpp"

namespace pos::collector {
namespace {

/// Heartbeats of collectors gone this long are deleted.
constexpr auto heartbeat_retention = std::chrono::hours(24);

class PostgresLeaseStore final : public LeaseStore {
 public:
  PostgresLeaseStore(std::string dsn, const std::string& server, std::string collector_id,
                     std::chrono::milliseconds ttl)
      : m_collector_id(std::move(collector_id)),
        m_ttl_ms(std::to_string(ttl.count())),
        m_session(std::move(dsn), "leases postgres " + server, "poscollector-leases") {}

  Status open() {
    if (auto connected = m_session.connect(); !connected) {
      return connected;
    }
    return pg::migrate_schema(m_session);
  }

  Result<LeaseRound> run_round(const std::vector<std::uint32_t>& release) override {
    LeaseRound round;
    const Status done =
        m_session.in_transaction([&]() -> Status { return round_body(release, round); });
    if (!done) {
      return fail(done.error());
    }
    return round;
  }

  Status release_all() override {
    return m_session.in_transaction([&]() -> Status {
      if (auto freed = m_session.exec(
              "UPDATE pos_partitions SET owner = NULL, expires_at = 'epoch' WHERE owner = $1",
              {m_collector_id}, PGRES_COMMAND_OK);
          !freed) {
        return fail(freed.error());
      }
      if (auto gone = m_session.exec("DELETE FROM pos_collectors WHERE collector_id = $1",
                                     {m_collector_id}, PGRES_COMMAND_OK);
          !gone) {
        return fail(gone.error());
      }
      return {};
    });
  }

 private:
  Status round_body(const std::vector<std::uint32_t>& release, LeaseRound& round);
  /// Reads (partition, token) rows into `out`.
  Status read_fences(const PGresult* rows, std::vector<Fence>& out) const;

  std::string m_collector_id;
  std::string m_ttl_ms;
  pg::Session m_session;
};

Status PostgresLeaseStore::read_fences(const PGresult* rows, std::vector<Fence>& out) const {
  for (int i = 0; i < PQntuples(rows); ++i) {
    auto partition = pg::parse_int64(PQgetvalue(rows, i, 0));
    auto token = pg::parse_int64(PQgetvalue(rows, i, 1));
    if (!partition || !token || *partition < 0 || *token <= 0) {
      return fail(m_session.error("pos_partitions: a row with a bad number"));
    }
    out.push_back(
        Fence{static_cast<std::uint32_t>(*partition), static_cast<std::uint64_t>(*token)});
  }
  return {};
}

Status PostgresLeaseStore::round_body(const std::vector<std::uint32_t>& release,
                                      LeaseRound& round) {
  const std::string expiry = "now() + $2::bigint * interval '1 millisecond'";
  if (auto beat = m_session.exec(
          "INSERT INTO pos_collectors(collector_id, expires_at) VALUES ($1, " + expiry +
              ") ON CONFLICT (collector_id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
          {m_collector_id, m_ttl_ms}, PGRES_COMMAND_OK);
      !beat) {
    return fail(beat.error());
  }
  if (auto swept = m_session.exec(
          "DELETE FROM pos_collectors WHERE expires_at < now() - $1::bigint * interval '1 second'",
          {std::to_string(std::chrono::seconds(heartbeat_retention).count())}, PGRES_COMMAND_OK);
      !swept) {
    return fail(swept.error());
  }
  auto live = m_session.exec("SELECT count(*) FROM pos_collectors WHERE expires_at > now()", {},
                             PGRES_TUPLES_OK);
  if (!live) {
    return fail(live.error());
  }
  auto live_count = pg::parse_int64(PQgetvalue(live->get(), 0, 0));
  if (!live_count) {
    return fail(m_session.error("pos_collectors: bad count"));
  }
  round.live_collectors = static_cast<std::size_t>(std::max<std::int64_t>(*live_count, 1));
  if (!release.empty()) {
    std::vector<std::int64_t> ids(release.begin(), release.end());
    if (auto freed = m_session.exec("UPDATE pos_partitions SET owner = NULL, expires_at = 'epoch' "
                                    "WHERE owner = $1 AND partition = ANY($2::integer[])",
                                    {m_collector_id, pg::int_array(ids)}, PGRES_COMMAND_OK);
        !freed) {
      return fail(freed.error());
    }
  }
  auto renewed = m_session.exec("UPDATE pos_partitions SET expires_at = " + expiry +
                                    " WHERE owner = $1 RETURNING partition, token",
                                {m_collector_id, m_ttl_ms}, PGRES_TUPLES_OK);
  if (!renewed) {
    return fail(renewed.error());
  }
  if (auto read = read_fences(renewed->get(), round.owned); !read) {
    return read;
  }
  const std::size_t fair = (partition_count + round.live_collectors - 1) / round.live_collectors;
  if (round.owned.size() < fair) {
    auto claimed = m_session.exec(
        "UPDATE pos_partitions SET owner = $1, token = token + 1, expires_at = " + expiry +
            " WHERE partition IN (SELECT partition FROM pos_partitions WHERE owner IS NULL OR "
            "expires_at < now() ORDER BY partition LIMIT $3::integer FOR UPDATE SKIP LOCKED) "
            "RETURNING partition, token",
        {m_collector_id, m_ttl_ms, std::to_string(fair - round.owned.size())}, PGRES_TUPLES_OK);
    if (!claimed) {
      return fail(claimed.error());
    }
    std::vector<Fence> taken;
    if (auto read = read_fences(claimed->get(), taken); !read) {
      return read;
    }
    for (const Fence& fence : taken) {
      round.acquired.push_back(fence.partition);
      round.owned.push_back(fence);
    }
  }
  round.excess = round.owned.size() > fair ? round.owned.size() - fair : 0;
  if (!round.acquired.empty()) {
    // Read after the claim, in the same transaction: a commit of the previous owner that held
    // its partition FOR SHARE finished before our UPDATE could take the row, so its marks are
    // visible here; a later one carries the old token and is refused.
    auto rows =
        m_session.exec("SELECT store_id, till_id, epoch, through_seq, updated_ms FROM pos_marks",
                       {}, PGRES_TUPLES_OK);
    if (!rows) {
      return fail(rows.error());
    }
    auto marks = pg::read_marks(rows->get(), "leases");
    if (!marks) {
      return fail(marks.error());
    }
    const std::unordered_set<std::uint32_t> acquired(round.acquired.begin(), round.acquired.end());
    for (auto& mark : *marks) {
      if (acquired.contains(partition_of(mark.key.store_id, mark.key.till_id))) {
        round.acquired_marks.push_back(std::move(mark));
      }
    }
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<LeaseStore>> open_postgres_leases(const std::string& dsn,
                                                         std::string collector_id,
                                                         std::chrono::milliseconds ttl) {
  auto server = pg::server_of(dsn, "marks.dsn");
  if (!server) {
    return fail(server.error());
  }
  auto store = std::make_unique<PostgresLeaseStore>(dsn, *server, std::move(collector_id), ttl);
  if (auto opened = store->open(); !opened) {
    return fail(opened.error());
  }
  return std::unique_ptr<LeaseStore>(std::move(store));
}

}  // namespace pos::collector
