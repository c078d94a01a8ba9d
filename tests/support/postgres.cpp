#include "support/postgres.hpp"

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <pwd.h>
#include <stdexcept>
#include <thread>

namespace pos::test {
namespace {

const std::filesystem::path bin_dir = "/usr/lib/postgresql/15/bin";

std::filesystem::path binary(const char* name) {
  const auto path = bin_dir / name;
  if (::access(path.c_str(), X_OK) != 0) {
    throw std::runtime_error(path.string() +
                             " is missing: install Debian's postgresql-15 (scripts/install-deps)");
  }
  return path;
}

/// Makes `path` the postgres user's (the server refuses a data directory it does not own).
void give_to_postgres(const std::filesystem::path& path) {
  const passwd* user = ::getpwnam("postgres");
  if (user == nullptr) {
    throw std::runtime_error("no user 'postgres': install Debian's postgresql-15");
  }
  if (::chown(path.c_str(), user->pw_uid, user->pw_gid) != 0) {
    throw std::runtime_error("chown " + path.string() + " to postgres failed");
  }
}

}  // namespace

PostgresServer::PostgresServer() : m_dir("pos-pg"), m_data(m_dir.path() / "data") {
  // The postgres user must reach the data directory and the log inside the temp dir.
  std::filesystem::permissions(m_dir.path(), std::filesystem::perms::owner_all |
                                                 std::filesystem::perms::group_exec |
                                                 std::filesystem::perms::others_exec);
  std::filesystem::create_directory(m_data);
  give_to_postgres(m_data);
  ChildProcess initdb(
      {"runuser", "-u", "postgres", "--", binary("initdb").string(), "-D", m_data.string(),
       "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync"},
      m_dir.path() / "initdb.log");
  if (initdb.wait() != 0) {
    throw std::runtime_error("initdb failed:\n" + read_text_file(m_dir.path() / "initdb.log"));
  }
  m_port = free_tcp_port();
  start();
}

PostgresServer::~PostgresServer() {
  try {
    stop();
  } catch (...) {  // NOLINT(bugprone-empty-catch): the destructor must not throw
  }
}

std::string PostgresServer::dsn() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(m_port) + "/postgres";
}

void PostgresServer::start() {
  if (running()) {
    return;
  }
  const auto log = m_dir.path() / "server.log";
  m_server.emplace(
      std::vector<std::string>{"runuser", "-u", "postgres", "--", binary("postgres").string(), "-D",
                               m_data.string(), "-p", std::to_string(m_port), "-k", m_data.string(),
                               "-c", "listen_addresses=127.0.0.1"},
      log);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!m_server->running()) {
      throw std::runtime_error("postgres exited at start:\n" + read_text_file(log));
    }
    ChildProcess ready(
        {binary("pg_isready").string(), "-q", "-h", "127.0.0.1", "-p", std::to_string(m_port)},
        m_dir.path() / "pg_isready.log");
    if (ready.wait() == 0) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("postgres not ready within 30 s:\n" + read_text_file(log));
}

void PostgresServer::stop() {
  if (!m_server) {
    return;
  }
  if (m_server->running()) {
    ::kill(-m_server->pid(), SIGINT);  // fast shutdown
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (m_server->running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  m_server->kill9();  // the group, if anything is left
  m_server.reset();
}

void PostgresServer::kill9() {
  if (m_server) {
    m_server->kill9();
    m_server.reset();
  }
}

bool PostgresServer::running() {
  return m_server && m_server->running();
}

}  // namespace pos::test
