#include "pos/collector/kpi_snapshot_store.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "pos/common/sqlite.hpp"

namespace pos::collector {
namespace {

using common::Database;
using common::SqliteError;
using common::Statement;

// Files written before the store had a version have the table and user_version 0: the schema
// (IF NOT EXISTS) is "created" again, a no-op, and gets the version.
constexpr std::int64_t schema_version = 1;

constexpr std::string_view schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS kpi_snapshot(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  data TEXT NOT NULL,
  saved_ms INTEGER NOT NULL);
)sql";

}  // namespace

struct KpiSnapshotStore::Db {
  std::filesystem::path path;
  Database db;
  Statement upsert;

  Error prefixed(const SqliteError& error) const {
    return Error{"kpi snapshot store " + path.string() + ": " + error.message};
  }
};

Result<std::unique_ptr<KpiSnapshotStore>> KpiSnapshotStore::open(
    const std::filesystem::path& path) {
  auto db = std::make_unique<Db>();
  db->path = path;
  common::DatabaseOptions options;
  options.name = "kpi snapshot store";
  options.busy_timeout_ms = 1000;
  options.synchronous_full = false;  // the live view only, never the marks (docs/collector.md)
  options.schema_version = schema_version;
  options.create = [](Database& created) -> Status {
    if (auto made = created.exec(schema_sql); !made) {
      return fail(made.error().to_error());
    }
    return {};
  };
  auto opened = common::open_database(path, options);
  if (!opened) {
    return fail(opened.error());
  }
  db->db = std::move(opened->db);
  auto select = db->db.prepare("SELECT data FROM kpi_snapshot WHERE id = 1");
  if (!select) {
    return fail(db->prefixed(select.error()));
  }
  std::optional<std::string> loaded;
  auto row = select->step();
  if (!row) {
    return fail(db->prefixed(row.error()));
  }
  if (*row == Statement::Step::row) {
    loaded = std::string(select->column_text(0));
  }
  select->reset();
  auto upsert = db->db.prepare(
      "INSERT INTO kpi_snapshot(id, data, saved_ms) VALUES (1, ?, ?) "
      "ON CONFLICT(id) DO UPDATE SET data = excluded.data, saved_ms = excluded.saved_ms");
  if (!upsert) {
    return fail(db->prefixed(upsert.error()));
  }
  db->upsert = std::move(*upsert);
  return std::unique_ptr<KpiSnapshotStore>(new KpiSnapshotStore(std::move(db), std::move(loaded)));
}

KpiSnapshotStore::KpiSnapshotStore(std::unique_ptr<Db> db, std::optional<std::string> loaded)
    : m_db(std::move(db)),
      m_loaded(std::move(loaded)),
      m_writer("kpi snapshot store", [this](Snapshot s) { return write(std::move(s)); }) {}

KpiSnapshotStore::~KpiSnapshotStore() {
  stop();
}

void KpiSnapshotStore::save(std::string snapshot, std::int64_t now_ms) {
  m_writer.update([&](Snapshot& pending) {
    pending.emplace(std::move(snapshot), now_ms);  // a newer snapshot replaces one not written
    return true;
  });
}

Status KpiSnapshotStore::write(Snapshot snapshot) {
  if (!snapshot) {
    return {};
  }
  auto written = m_db->upsert.bind_all(snapshot->first, snapshot->second);
  if (written) {
    written = m_db->upsert.run();
  }
  if (!written) {
    return fail(m_db->prefixed(written.error()));
  }
  return {};
}

void KpiSnapshotStore::stop() {
  m_writer.stop();
}

std::uint64_t KpiSnapshotStore::saved() const {
  return m_writer.saved();
}

std::uint64_t KpiSnapshotStore::failures() const {
  return m_writer.failures();
}

}  // namespace pos::collector
