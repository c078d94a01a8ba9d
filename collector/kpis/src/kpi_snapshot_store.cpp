#include "pos/collector/kpi_snapshot_store.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "pos/common/sqlite.hpp"

namespace pos::collector {
namespace {

using common::Database;
using common::SqliteError;
using common::Statement;

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
  auto opened = Database::open(path, {.read_only = false, .create = true, .busy_timeout_ms = 1000});
  if (!opened) {
    return fail(opened.error().to_error());
  }
  db->db = std::move(*opened);
  if (auto set = db->db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL"); !set) {
    return fail(db->prefixed(set.error()));
  }
  if (auto created = db->db.exec(schema_sql); !created) {
    return fail(db->prefixed(created.error()));
  }
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
    : m_db(std::move(db)), m_loaded(std::move(loaded)) {
  m_writer = std::thread([this] { run_writer(); });
}

KpiSnapshotStore::~KpiSnapshotStore() {
  stop();
}

void KpiSnapshotStore::save(std::string snapshot, std::int64_t now_ms) {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) {
      return;
    }
    m_pending.emplace(std::move(snapshot), now_ms);
  }
  m_wake.notify_one();
}

void KpiSnapshotStore::run_writer() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_wake.wait(lock, [this] { return m_stopping || m_pending.has_value(); });
    if (!m_pending) {
      return;  // stopping with nothing left
    }
    auto [data, now_ms] = std::move(*m_pending);
    m_pending.reset();
    lock.unlock();
    auto written = m_db->upsert.bind_all(data, now_ms);
    if (written) {
      written = m_db->upsert.run();
    }
    lock.lock();
    if (written) {
      ++m_saved;
    } else {
      ++m_failures;
      spdlog::error("{}", m_db->prefixed(written.error()).message);
    }
  }
}

void KpiSnapshotStore::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_writer.joinable()) {
    m_writer.join();
  }
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
