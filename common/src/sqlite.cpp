#include "pos/common/sqlite.hpp"

#include <sqlite3.h>

#include <limits>
#include <utility>

namespace pos::common {
namespace {

constexpr std::size_t max_sql_in_message = 80;

std::string sql_excerpt(std::string_view sql) {
  if (sql.size() <= max_sql_in_message) {
    return std::string(sql);
  }
  return std::string(sql.substr(0, max_sql_in_message)) + "...";
}

SqliteError error_from(sqlite3* db, int rc, std::string_view operation) {
  const int code = db != nullptr ? sqlite3_extended_errcode(db) : rc;
  const char* text = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  // sqlite3_errmsg may describe an older error when rc came from elsewhere: trust rc's primary
  // code.
  const int effective = (code & 0xff) == (rc & 0xff) ? code : rc;
  std::string message(operation);
  message += ": ";
  message += (effective == code) ? text : sqlite3_errstr(rc);
  return SqliteError{effective, std::move(message)};
}

template <class T>
SqliteResult<T> failed(SqliteError error) {
  return SqliteResult<T>::failure(std::move(error));
}

int to_int_length(std::size_t size) {
  return size > static_cast<std::size_t>(std::numeric_limits<int>::max()) ? -1
                                                                          : static_cast<int>(size);
}

// `path` as a SQLite file: URI (absolute, with `%`, `?` and `#` percent-encoded).
std::string file_uri(const std::filesystem::path& path) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  if (ec) {
    absolute = path;
  }
  std::string uri = "file:";
  for (const char c : absolute.string()) {
    if (c == '%' || c == '?' || c == '#') {
      constexpr std::string_view hex = "0123456789ABCDEF";
      const auto byte = static_cast<unsigned char>(c);
      uri += '%';
      uri += hex[byte >> 4];
      uri += hex[byte & 0xf];
    } else {
      uri += c;
    }
  }
  return uri;
}

}  // namespace

bool SqliteError::is_full() const noexcept {
  return primary_code() == SQLITE_FULL;
}
bool SqliteError::is_busy() const noexcept {
  return primary_code() == SQLITE_BUSY || primary_code() == SQLITE_LOCKED;
}
bool SqliteError::is_corrupt() const noexcept {
  return primary_code() == SQLITE_CORRUPT || primary_code() == SQLITE_NOTADB;
}
bool SqliteError::is_constraint() const noexcept {
  return primary_code() == SQLITE_CONSTRAINT;
}

// --- Database ---

SqliteResult<Database> Database::open(const std::filesystem::path& path,
                                      const OpenOptions& options) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (options.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (options.create) {
      flags |= SQLITE_OPEN_CREATE;
    }
  }
  std::string name = path.string();
  if (options.read_only && options.immutable) {
    flags |= SQLITE_OPEN_URI;
    name = file_uri(path) + "?mode=ro&immutable=1";
  }
  sqlite3* raw = nullptr;
  const std::string operation = "sqlite open " + path.string();
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  Database db(raw);  // closes the handle SQLite allocates even when opening failed
  if (rc != SQLITE_OK) {
    return failed<Database>(error_from(raw, rc, operation));
  }
  if (const int busy = sqlite3_busy_timeout(raw, options.busy_timeout_ms); busy != SQLITE_OK) {
    return failed<Database>(error_from(raw, busy, operation + ": busy_timeout"));
  }
  if (const int ext = sqlite3_extended_result_codes(raw, 1); ext != SQLITE_OK) {
    return failed<Database>(error_from(raw, ext, operation + ": extended_result_codes"));
  }
  return db;
}

Database::Database(Database&& other) noexcept : m_db(std::exchange(other.m_db, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (m_db != nullptr) {
      sqlite3_close_v2(m_db);
    }
    m_db = std::exchange(other.m_db, nullptr);
  }
  return *this;
}

Database::~Database() {
  if (m_db != nullptr) {
    // close_v2 defers the close until the last statement is finalized; it cannot fail here.
    sqlite3_close_v2(m_db);
  }
}

