// The PostgreSQL mark backend ([marks] type = "postgres"): marks shared by several collectors.
//
// Schema, created or migrated at open inside one transaction under an advisory lock (collectors
// starting together do not race):
//   pos_schema(component text primary key, version integer): the version of each part; "marks" 1.
//   pos_marks(store_id, till_id, epoch, through_seq, updated_ms), primary key (store_id, till_id,
//             epoch); epoch is the 64-bit value bit-cast into a bigint, through_seq a bigint.
// A group commit is one transaction: an upsert of every mark from arrays (one round trip however
// many marks), never lowering one (GREATEST), then the deletes. PostgreSQL's default
// synchronous_commit makes the COMMIT durable before it returns. A lost connection fails the
// write in progress (the MarkStore reports it; the BatchProcessor pauses intake and retries) and
// is re-made at the next write. A COMMIT whose answer was lost may have committed: retrying it is
// harmless, the upsert is idempotent.

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "mark_columns.hpp"
#include "pos/collector/mark_store.hpp"

namespace pos::collector {
namespace {

using mark_columns::to_db;

constexpr int marks_schema_version = 1;
/// pg_advisory_xact_lock key of the schema migration ("posmarks" in ASCII).
constexpr std::int64_t migration_lock_key = 0x706f736d61726b73;

struct ConnDeleter {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
/// One libpq connection (PQfinish on destruction). Move-only.
using PgConnection = std::unique_ptr<PGconn, ConnDeleter>;

struct ResultDeleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
/// One libpq result (PQclear on destruction). Move-only.
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

/// libpq's message without its trailing newline.
std::string trimmed(const char* message) {
  std::string text = message == nullptr ? "" : message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

/// "host:port/dbname" of a connection string, never its password; the string itself is not
/// repeated in errors for the same reason.
Result<std::string> server_of(const std::string& dsn) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    std::string why = trimmed(error);
    PQfreemem(error);
    return fail("marks.dsn: not a PostgreSQL connection string (" + why + ")");
  }
  std::map<std::string, std::string> values;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) {
      values[o->keyword] = o->val;
    }
  }
  PQconninfoFree(options);
  const auto value = [&](const char* key, const char* fallback) {
    const auto it = values.find(key);
    return it == values.end() || it->second.empty() ? std::string(fallback) : it->second;
  };
  return value("host", "localhost") + ":" + value("port", "5432") + "/" + value("dbname", "-");
}

/// A PostgreSQL array literal of text elements: {"a","b"} with `\` and `"` escaped.
std::string text_array(const std::vector<const std::string*>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += '"';
    for (const char c : *items[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string int_array(const std::vector<std::int64_t>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += std::to_string(items[i]);
  }
  out += '}';
  return out;
}

Result<std::int64_t> parse_int64(const char* text) {
  std::int64_t value = 0;
  const std::string_view view(text == nullptr ? "" : text);
  const auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (ec != std::errc{} || end != view.data() + view.size()) {
    return fail("not an integer: '" + std::string(view) + "'");
  }
  return value;
}

class PostgresMarkBackend final : public MarkBackend {
 public:
  PostgresMarkBackend(std::string dsn, std::string server)
      : m_dsn(std::move(dsn)), m_server(std::move(server)) {}

  Status connect();
  Status migrate();
  Result<std::vector<StoredMark>> load() override;
  Status write(const std::vector<MarkWrite>& writes, const std::vector<MarkKey>& deletes,
               std::int64_t now_ms) override;
  std::string describe() const override { return "mark store postgres " + m_server; }

 private:
  /// Runs `sql` with text parameters; ok when the status is `expected`.
  Result<PgResult> exec(const std::string& sql, const std::vector<std::string>& params,
                        ExecStatusType expected);
  Status in_transaction(const std::function<Status()>& body);
  Error error(const std::string& what) const { return Error{describe() + ": " + what}; }

  std::string m_dsn;
  std::string m_server;
  PgConnection m_conn;
};

Status PostgresMarkBackend::connect() {
  // The DSN is expanded as the database name; the keywords after it override what it says.
  // client_min_messages: no NOTICE lines ("relation ... already exists") on stderr.
  const char* keywords[] = {"dbname", "connect_timeout", "application_name", "options", nullptr};
  const char* values[] = {m_dsn.c_str(), "5", "poscollector", "-c client_min_messages=warning",
                          nullptr};
  m_conn.reset(PQconnectdbParams(keywords, values, 1));
  if (!m_conn) {
    return fail(error("out of memory"));
  }
  if (PQstatus(m_conn.get()) != CONNECTION_OK) {
    Error why = error("cannot connect: " + trimmed(PQerrorMessage(m_conn.get())));
    m_conn.reset();
    return fail(std::move(why));
  }
  return {};
}

Result<PgResult> PostgresMarkBackend::exec(const std::string& sql,
                                           const std::vector<std::string>& params,
                                           ExecStatusType expected) {
  if (!m_conn || PQstatus(m_conn.get()) != CONNECTION_OK) {
    if (auto connected = connect(); !connected) {
      return fail(connected.error());
    }
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) {
    values.push_back(p.c_str());
  }
  PgResult result(PQexecParams(m_conn.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0));
  if (!result) {
    return fail(error(trimmed(PQerrorMessage(m_conn.get()))));
  }
  if (PQresultStatus(result.get()) != expected) {
    return fail(error(trimmed(PQresultErrorMessage(result.get()))));
  }
  return result;
}

Status PostgresMarkBackend::in_transaction(const std::function<Status()>& body) {
  if (auto begun = exec("BEGIN", {}, PGRES_COMMAND_OK); !begun) {
    return fail(begun.error());
  }
  Status done = body();
  if (done) {
    if (auto committed = exec("COMMIT", {}, PGRES_COMMAND_OK); !committed) {
      return fail(committed.error());
    }
    return {};
  }
  if (m_conn && PQstatus(m_conn.get()) == CONNECTION_OK) {
    (void)exec("ROLLBACK", {}, PGRES_COMMAND_OK);
  }
  return done;
}

Status PostgresMarkBackend::migrate() {
  return in_transaction([this]() -> Status {
    if (auto locked =
            exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock_key) + ")", {},
                 PGRES_TUPLES_OK);
        !locked) {
      return fail(locked.error());
    }
    if (auto made = exec(
            "CREATE TABLE IF NOT EXISTS pos_schema(component text PRIMARY KEY, version integer "
            "NOT NULL)",
            {}, PGRES_COMMAND_OK);
        !made) {
      return fail(made.error());
    }
    auto version =
        exec("SELECT version FROM pos_schema WHERE component = 'marks'", {}, PGRES_TUPLES_OK);
    if (!version) {
      return fail(version.error());
    }
    if (PQntuples(version->get()) > 0) {
      auto found = parse_int64(PQgetvalue(version->get(), 0, 0));
      if (!found || *found != marks_schema_version) {
        return fail(error("schema version " + std::string(PQgetvalue(version->get(), 0, 0)) +
                          " of the marks is not supported (this program knows " +
                          std::to_string(marks_schema_version) + ")"));
      }
      return {};
    }
    if (auto made = exec(
            "CREATE TABLE IF NOT EXISTS pos_marks(store_id text NOT NULL, till_id text NOT NULL, "
            "epoch bigint NOT NULL, through_seq bigint NOT NULL, updated_ms bigint NOT NULL, "
            "PRIMARY KEY (store_id, till_id, epoch))",
            {}, PGRES_COMMAND_OK);
        !made) {
      return fail(made.error());
    }
    if (auto set = exec("INSERT INTO pos_schema(component, version) VALUES ('marks', $1::integer)",
                        {std::to_string(marks_schema_version)}, PGRES_COMMAND_OK);
        !set) {
      return fail(set.error());
    }
    return {};
  });
}

