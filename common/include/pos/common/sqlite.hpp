#pragma once
// Move-only RAII wrappers around one SQLite connection and its prepared statements. sqlite3.h is
// included only in the implementation. Every SQLite return code is checked and reported as a
// SqliteError that names the operation and carries SQLite's message and result code.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "pos/protocol/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace pos::common {

/// A failed SQLite call: `message` is "<operation>: <sqlite message>", `code` the extended result
/// code (e.g. SQLITE_IOERR_FSYNC); the predicates look at the primary code.
struct SqliteError {
  int code = 0;
  std::string message;

  int primary_code() const noexcept { return code & 0xff; }
  bool is_full() const noexcept;     ///< SQLITE_FULL: disk or quota full
  bool is_busy() const noexcept;     ///< SQLITE_BUSY or SQLITE_LOCKED
  bool is_corrupt() const noexcept;  ///< SQLITE_CORRUPT or SQLITE_NOTADB
  bool is_constraint() const noexcept;
  Error to_error() const { return Error{message}; }
};

template <class T>
using SqliteResult = Result<T, SqliteError>;

/// How Database::open opens the file.
struct OpenOptions {
  bool read_only = false;
  bool create = true;          ///< create the file when missing (ignored when read_only)
  int busy_timeout_ms = 5000;  ///< how long a locked database is retried before SQLITE_BUSY
  /// With read_only: open as immutable (URI `immutable=1`): no locks, and no -wal or -shm file is
  /// read or created. Only for a file no process writes while it is open.
  bool immutable = false;
};

class Statement;

/// One SQLite connection (sqlite3*). Move-only; closing happens in the destructor after all its
/// Statements are gone. A connection may be used by one thread at a time (SQLITE_OPEN_NOMUTEX).
class Database {
 public:
  /// Opens `path` (the error names the path, e.g. "sqlite open /x/db: unable to open database
  /// file"). A file that is not a database is only detected by the first statement.
  static SqliteResult<Database> open(const std::filesystem::path& path, const OpenOptions& options);

  /// An empty handle, only to be assigned to.
  Database() = default;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  /// Runs one or more SQL statements that return no rows needed by the caller.
  SqliteResult<void> exec(std::string_view sql);
  /// Compiles one statement for repeated use (SQLITE_PREPARE_PERSISTENT).
  SqliteResult<Statement> prepare(std::string_view sql);

  std::int64_t last_insert_rowid() const noexcept;
  /// Rows changed by the most recent INSERT/UPDATE/DELETE.
  std::int64_t changes() const noexcept;
  /// False while a transaction is open.
  bool autocommit() const noexcept;
  sqlite3* handle() const noexcept { return m_db; }

 private:
  explicit Database(sqlite3* db) noexcept : m_db(db) {}
  sqlite3* m_db = nullptr;
};

/// One prepared statement (sqlite3_stmt*). Move-only; must not outlive its Database. Binding
/// indexes are 1-based and column indexes 0-based, as in SQLite. Text and blobs are copied when
/// bound. Values returned by column_text/column_blob are valid until the next step/reset.
class Statement {
 public:
  enum class Step { row, done };

  /// An empty statement, only to be assigned to.
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  SqliteResult<void> bind_int64(int index, std::int64_t value);
  SqliteResult<void> bind_text(int index, std::string_view value);
  SqliteResult<void> bind_blob(int index, std::span<const std::byte> value);
  SqliteResult<void> bind_null(int index);

  /// Binds the arguments to parameters 1..N: integers as int64, strings as text, nullptr as null.
  template <class... Args>
  SqliteResult<void> bind_all(const Args&... args) {
    SqliteResult<void> result;
    int index = 0;
    static_cast<void>(((result = bind_one(++index, args), result.has_value()) && ...));
    return result;
  }

  /// Advances: `row` when a result row is available, `done` when the statement finished.
  SqliteResult<Step> step();
  /// Steps a statement that returns no rows to completion, then resets it.
  SqliteResult<void> run();

  std::int64_t column_int64(int column) const noexcept;
  std::string_view column_text(int column) const noexcept;
  std::span<const std::byte> column_blob(int column) const noexcept;
  bool column_is_null(int column) const noexcept;

  /// Makes the statement ready to run again (bindings are kept) and ends its read snapshot.
  /// SQLite's reset only repeats the error already returned by step(), so it has no result.
  void reset() noexcept;
  /// Sets every parameter back to null.
  void clear_bindings() noexcept;

 private:
  friend class Database;
  explicit Statement(sqlite3_stmt* stmt) noexcept : m_stmt(stmt) {}

  template <class T>
  SqliteResult<void> bind_one(int index, const T& value) {
    if constexpr (std::is_same_v<T, std::nullptr_t>) {
      return bind_null(index);
    } else if constexpr (std::is_integral_v<T>) {
      return bind_int64(index, static_cast<std::int64_t>(value));
    } else {
      static_assert(std::is_convertible_v<const T&, std::string_view>, "unsupported bind type");
      return bind_text(index, std::string_view(value));
    }
  }

  sqlite3_stmt* m_stmt = nullptr;
};

/// BEGIN IMMEDIATE on construction (via begin), ROLLBACK in the destructor unless commit()
/// succeeded. A failed commit leaves the guard active so that the destructor rolls back.
class Transaction {
 public:
  static SqliteResult<Transaction> begin(Database& db);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  SqliteResult<void> commit();
  /// Rolls back now; afterwards the guard does nothing. Safe to call when SQLite already ended the
  /// transaction itself (some errors do).
  void rollback() noexcept;

 private:
  explicit Transaction(Database& db) noexcept : m_db(&db) {}
  Database* m_db = nullptr;
};

/// How open_database prepares one program's database file.
struct DatabaseOptions {
  /// Names the database in errors: "<name> <path>: <what>" (e.g. "outbox", "mark store").
  std::string name;
  int busy_timeout_ms = 5000;
  /// PRAGMA synchronous = FULL (the WAL is fsynced at every commit) or NORMAL (at checkpoints:
  /// a power cut may lose the last commits, never the database).
  bool synchronous_full = true;
  /// Further `PRAGMA ...;` statements run after the journal mode and synchronous are set.
  std::string pragmas;
  /// The user_version of this program's schema (>= 1).
  std::int64_t schema_version = 1;
  /// Creates the schema in a database with user_version 0 (a new file, or one whose program never
  /// set a version). Runs inside the transaction that then sets user_version.
  std::function<Status(Database&)> create;
  /// Upgrades a database of an older user_version (1 <= from < schema_version) inside the
  /// transaction that then sets user_version. Empty: an older version is refused like a newer one.
  std::function<Status(Database&, std::int64_t from)> migrate = {};
};

/// A connection opened by open_database.
struct OpenedDatabase {
  Database db;
  /// user_version as found: 0 when `create` made the schema now.
  std::int64_t found_version = 0;
};

/// Opens `path` read-write (created when missing), switches it to WAL with options.pragmas, and
/// brings its schema to options.schema_version in one BEGIN IMMEDIATE transaction: `create` for
/// user_version 0, `migrate` for an older one. Fails naming the database and the path for a
/// failed SQLite call, a file that refuses WAL, a schema version this program does not know, or
/// a failed create/migrate (whose changes are rolled back); an unopenable file fails as
/// Database::open. The connection is for the calling thread, as Database.
Result<OpenedDatabase> open_database(const std::filesystem::path& path,
                                     const DatabaseOptions& options);

}  // namespace pos::common