SqliteResult<void> Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* raw_message = nullptr;
  const int rc = sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &raw_message);
  if (rc != SQLITE_OK) {
    std::string message = "sqlite exec '" + sql_excerpt(sql) + "': ";
    message += raw_message != nullptr ? raw_message : sqlite3_errstr(rc);
    sqlite3_free(raw_message);
    const int code = sqlite3_extended_errcode(m_db);
    return failed<void>(SqliteError{(code & 0xff) == (rc & 0xff) ? code : rc, std::move(message)});
  }
  return {};
}

SqliteResult<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int length = to_int_length(sql.size());
  if (length < 0) {
    return failed<Statement>(SqliteError{SQLITE_TOOBIG, "sqlite prepare: statement too long"});
  }
  const int rc =
      sqlite3_prepare_v3(m_db, sql.data(), length, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Statement statement(raw);
  if (rc != SQLITE_OK) {
    return failed<Statement>(error_from(m_db, rc, "sqlite prepare '" + sql_excerpt(sql) + "'"));
  }
  if (raw == nullptr) {
    return failed<Statement>(
        SqliteError{SQLITE_MISUSE, "sqlite prepare '" + sql_excerpt(sql) + "': no statement"});
  }
  return statement;
}

std::int64_t Database::last_insert_rowid() const noexcept {
  return sqlite3_last_insert_rowid(m_db);
}
std::int64_t Database::changes() const noexcept {
  return sqlite3_changes64(m_db);
}
bool Database::autocommit() const noexcept {
  return sqlite3_get_autocommit(m_db) != 0;
}

// --- Statement ---

Statement::Statement(Statement&& other) noexcept : m_stmt(std::exchange(other.m_stmt, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(m_stmt);
    m_stmt = std::exchange(other.m_stmt, nullptr);
  }
  return *this;
}

// finalize only repeats the last step's error, which step() already reported.
Statement::~Statement() {
  sqlite3_finalize(m_stmt);
}

namespace {
SqliteResult<void> check_bind(sqlite3_stmt* stmt, int rc, int index) {
  if (rc != SQLITE_OK) {
    return failed<void>(error_from(sqlite3_db_handle(stmt), rc,
                                   "sqlite bind parameter " + std::to_string(index) + " of '" +
                                       sql_excerpt(sqlite3_sql(stmt)) + "'"));
  }
  return {};
}
}  // namespace

SqliteResult<void> Statement::bind_int64(int index, std::int64_t value) {
  return check_bind(m_stmt, sqlite3_bind_int64(m_stmt, index, value), index);
}

SqliteResult<void> Statement::bind_text(int index, std::string_view value) {
  // sqlite3_bind_text64 reports SQLITE_TOOBIG itself.
  return check_bind(
      m_stmt,
      sqlite3_bind_text64(m_stmt, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
}

SqliteResult<void> Statement::bind_blob(int index, std::span<const std::byte> value) {
  return check_bind(
      m_stmt, sqlite3_bind_blob64(m_stmt, index, value.data(), value.size(), SQLITE_TRANSIENT),
      index);
}

SqliteResult<void> Statement::bind_null(int index) {
  return check_bind(m_stmt, sqlite3_bind_null(m_stmt, index), index);
}

SqliteResult<Statement::Step> Statement::step() {
  const int rc = sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) {
    return Step::row;
  }
  if (rc == SQLITE_DONE) {
    return Step::done;
  }
  return failed<Step>(error_from(sqlite3_db_handle(m_stmt), rc,
                                 "sqlite step '" + sql_excerpt(sqlite3_sql(m_stmt)) + "'"));
}

SqliteResult<void> Statement::run() {
  auto stepped = step();
  reset();
  if (!stepped) {
    return failed<void>(std::move(stepped).error());
  }
  if (*stepped != Step::done) {
    return failed<void>(SqliteError{
        SQLITE_MISUSE, "sqlite run '" + sql_excerpt(sqlite3_sql(m_stmt)) + "': returned a row"});
  }
  return {};
}

std::int64_t Statement::column_int64(int column) const noexcept {
  return sqlite3_column_int64(m_stmt, column);
}

std::string_view Statement::column_text(int column) const noexcept {
  const auto* text = sqlite3_column_text(m_stmt, column);
  const int bytes = sqlite3_column_bytes(m_stmt, column);
  if (text == nullptr || bytes <= 0) {
    return {};
  }
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(bytes)};
}

