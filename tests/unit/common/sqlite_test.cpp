#include "pos/common/sqlite.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <string>

namespace pos::common {
namespace {

namespace fs = std::filesystem;

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sqlite_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override { fs::remove_all(m_dir); }

  Database open_db(const std::string& name = "t.db") {
    auto db = Database::open(m_dir / name, {});
    EXPECT_TRUE(db) << db.error().message;
    return std::move(*db);
  }

  fs::path m_dir;
};

TEST_F(SqliteTest, ExecPrepareBindStepAndColumns) {
  auto db = open_db();
  ASSERT_TRUE(db.exec("CREATE TABLE t(a INTEGER, b TEXT, c BLOB, d)"));
  auto insert = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?)");
  ASSERT_TRUE(insert);
  const std::array<std::byte, 3> blob{std::byte{1}, std::byte{0}, std::byte{255}};
  ASSERT_TRUE(insert->bind_int64(1, -42));
  ASSERT_TRUE(insert->bind_text(2, std::string_view("h\0llo", 5)));
  ASSERT_TRUE(insert->bind_blob(3, blob));
  ASSERT_TRUE(insert->bind_null(4));
  ASSERT_TRUE(insert->run());
  EXPECT_EQ(db.changes(), 1);
  EXPECT_EQ(db.last_insert_rowid(), 1);

  ASSERT_TRUE(insert->bind_all(7, std::string("x"), nullptr, nullptr));
  ASSERT_TRUE(insert->run());

  auto select = db.prepare("SELECT a, b, c, d FROM t ORDER BY rowid");
  ASSERT_TRUE(select);
  auto step = select->step();
  ASSERT_TRUE(step);
  ASSERT_EQ(*step, Statement::Step::row);
  EXPECT_EQ(select->column_int64(0), -42);
  EXPECT_EQ(select->column_text(1), std::string_view("h\0llo", 5));
  const auto got = select->column_blob(2);
  ASSERT_EQ(got.size(), 3U);
  EXPECT_EQ(got[2], std::byte{255});
  EXPECT_TRUE(select->column_is_null(3));
  step = select->step();
  ASSERT_TRUE(step);
  ASSERT_EQ(*step, Statement::Step::row);
  EXPECT_EQ(select->column_int64(0), 7);
  EXPECT_TRUE(select->column_is_null(2));
  step = select->step();
  ASSERT_TRUE(step);
  EXPECT_EQ(*step, Statement::Step::done);

  select->reset();
  step = select->step();
  ASSERT_TRUE(step);
  EXPECT_EQ(*step, Statement::Step::row);
}

TEST_F(SqliteTest, PrepareErrorNamesOperationAndMessage) {
  auto db = open_db();
  auto bad = db.prepare("SELEKT 1");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("sqlite prepare 'SELEKT 1'"), std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("syntax error"), std::string::npos) << bad.error().message;
}

TEST_F(SqliteTest, ConstraintViolationIsReportedWithCode) {
  auto db = open_db();
  ASSERT_TRUE(db.exec("CREATE TABLE u(k TEXT UNIQUE)"));
  auto insert = db.prepare("INSERT INTO u VALUES (?)");
  ASSERT_TRUE(insert);
  ASSERT_TRUE(insert->bind_text(1, "a"));
  ASSERT_TRUE(insert->run());
  auto again = insert->run();
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().is_constraint());
  EXPECT_FALSE(again.error().is_full());
  EXPECT_NE(again.error().message.find("UNIQUE constraint failed"), std::string::npos)
      << again.error().message;
}

TEST_F(SqliteTest, BindOutOfRangeFails) {
  auto db = open_db();
  auto stmt = db.prepare("SELECT ?");
  ASSERT_TRUE(stmt);
  auto bound = stmt->bind_int64(2, 1);
  ASSERT_FALSE(bound);
  EXPECT_NE(bound.error().message.find("bind parameter 2"), std::string::npos);
}