Result<std::vector<StoredMark>> PostgresMarkBackend::load() {
  auto rows = exec("SELECT store_id, till_id, epoch, through_seq, updated_ms FROM pos_marks", {},
                   PGRES_TUPLES_OK);
  if (!rows) {
    return fail(rows.error());
  }
  std::vector<StoredMark> out;
  const int count = PQntuples(rows->get());
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto epoch = parse_int64(PQgetvalue(rows->get(), i, 2));
    auto seq = parse_int64(PQgetvalue(rows->get(), i, 3));
    auto updated = parse_int64(PQgetvalue(rows->get(), i, 4));
    if (!epoch || !seq || !updated || *seq < 0) {
      return fail(error("pos_marks: a row with a bad number"));
    }
    out.push_back(StoredMark{MarkKey{PQgetvalue(rows->get(), i, 0), PQgetvalue(rows->get(), i, 1),
                                     mark_columns::from_db(*epoch)},
                             static_cast<std::uint64_t>(*seq), *updated});
  }
  return out;
}

Status PostgresMarkBackend::write(const std::vector<MarkWrite>& writes,
                                  const std::vector<MarkKey>& deletes, std::int64_t now_ms) {
  // One row per key (an upsert may not touch a row twice), the highest seq of the group.
  std::map<std::tuple<std::string_view, std::string_view, std::uint64_t>, std::uint64_t> highest;
  for (const auto& w : writes) {
    if (w.through_seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return fail(error("seq " + std::to_string(w.through_seq) + " is beyond a bigint"));
    }
    auto& seq = highest[{w.key.store_id, w.key.till_id, w.key.epoch}];
    seq = std::max(seq, w.through_seq);
  }
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
  const auto pointers = [](const std::vector<std::string>& items) {
    std::vector<const std::string*> out;
    out.reserve(items.size());
    for (const auto& item : items) {
      out.push_back(&item);
    }
    return out;
  };
  return in_transaction([&]() -> Status {
    if (!stores.empty()) {
      auto upserted = exec(
          "INSERT INTO pos_marks(store_id, till_id, epoch, through_seq, updated_ms) "
          "SELECT s, t, e, q, $5::bigint FROM unnest($1::text[], $2::text[], $3::bigint[], "
          "$4::bigint[]) AS u(s, t, e, q) "
          "ON CONFLICT (store_id, till_id, epoch) DO UPDATE SET "
          "through_seq = GREATEST(pos_marks.through_seq, EXCLUDED.through_seq), "
          "updated_ms = EXCLUDED.updated_ms",
          {text_array(pointers(stores)), text_array(pointers(tills)), int_array(epochs),
           int_array(seqs), std::to_string(now_ms)},
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
      auto deleted = exec(
          "DELETE FROM pos_marks WHERE (store_id, till_id, epoch) IN "
          "(SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]))",
          {text_array(delete_stores), text_array(delete_tills), int_array(delete_epochs)},
          PGRES_COMMAND_OK);
      if (!deleted) {
        return fail(deleted.error());
      }
    }
    return {};
  });
}

}  // namespace

Result<std::unique_ptr<MarkBackend>> open_postgres_marks(const std::string& dsn) {
  auto server = server_of(dsn);
  if (!server) {
    return fail(server.error());
  }
  auto backend = std::make_unique<PostgresMarkBackend>(dsn, *server);
  if (auto connected = backend->connect(); !connected) {
    return fail(connected.error());
  }
  if (auto migrated = backend->migrate(); !migrated) {
    return fail(migrated.error());
  }
  return std::unique_ptr<MarkBackend>(std::move(backend));
}

}  // namespace pos::collector
