// See pg_session.hpp.

#include "pg_session.hpp"

#include <charconv>
#include <map>
#include <string_view>

namespace pos::collector::pg {
namespace {

/// pg_advisory_xact_lock key of schema migrations ("posmarks" in ASCII).
constexpr std::int64_t migration_lock_key = 0x706f736d61726b73;

/// libpq's message without its trailing newline.
std::string trimmed(const char* message) {
  std::string text = message == nullptr ? "" : message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

Result<std::string> server_of(const std::string& dsn, const std::string& key) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    std::string why = trimmed(error);
    PQfreemem(error);
    return fail(key + ": not a PostgreSQL connection string (" + why + ")");
  }
  std::map<std::string, std::string> values;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) {
      values[o->keyword] = o->val;
    }
  }
  PQconninfoFree(options);
  const auto value = [&](const char* name, const char* fallback) {
    const auto it = values.find(name);
    return it == values.end() || it->second.empty() ? std::string(fallback) : it->second;
  };
  return value("host", "localhost") + ":" + value("port", "5432") + "/" + value("dbname", "-");
}

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
  if (ec != std::errc{} || end != view.data() + view.size() || view.empty()) {
    return fail("not an integer: '" + std::string(view) + "'");
  }
  return value;
}

Session::Session(std::string dsn, std::string describe, std::string application_name)
    : m_dsn(std::move(dsn)),
      m_describe(std::move(describe)),
      m_application_name(std::move(application_name)) {}

Status Session::connect() {
  // The DSN is expanded as the database name; the keywords after it override what it says.
  // client_min_messages: no NOTICE lines ("relation ... already exists") on stderr.
  // idle_in_transaction_session_timeout: our transactions send their statements back to back, so
  // a session idle inside one belongs to a collector that froze or lost its link mid-transaction.
  // The server ends it, releasing its locks on pos_partitions (a mark commit's FOR SHARE, a lease
  // round's UPDATE), which would otherwise keep the other collectors from taking its tills over
  // for as long as it stays frozen (found by the 60 s SIGSTOP scenario of tests/e2e/ha_test.cpp).
  const char* keywords[] = {"dbname", "connect_timeout", "application_name", "options", nullptr};
  const char* values[] = {
      m_dsn.c_str(), "5", m_application_name.c_str(),
      "-c client_min_messages=warning -c idle_in_transaction_session_timeout=2000", nullptr};
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

Result<ResultHandle> Session::exec(const std::string& sql, const std::vector<std::string>& params,
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
  ResultHandle result(PQexecParams(m_conn.get(), sql.c_str(), static_cast<int>(values.size()),
                                   nullptr, values.data(), nullptr, nullptr, 0));
  if (!result) {
    return fail(error(trimmed(PQerrorMessage(m_conn.get()))));
  }
  if (PQresultStatus(result.get()) != expected) {
    return fail(error(trimmed(PQresultErrorMessage(result.get()))));
  }
  return result;
}

Status Session::in_transaction(const std::function<Status()>& body) {
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

Status Session::migrate(const std::string& component, int version,
                        const std::vector<std::string>& create) {
  return in_transaction([&]() -> Status {
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
    auto found =
        exec("SELECT version FROM pos_schema WHERE component = $1", {component}, PGRES_TUPLES_OK);
    if (!found) {
      return fail(found.error());
    }
    if (PQntuples(found->get()) > 0) {
      auto recorded = parse_int64(PQgetvalue(found->get(), 0, 0));
      if (!recorded || *recorded != version) {
        return fail(error("schema version " + std::string(PQgetvalue(found->get(), 0, 0)) +
                          " of the " + component + " is not supported (this program knows " +
                          std::to_string(version) + ")"));
      }
      return {};
    }
    for (const auto& statement : create) {
      if (auto made = exec(statement, {}, PGRES_COMMAND_OK); !made) {
        return fail(made.error());
      }
    }
    if (auto set = exec("INSERT INTO pos_schema(component, version) VALUES ($1, $2::integer)",
                        {component, std::to_string(version)}, PGRES_COMMAND_OK);
        !set) {
      return fail(set.error());
    }
    return {};
  });
}

}  // namespace pos::collector::pg