TEST_F(SqliteTest, OpenMissingDirectoryNamesPath) {
  const auto path = m_dir / "missing" / "x.db";
  auto db = Database::open(path, {});
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message.find(path.string()), std::string::npos) << db.error().message;
}

TEST_F(SqliteTest, ReadOnlyWithoutCreateFailsForMissingFile) {
  auto db = Database::open(m_dir / "none.db", {.read_only = true, .create = false});
  EXPECT_FALSE(db);
}

TEST_F(SqliteTest, NotADatabaseIsCorrupt) {
  {
    std::ofstream out(m_dir / "junk.db", std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto db = Database::open(m_dir / "junk.db", {});
  ASSERT_TRUE(db);  // SQLite reads the header lazily
  auto result = db->exec("SELECT * FROM sqlite_master");
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().is_corrupt());
  EXPECT_NE(result.error().message.find("not a database"), std::string::npos)
      << result.error().message;
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
  auto db = open_db();
  ASSERT_TRUE(db.exec("CREATE TABLE t(a)"));
  {
    auto txn = Transaction::begin(db);
    ASSERT_TRUE(txn);
    EXPECT_FALSE(db.autocommit());
    ASSERT_TRUE(db.exec("INSERT INTO t VALUES (1)"));
  }
  EXPECT_TRUE(db.autocommit());
  {
    auto txn = Transaction::begin(db);
    ASSERT_TRUE(txn);
    ASSERT_TRUE(db.exec("INSERT INTO t VALUES (2)"));
    ASSERT_TRUE(txn->commit());
  }
  auto count = db.prepare("SELECT count(*), sum(a) FROM t");
  ASSERT_TRUE(count);
  ASSERT_TRUE(count->step());
  EXPECT_EQ(count->column_int64(0), 1);
  EXPECT_EQ(count->column_int64(1), 2);
}

TEST_F(SqliteTest, SecondWriterIsBusy) {
  auto first = open_db();
  ASSERT_TRUE(first.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(a)"));
  auto second = Database::open(m_dir / "t.db", {.busy_timeout_ms = 10});
  ASSERT_TRUE(second);
  auto held = Transaction::begin(first);
  ASSERT_TRUE(held);
  auto blocked = Transaction::begin(*second);
  ASSERT_FALSE(blocked);
  EXPECT_TRUE(blocked.error().is_busy()) << blocked.error().message;
}

TEST_F(SqliteTest, MovedFromHandlesAreEmptyAndSafe) {
  auto db = open_db();
  auto stmt = db.prepare("SELECT 1");
  ASSERT_TRUE(stmt);
  Statement moved = std::move(*stmt);
  ASSERT_TRUE(moved.step());
  EXPECT_EQ(moved.column_int64(0), 1);
  Database other = std::move(db);
  EXPECT_NE(other.handle(), nullptr);
  EXPECT_EQ(db.handle(), nullptr);  // NOLINT(bugprone-use-after-move)
}

// open_database: WAL, the pragmas, and the schema created, migrated or refused by user_version.
class OpenDatabaseTest : public SqliteTest {
 protected:
  DatabaseOptions options(std::int64_t version) {
    DatabaseOptions o;
    o.name = "test store";
    o.pragmas = "PRAGMA cache_size = -1024";
    o.schema_version = version;
    o.create = [this](Database& db) -> Status {
      ++m_created;
      if (auto made = db.exec("CREATE TABLE t(a INTEGER)"); !made) {
        return fail(made.error().to_error());
      }
      return {};
    };
    return o;
  }

  static std::int64_t query(Database& db, std::string_view sql) {
    auto statement = db.prepare(sql);
    EXPECT_TRUE(statement);
    auto row = statement->step();
    EXPECT_TRUE(row && *row == Statement::Step::row);
    return statement->column_int64(0);
  }

  int m_created = 0;
};

TEST_F(OpenDatabaseTest, CreatesOnceThenOpensWithWalAndThePragmas) {
  const auto path = m_dir / "s.db";
  {
    auto opened = open_database(path, options(3));
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened->found_version, 0);
    EXPECT_EQ(query(opened->db, "PRAGMA user_version"), 3);
    EXPECT_EQ(query(opened->db, "PRAGMA synchronous"), 2);  // FULL
    EXPECT_EQ(query(opened->db, "PRAGMA cache_size"), -1024);
    auto mode = opened->db.prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode && mode->step());
    EXPECT_EQ(mode->column_text(0), "wal");
  }
  auto normal = options(3);
  normal.synchronous_full = false;
  auto again = open_database(path, normal);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->found_version, 3);
  EXPECT_EQ(query(again->db, "PRAGMA synchronous"), 1);  // NORMAL
  EXPECT_EQ(m_created, 1);
}

