// The PostgreSQL mark backend ([marks] type = "postgres"): marks shared by several collectors.
//
// The schema is in pg_schema.hpp, created or migrated at open. A group commit is one
// transaction: the leases of the fenced writes' partitions are read FOR SHARE (a collector taking
// a partition over waits for this transaction, and then reads the marks it wrote), writes whose
// token is no longer their partition's are left out and reported, then one upsert of every other
// mark from arrays (one round trip however many marks), never lowering one (GREATEST), then the
// deletes. PostgreSQL's default synchronous_commit makes the COMMIT durable before it returns. A
// lost connection fails the write in progress (the MarkStore reports it; the BatchProcessor
// pauses intake and retries) and is re-made at the next write. A COMMIT whose answer was lost
// may have committed: retrying it is harmless, the upsert is idempotent.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "mark_columns.hpp"
#include "pg_schema.hpp"
#include "pg_session.hpp"
#include "pos/collector/mark_store.hpp"

namespace pos::collector {
namespace {

using mark_columns::to_db;

std::vector<const std::string*> pointers(const std::vector<std::string>& items) {
  std::vector<const std::string*> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    out.push_back(&item);
  }
  return out;
}

class PostgresMarkBackend final : public MarkBackend {
 public:
  PostgresMarkBackend(std::string dsn, const std::string& server)
      : m_describe("mark store postgres " + server),
        m_session(std::move(dsn), m_describe, "poscollector") {}

  Status open() {
    if (auto connected = m_session.connect(); !connected) {
      return connected;
    }
    return pg::migrate_schema(m_session);
  }
  Result<std::vector<StoredMark>> load() override;
  Result<std::vector<std::size_t>> write(const std::vector<MarkWrite>& writes,
                                         const std::vector<MarkKey>& deletes,
                                         std::int64_t now_ms) override;
  std::string describe() const override { return m_describe; }

 private:
  /// The writes whose fence no longer holds, read under FOR SHARE locks on their partitions.
  Result<std::set<std::size_t>> fenced_off(const std::vector<MarkWrite>& writes);