std::span<const std::byte> Statement::column_blob(int column) const noexcept {
  const void* blob = sqlite3_column_blob(m_stmt, column);
  const int bytes = sqlite3_column_bytes(m_stmt, column);
  if (blob == nullptr || bytes <= 0) {
    return {};
  }
  return {static_cast<const std::byte*>(blob), static_cast<std::size_t>(bytes)};
}

bool Statement::column_is_null(int column) const noexcept {
  return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

void Statement::reset() noexcept {
  sqlite3_reset(m_stmt);
}

void Statement::clear_bindings() noexcept {
  sqlite3_clear_bindings(m_stmt);
}

// --- Transaction ---

SqliteResult<Transaction> Transaction::begin(Database& db) {
  if (auto begun = db.exec("BEGIN IMMEDIATE"); !begun) {
    return failed<Transaction>(std::move(begun).error());
  }
  return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept : m_db(std::exchange(other.m_db, nullptr)) {}

Transaction::~Transaction() {
  rollback();
}

SqliteResult<void> Transaction::commit() {
  if (m_db == nullptr) {
    return failed<void>(SqliteError{SQLITE_MISUSE, "sqlite commit: no open transaction"});
  }
  auto committed = m_db->exec("COMMIT");
  if (committed) {
    m_db = nullptr;
  }
  return committed;
}

void Transaction::rollback() noexcept {
  Database* db = std::exchange(m_db, nullptr);
  if (db == nullptr || db->autocommit()) {
    return;
  }
  // A failing ROLLBACK leaves nothing to do: SQLite rolls back the journal on next open.
  char* message = nullptr;
  sqlite3_exec(db->handle(), "ROLLBACK", nullptr, nullptr, &message);
  sqlite3_free(message);
}

// --- open_database ---

Result<OpenedDatabase> open_database(const std::filesystem::path& path,
                                     const DatabaseOptions& options) {
  const std::string where = options.name + " " + path.string() + ": ";
  const auto prefixed = [&](const SqliteError& error) { return fail(where + error.message); };
  auto opened = Database::open(
      path, {.read_only = false, .create = true, .busy_timeout_ms = options.busy_timeout_ms});
  if (!opened) {
    return fail(opened.error().to_error());
  }
  OpenedDatabase out{std::move(*opened), 0};
  Database& db = out.db;

  auto journal = db.prepare("PRAGMA journal_mode = WAL");
  if (!journal) {
    return prefixed(journal.error());
  }
  const auto stepped = journal->step();
  if (!stepped) {
    return prefixed(stepped.error());
  }
  if (*stepped != Statement::Step::row || journal->column_text(0) != "wal") {
    return fail(where + "cannot switch to WAL journal mode");
  }
  journal->reset();
  const std::string pragmas = std::string("PRAGMA synchronous = ") +
                              (options.synchronous_full ? "FULL" : "NORMAL") + "; " +
                              options.pragmas;
  if (auto set = db.exec(pragmas); !set) {
    return prefixed(set.error());
  }

  // The version is read inside the transaction that changes it: two processes opening a new file
  // at once create the schema once.
  auto txn = Transaction::begin(db);
  if (!txn) {
    return prefixed(txn.error());
  }
  auto version = db.prepare("PRAGMA user_version");
  if (!version) {
    return prefixed(version.error());
  }
  auto row = version->step();
  if (!row) {
    return prefixed(row.error());
  }
  out.found_version = *row == Statement::Step::row ? version->column_int64(0) : 0;
  version->reset();
  const auto found = out.found_version;
  if (found == options.schema_version) {
    txn->rollback();
    return out;
  }
  Status changed;
  if (found == 0) {
    changed = options.create(db);
  } else if (found > 0 && found < options.schema_version && options.migrate) {
    changed = options.migrate(db, found);
  } else {
    return fail(where + "schema version " + std::to_string(found) +
                " is not supported (this program knows " + std::to_string(options.schema_version) +
                ")");
  }
  if (!changed) {
    return fail(where + changed.error().message);
  }
  if (auto set = db.exec("PRAGMA user_version = " + std::to_string(options.schema_version)); !set) {
    return prefixed(set.error());
  }
  if (auto committed = txn->commit(); !committed) {
    return prefixed(committed.error());
  }
  return out;
}

}  // namespace pos::common
