#pragma once
// Shared pieces of the collector unit tests: a settable clock, a temp directory, batch building
// with the real protocol encoder, and an io loop runner for work completed by other threads.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pos/common/clock.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"
#include "support/wait.hpp"

namespace pos::collector::test {

/// The smallest valid poscollector config: only the keys without defaults.
inline std::string minimal_collector_config() {
  return R"(
collector_id = "collector-1"
data_dir = "/var/lib/poscollector"
[mqtt]
uri = "mqtt://127.0.0.1:1883"
[sink]
project = "fastyle-prod"
)";
}

class ManualClock final : public common::Clock {
 public:
  std::int64_t now_ms = 1'795'000'000'000;  // 2026-11-18
  std::int64_t now_unix_ms() const override { return now_ms; }
  std::chrono::steady_clock::time_point now_steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms));
  }
};

class TempDir {
 public:
  TempDir()
      : m_path(std::filesystem::temp_directory_path() /
               ("pos-collector-test-" + std::to_string(std::random_device{}()))) {
    std::filesystem::create_directories(m_path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

inline std::string sale_json(std::uint64_t n) {
  return R"({"type":"sale","pos_event_id":"r-)" + std::to_string(n) +
         R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",)"
         R"("customer":{"id":null,"type":"guest"},"lines":[{"sku":"A1","category":"tops",)"
         R"("qty":1,"unit_price_minor":100,"unit_cost_minor":50,"discount_minor":0}],)"
         R"("payment":{"method":"cash"}})";
}

/// The agent's payload line for seq `seq` (the stamp may claim other ids or another seq).
inline std::string payload_line(const std::string& store, const std::string& till,
                                std::uint64_t epoch, std::uint64_t seq) {
  auto event = protocol::parse_pos_event(sale_json(seq));
  return protocol::make_payload_line(
      *event, protocol::AgentStamp{store, till, epoch, seq, "2026-11-22T03:15:03.120Z"});
}

inline std::vector<std::string> lines_for(const std::string& store, const std::string& till,
                                          std::uint64_t epoch, std::uint64_t first,
                                          std::uint64_t count) {
  std::vector<std::string> lines;
  for (std::uint64_t seq = first; seq < first + count; ++seq) {
    lines.push_back(payload_line(store, till, epoch, seq));
  }
  return lines;
}

inline std::string encode(std::uint64_t epoch, std::uint64_t first,
                          const std::vector<std::string>& lines,
                          protocol::Codec codec = protocol::Codec::zstd) {
  protocol::BatchEncoder encoder;
  return *encoder.encode(epoch, first, lines, codec);
}

/// Runs the io loop until `done()` holds (true) or the timeout passes (false); other threads
/// (the MarkStore writer) may post work meanwhile. The one implementation is
/// tests/support/wait.hpp's.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  return static_cast<bool>(pos::test::run_until(io, done, timeout, "the test's condition",
                                                std::chrono::milliseconds(1)));
}

/// Runs the io loop for `duration` (to show that something does NOT happen).
inline void run_for(boost::asio::io_context& io,
                    std::chrono::milliseconds duration = std::chrono::milliseconds(60)) {
  static_cast<void>(run_until(
      io, [] { return false; }, duration));
}

}  // namespace pos::collector::test
