#pragma once

// Private to the pipeline: one libpq connection with the few operations the PostgreSQL mark
// backend and lease store need (parameterised statements, transactions, array literals), and
// the schema migration both run at open. libpq stays inside the pipeline's .cpp files.

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::collector::pg {

struct ConnDeleter {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
/// One libpq connection (PQfinish on destruction). Move-only.
using Connection = std::unique_ptr<PGconn, ConnDeleter>;

struct ResultDeleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
/// One libpq result (PQclear on destruction). Move-only.
using ResultHandle = std::unique_ptr<PGresult, ResultDeleter>;

/// "host:port/dbname" of a connection string, never its password. Fails naming `key` when the
/// string cannot be parsed.
Result<std::string> server_of(const std::string& dsn, const std::string& key);

/// A PostgreSQL array literal of text elements: {"a","b"} with `\` and `"` escaped.
std::string text_array(const std::vector<const std::string*>& items);
/// A PostgreSQL array literal of integers: {1,2}.
std::string int_array(const std::vector<std::int64_t>& items);
/// A whole decimal integer; fails on anything else (NULL included).
Result<std::int64_t> parse_int64(const char* text);

/// One connection, re-made on the next statement after it was lost. Used from one thread at a
/// time. Errors are prefixed with `describe` ("mark store postgres host:5432/db: ...").
class Session {
 public:
  Session(std::string dsn, std::string describe, std::string application_name);

  /// Connects now; fails with the server's message.
  Status connect();
  /// Runs `sql` with text parameters; ok when the result status is `expected`.
  Result<ResultHandle> exec(const std::string& sql, const std::vector<std::string>& params,
                            ExecStatusType expected);
  /// BEGIN, `body`, COMMIT (ROLLBACK when `body` fails).
  Status in_transaction(const std::function<Status()>& body);
  /// Creates or checks the schema of `component` at `version` inside one transaction under an
  /// advisory lock: when the component is new, runs `create` (each statement in order) and
  /// records the version; a different recorded version fails naming both.
  Status migrate(const std::string& component, int version, const std::vector<std::string>& create);
  /// `describe` + ": " + `what`.
  Error error(const std::string& what) const { return Error{m_describe + ": " + what}; }

 private:
  std::string m_dsn;
  std::string m_describe;
  std::string m_application_name;
  Connection m_conn;
};

}  // namespace pos::collector::pg