TEST_F(OpenDatabaseTest, MigratesAnOlderVersionAndRefusesOthers) {
  const auto path = m_dir / "s.db";
  ASSERT_TRUE(open_database(path, options(1)));
  auto newer = options(2);
  std::int64_t migrated_from = 0;
  newer.migrate = [&](Database& db, std::int64_t from) -> Status {
    migrated_from = from;
    if (auto altered = db.exec("ALTER TABLE t ADD COLUMN b TEXT"); !altered) {
      return fail(altered.error().to_error());
    }
    return {};
  };
  {
    auto opened = open_database(path, newer);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened->found_version, 1);
    EXPECT_EQ(migrated_from, 1);
    EXPECT_EQ(query(opened->db, "PRAGMA user_version"), 2);
  }
  // Version 2 is newer than this program's 1, and without `migrate` an older one is refused too.
  auto older_program = open_database(path, options(1));
  ASSERT_FALSE(older_program);
  EXPECT_EQ(older_program.error().message,
            "test store " + (path).string() +
                ": schema version 2 is not supported (this program knows 1)");
  EXPECT_FALSE(open_database(path, options(3)));
}

TEST_F(OpenDatabaseTest, AFailedCreateLeavesNoSchemaBehind) {
  const auto path = m_dir / "s.db";
  auto failing = options(1);
  failing.create = [](Database& db) -> Status {
    EXPECT_TRUE(db.exec("CREATE TABLE half(a)"));
    return fail("no room");
  };
  auto opened = open_database(path, failing);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().message, "test store " + path.string() + ": no room");
  auto reopened = open_database(path, options(1));
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_EQ(reopened->found_version, 0);
  EXPECT_EQ(query(reopened->db, "SELECT count(*) FROM sqlite_master WHERE name = 'half'"), 0);
}

// posagent export reads a stopped agent's WAL database this way: nothing is created beside it,
// also in a directory whose name has URI special characters.
TEST_F(SqliteTest, ImmutableReadOnlyCreatesNoWalOrShmFile) {
  const auto dir = m_dir / "till 50% #1?";
  fs::create_directories(dir);
  {
    auto db = Database::open(dir / "t.db", {});
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE(db->exec("PRAGMA journal_mode = WAL; CREATE TABLE t(a); INSERT INTO t VALUES (7)"));
  }
  ASSERT_FALSE(fs::exists(dir / "t.db-wal"));
  auto db = Database::open(dir / "t.db", {.read_only = true, .create = false, .immutable = true});
  ASSERT_TRUE(db) << db.error().message;
  auto select = db->prepare("SELECT a FROM t");
  ASSERT_TRUE(select) << select.error().message;
  ASSERT_TRUE(select->step());
  EXPECT_EQ(select->column_int64(0), 7);
  select->reset();
  EXPECT_FALSE(db->exec("INSERT INTO t VALUES (8)"));
  EXPECT_FALSE(fs::exists(dir / "t.db-wal"));
  EXPECT_FALSE(fs::exists(dir / "t.db-shm"));
  auto missing =
      Database::open(dir / "none.db", {.read_only = true, .create = false, .immutable = true});
  EXPECT_FALSE(missing);
  EXPECT_FALSE(fs::exists(dir / "none.db"));
}

}  // namespace
}  // namespace pos::common