  std::string m_describe;
  pg::Session m_session;
};

Result<std::vector<StoredMark>> PostgresMarkBackend::load() {
  auto rows =
      m_session.exec("SELECT store_id, till_id, epoch, through_seq, updated_ms FROM pos_marks", {},
                     PGRES_TUPLES_OK);
  if (!rows) {
    return fail(rows.error());
  }
  return pg::read_marks(rows->get(), m_describe);
}

Result<std::set<std::size_t>> PostgresMarkBackend::fenced_off(
    const std::vector<MarkWrite>& writes) {
  std::set<std::size_t> out;
  std::vector<std::int64_t> partitions;
  for (const auto& w : writes) {
    if (w.fence.token != 0) {
      partitions.push_back(w.fence.partition);
    }
  }
  if (partitions.empty()) {
    return out;
  }
  std::ranges::sort(partitions);
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  auto rows = m_session.exec(
      "SELECT partition, token FROM pos_partitions WHERE partition = ANY($1::integer[]) "
      "ORDER BY partition FOR SHARE",
      {pg::int_array(partitions)}, PGRES_TUPLES_OK);
  if (!rows) {
    return fail(rows.error());
  }
  std::map<std::int64_t, std::int64_t> tokens;
  for (int i = 0; i < PQntuples(rows->get()); ++i) {
    auto partition = pg::parse_int64(PQgetvalue(rows->get(), i, 0));
    auto token = pg::parse_int64(PQgetvalue(rows->get(), i, 1));
    if (!partition || !token) {
      return fail(m_session.error("pos_partitions: a row with a bad number"));
    }
    tokens[*partition] = *token;
  }
  for (std::size_t i = 0; i < writes.size(); ++i) {
    const Fence& fence = writes[i].fence;
    if (fence.token == 0) {
      continue;
    }
    const auto it = tokens.find(fence.partition);
    if (it == tokens.end() || it->second != static_cast<std::int64_t>(fence.token)) {
      out.insert(i);
    }
  }
  return out;
}

Result<std::vector<std::size_t>> PostgresMarkBackend::write(const std::vector<MarkWrite>& writes,
                                                            const std::vector<MarkKey>& deletes,
                                                            std::int64_t now_ms) {
  for (const auto& w : writes) {
    if (w.through_seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return fail(m_session.error("seq " + std::to_string(w.through_seq) + " is beyond a bigint"));
    }
  }
  std::vector<std::size_t> refused;
  const Status done = m_session.in_transaction([&]() -> Status {
    auto fenced = fenced_off(writes);
    if (!fenced) {
      return fail(fenced.error());
    }
    refused.assign(fenced->begin(), fenced->end());
    // One row per key (an upsert may not touch a row twice), the highest seq of the group.
    std::map<std::tuple<std::string_view, std::string_view, std::uint64_t>, std::uint64_t> highest;
    for (std::size_t i = 0; i < writes.size(); ++i) {
      if (fenced->contains(i)) {
        continue;
      }
      const auto& w = writes[i];
      auto& seq = highest[{w.key.store_id, w.key.till_id, w.key.epoch}];
      seq = std::max(seq, w.through_seq);
    }
    if (!highest.empty()) {
      std::vector<std::string> stores;
      std::vector<std::string> tills;
      std::vector<std::int64_t> epochs;
      std::vector<std::int64_t> seqs;
      for (const auto& [key, seq] : highest) {
        stores.emplace_back(std::get<0>(key));
        tills.emplace_back(std::get<1>(key));
        epochs.push_back(to_db(std::get<2>(key)));
        seqs.push_back(static_cast<std::int64_t>(seq));
      }
      auto upserted = m_session.exec(
          "INSERT INTO pos_marks(store_id, till_id, epoch, through_seq, updated_ms) "
          "SELECT s, t, e, q, $5::bigint FROM unnest($1::text[], $2::text[], $3::bigint[], "
          "$4::bigint[]) AS u(s, t, e, q) "
          "ON CONFLICT (store_id, till_id, epoch) DO UPDATE SET "
          "through_seq = GREATEST(pos_marks.through_seq, EXCLUDED.through_seq), "
          "updated_ms = EXCLUDED.updated_ms",
          {pg::text_array(pointers(stores)), pg::text_array(pointers(tills)), pg::int_array(epochs),
           pg::int_array(seqs), std::to_string(now_ms)},
          PGRES_COMMAND_OK);
      if (!upserted) {
        return fail(upserted.error());
      }
    }
    if (!deletes.empty()) {
      std::vector<const std::string*> delete_stores;
      std::vector<const std::string*> delete_tills;
      std::vector<std::int64_t> delete_epochs;
      for (const auto& key : deletes) {
        delete_stores.push_back(&key.store_id);
        delete_tills.push_back(&key.till_id);
        delete_epochs.push_back(to_db(key.epoch));
      }
      auto deleted = m_session.exec(
          "DELETE FROM pos_marks WHERE (store_id, till_id, epoch) IN "
          "(SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]))",
          {pg::text_array(delete_stores), pg::text_array(delete_tills),
           pg::int_array(delete_epochs)},
          PGRES_COMMAND_OK);
      if (!deleted) {
        return fail(deleted.error());
      }
    }
    return {};
  });
  if (!done) {
    return fail(done.error());
  }
  return refused;
}

}  // namespace

Result<std::unique_ptr<MarkBackend>> open_postgres_marks(const std::string& dsn) {
  auto server = pg::server_of(dsn, "marks.dsn");
  if (!server) {
    return fail(server.error());
  }
  auto backend = std::make_unique<PostgresMarkBackend>(dsn, *server);
  if (auto opened = backend->open(); !opened) {
    return fail(opened.error());
  }
  return std::unique_ptr<MarkBackend>(std::move(backend));
}

}  // namespace pos::collector
