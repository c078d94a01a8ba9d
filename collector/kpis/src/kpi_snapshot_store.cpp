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
      m_worker(std::make_unique<common::WorkerThread>("kpi snapshot store", 1)) {}

KpiSnapshotStore::~KpiSnapshotStore() {
  stop();
}

void KpiSnapshotStore::save(std::string snapshot, std::int64_t now_ms) {
  std::lock_guard lock(m_mutex);
  if (m_stopping) {
    return;
  }
  m_pending.emplace(std::move(snapshot), now_ms);
  if (!m_write_queued) {
    // At most one write waits: it takes the newest snapshot when it runs.
    m_write_queued = m_worker->post([this] { write_pending(); });
  }
}

void KpiSnapshotStore::write_pending() {
  std::optional<std::pair<std::string, std::int64_t>> pending;
  {
    std::lock_guard lock(m_mutex);
    m_write_queued = false;
    pending = std::exchange(m_pending, std::nullopt);
  }
  if (!pending) {
    return;
  }
  auto written = m_db->upsert.bind_all(pending->first, pending->second);
  if (written) {
    written = m_db->upsert.run();
  }
  std::lock_guard lock(m_mutex);
  if (written) {
    ++m_saved;
  } else {
    ++m_failures;
    spdlog::error("{}", m_db->prefixed(written.error()).message);
  }
}

void KpiSnapshotStore::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_worker->stop();
}

std::uint64_t KpiSnapshotStore::saved() const {
  std::lock_guard lock(m_mutex);
  return m_saved;
}

std::uint64_t KpiSnapshotStore::failures() const {
  std::lock_guard lock(m_mutex);
  return m_failures;
}

}  // namespace pos::collector
