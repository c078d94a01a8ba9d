// A real PostgreSQL 15 server (Debian's postgresql-15 binaries) on a free loopback port.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "support/process.hpp"

namespace pos::test {

// initdb (trust authentication, user `postgres`) in a fresh temp dir, then `postgres` on
// 127.0.0.1:free port, both run as the `postgres` user through runuser (initdb refuses root).
// The constructor returns when the server accepts connections (pg_isready); it throws
// std::runtime_error, with the server log, when a binary is missing or the server does not come
// up within 30 s: a missing server is a failure, never a skip. The destructor stops the server by
// process id. Not thread-safe.
class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // "postgresql://postgres@127.0.0.1:PORT/postgres".
  std::string dsn() const;
  std::uint16_t port() const noexcept { return m_port; }

  // Fast shutdown (SIGINT: sessions are ended, the data is flushed); no-op when stopped.
  void stop();
  // SIGKILL to the server's process group; no-op when stopped.
  void kill9();
  // Starts again on the same port and data; no-op when running. Throws like the constructor.
  void start();
  bool running();

 private:
  TempDir m_dir;
  std::filesystem::path m_data;
  std::uint16_t m_port = 0;
  std::optional<ChildProcess> m_server;
};

}  // namespace pos::test
