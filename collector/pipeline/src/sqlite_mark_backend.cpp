// The SQLite mark backend: `{data_dir}/collector.db`.
//
// Schema (user_version 1):
//   marks(store_id, till_id, epoch, through_seq, updated_ms), primary key (store_id, till_id,
//         epoch); epoch is the 64-bit value bit-cast into an INTEGER. An upsert never lowers a
//         mark.
//   A `fleet` table, written by collectors before fleet rows got their own file (fleet.db,
//   FleetStore), may still be present; it is only read once, by FleetStore, to import its rows.
// WAL, synchronous=FULL: every commit fsyncs.

#include <utility>

#include "mark_columns.hpp"
#include "pos/collector/mark_store.hpp"
#include "pos/common/sqlite.hpp"

namespace pos::collector {
namespace {

using mark_columns::from_db;
using mark_columns::to_db;

using common::Database;
using common::SqliteError;
using common::SqliteResult;
using common::Statement;
using common::Transaction;

constexpr std::int64_t schema_version = 1;

constexpr std::string_view schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS marks(
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  through_seq INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (store_id, till_id, epoch)) WITHOUT ROWID;
)sql";

class SqliteMarkBackend final : public MarkBackend {
 public:
  explicit SqliteMarkBackend(std::filesystem::path path) : m_path(std::move(path)) {}

  Status open(int busy_timeout_ms);
  Result<std::vector<StoredMark>> load() override;
  /// Fences are not checked: SQLite marks are never shared.
  Result<std::vector<std::size_t>> write(const std::vector<MarkWrite>& writes,
                                         const std::vector<MarkKey>& deletes,
                                         std::int64_t now_ms) override;
  std::string describe() const override { return "mark store " + m_path.string(); }

 private:
  Error prefixed(const SqliteError& error) const {
    return Error{describe() + ": " + error.message};
  }
  SqliteResult<void> write_all(const std::vector<MarkWrite>& writes,
                               const std::vector<MarkKey>& deletes, std::int64_t now_ms);

  std::filesystem::path m_path;
  Database m_db;
  Statement m_upsert;
  Statement m_delete;
};

Status SqliteMarkBackend::open(int busy_timeout_ms) {
  common::DatabaseOptions database;
  database.name = "mark store";
  database.busy_timeout_ms = busy_timeout_ms;
  database.pragmas = "PRAGMA journal_size_limit = 67108864";
  database.schema_version = schema_version;
  database.create = [](Database& created) -> Status {
    if (auto made = created.exec(schema_sql); !made) {
      return fail(made.error().to_error());
    }
    return {};
  };
  auto opened = common::open_database(m_path, database);
  if (!opened) {
    return fail(opened.error());
  }
  m_db = std::move(opened->db);
  auto upsert = m_db.prepare(
      "INSERT INTO marks(store_id, till_id, epoch, through_seq, updated_ms) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT(store_id, till_id, epoch) DO UPDATE SET "
      "through_seq = max(through_seq, excluded.through_seq), updated_ms = excluded.updated_ms");
  if (!upsert) {
    return fail(prefixed(upsert.error()));
  }
  m_upsert = std::move(*upsert);
  auto erase = m_db.prepare("DELETE FROM marks WHERE store_id = ? AND till_id = ? AND epoch = ?");
  if (!erase) {
    return fail(prefixed(erase.error()));
  }
  m_delete = std::move(*erase);
  return {};
}

Result<std::vector<StoredMark>> SqliteMarkBackend::load() {
  auto select = m_db.prepare("SELECT store_id, till_id, epoch, through_seq, updated_ms FROM marks");
  if (!select) {
    return fail(prefixed(select.error()));
  }
  std::vector<StoredMark> out;
  for (;;) {
    auto step = select->step();
    if (!step) {
      return fail(prefixed(step.error()));
    }
    if (*step == Statement::Step::done) {
      break;
    }
    out.push_back(
        StoredMark{MarkKey{std::string(select->column_text(0)), std::string(select->column_text(1)),
                           from_db(select->column_int64(2))},
                   from_db(select->column_int64(3)), select->column_int64(4)});
  }
  return out;
}

SqliteResult<void> SqliteMarkBackend::write_all(const std::vector<MarkWrite>& writes,
                                                const std::vector<MarkKey>& deletes,
                                                std::int64_t now_ms) {
  auto txn = Transaction::begin(m_db);
  if (!txn) {
    return SqliteResult<void>::failure(std::move(txn).error());
  }
  for (const auto& write : writes) {
    if (auto bound = m_upsert.bind_all(write.key.store_id, write.key.till_id,
                                       to_db(write.key.epoch), to_db(write.through_seq), now_ms);
        !bound) {
      return bound;
    }
    if (auto ran = m_upsert.run(); !ran) {
      return ran;
    }
  }
  for (const auto& key : deletes) {
    if (auto bound = m_delete.bind_all(key.store_id, key.till_id, to_db(key.epoch)); !bound) {
      return bound;
    }
    if (auto ran = m_delete.run(); !ran) {
      return ran;
    }
  }
  return txn->commit();
}

Result<std::vector<std::size_t>> SqliteMarkBackend::write(const std::vector<MarkWrite>& writes,
                                                          const std::vector<MarkKey>& deletes,
                                                          std::int64_t now_ms) {
  if (auto written = write_all(writes, deletes, now_ms); !written) {
    return fail(prefixed(written.error()));
  }
  return std::vector<std::size_t>{};
}

}  // namespace

Result<std::unique_ptr<MarkBackend>> open_sqlite_marks(const std::filesystem::path& path,
                                                       int busy_timeout_ms) {
  auto backend = std::make_unique<SqliteMarkBackend>(path);
  if (auto opened = backend->open(busy_timeout_ms); !opened) {
    return fail(opened.error());
  }
  return std::unique_ptr<MarkBackend>(std::move(backend));
}

}  // namespace pos::collector
