#include "pos/collector/fleet_store.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "pos/common/sqlite.hpp"

namespace pos::collector {
namespace {

using common::Database;
using common::SqliteError;
using common::Statement;
using common::Transaction;

constexpr std::string_view schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS fleet(
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  data TEXT NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (store_id, till_id)) WITHOUT ROWID;
)sql";

}  // namespace

struct FleetStore::Db {
  std::filesystem::path path;
  Database db;
  Statement upsert;

  Error prefixed(const SqliteError& error) const {
    return Error{"fleet store " + path.string() + ": " + error.message};
  }
};

namespace {

/// Copies an older collector's rows (its collector.db's `fleet` table) into an empty store.
void import_rows(FleetStore::Db& db, const std::filesystem::path& from) {
  std::error_code ec;
  if (from.empty() || !std::filesystem::exists(from, ec)) {
    return;
  }
  auto count = db.db.prepare("SELECT count(*) FROM fleet");
  if (!count) {
    return;
  }
  if (auto row = count->step();
      !row || *row != Statement::Step::row || count->column_int64(0) > 0) {
    return;
  }
  count->reset();
  auto attach = db.db.prepare("ATTACH DATABASE ? AS legacy");
  if (!attach || !attach->bind_all(from.string()) || !attach->run()) {
    spdlog::warn("fleet store: cannot read the rows of {}; the fleet view starts empty",
                 from.string());
    return;
  }
  auto copied = db.db.exec(
      "INSERT OR IGNORE INTO fleet SELECT store_id, till_id, data, updated_ms FROM legacy.fleet");
  if (copied) {
    spdlog::info("fleet store: imported the fleet rows of {}", from.string());
  }
  // A collector.db without the table (created after fleet rows moved out) has nothing to import.
  (void)db.db.exec("DETACH DATABASE legacy");
}

}  // namespace

Result<std::unique_ptr<FleetStore>> FleetStore::open(const FleetStoreOptions& options) {
  auto db = std::make_unique<Db>();
  db->path = options.path;
  common::DatabaseOptions database;
  database.name = "fleet store";
  database.busy_timeout_ms = 1000;
  database.synchronous_full = false;
  database.create = [](Database& created) -> Status {
    if (auto made = created.exec(schema_sql); !made) {
      return fail(made.error().to_error());
    }
    return {};
  };
  auto opened = common::open_database(options.path, database);
  if (!opened) {
    return fail(opened.error());
  }
  db->db = std::move(opened->db);
  import_rows(*db, options.import_from);
  auto select = db->db.prepare(
      "SELECT store_id, till_id, data, updated_ms FROM fleet ORDER BY updated_ms DESC LIMIT ?");
  if (!select) {
    return fail(db->prefixed(select.error()));
  }
  if (auto bound = select->bind_int64(1, static_cast<std::int64_t>(options.max_rows)); !bound) {
    return fail(db->prefixed(bound.error()));
  }
  std::vector<FleetRecord> loaded;
  for (;;) {
    auto step = select->step();
    if (!step) {
      return fail(db->prefixed(step.error()));
    }
    if (*step == Statement::Step::done) {
      break;
    }
    loaded.push_back(FleetRecord{std::string(select->column_text(0)),
                                 std::string(select->column_text(1)),
                                 std::string(select->column_text(2)), select->column_int64(3)});
  }
  select->reset();
  auto upsert = db->db.prepare(
      "INSERT INTO fleet(store_id, till_id, data, updated_ms) VALUES (?, ?, ?, ?) "
      "ON CONFLICT(store_id, till_id) DO UPDATE SET data = excluded.data, "
      "updated_ms = excluded.updated_ms");
  if (!upsert) {
    return fail(db->prefixed(upsert.error()));
  }
  db->upsert = std::move(*upsert);
  return std::unique_ptr<FleetStore>(
      new FleetStore(std::move(db), std::move(loaded), options.max_rows));
}

FleetStore::FleetStore(std::unique_ptr<Db> db, std::vector<FleetRecord> loaded,
                       std::size_t max_rows)
    : m_db(std::move(db)),
      m_loaded(std::move(loaded)),
      m_max_rows(max_rows),
      m_writer("fleet store", [this](const Rows& rows) { return write(rows); }) {}

FleetStore::~FleetStore() {
  stop();
}

void FleetStore::save(std::vector<FleetRecord> rows) {
  m_writer.update([&](Rows& pending) {
    for (auto& row : rows) {
      auto key = std::make_pair(row.store_id, row.till_id);
      if (auto it = pending.find(key); it != pending.end()) {
        it->second = std::move(row);
      } else if (pending.size() < m_max_rows) {
        pending.emplace(std::move(key), std::move(row));
      } else {
        ++m_dropped;
      }
    }
    return !pending.empty();
  });
}

Status FleetStore::write(const Rows& rows) {
  auto txn = Transaction::begin(m_db->db);
  if (!txn) {
    return fail(m_db->prefixed(txn.error()));
  }
  for (const auto& [key, row] : rows) {
    if (auto bound = m_db->upsert.bind_all(row.store_id, row.till_id, row.data, row.updated_ms);
        !bound) {
      return fail(m_db->prefixed(bound.error()));
    }
    if (auto ran = m_db->upsert.run(); !ran) {
      return fail(m_db->prefixed(ran.error()));
    }
  }
  if (auto committed = txn->commit(); !committed) {
    return fail(m_db->prefixed(committed.error()));
  }
  return {};
}

void FleetStore::stop() {
  m_writer.stop();
}

std::uint64_t FleetStore::saved() const {
  return m_writer.saved();
}

std::uint64_t FleetStore::failures() const {
  return m_writer.failures();
}

std::uint64_t FleetStore::dropped() const {
  return m_dropped.load();
}

}  // namespace pos::collector
