#pragma once
// A sink that writes NDJSON files, for local use and benchmarks.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "pos/collector/sink.hpp"

namespace pos::collector {

struct FileSinkConfig {
  std::filesystem::path dir;                   ///< created if missing
  std::uint64_t max_file_bytes = 64ULL << 20;  ///< rotate when the next line would cross this
};

/// Writes each message as one line {"destination","ordering_key","attributes","data"} (data
/// embedded as JSON when it parses as JSON, else as a string) to
/// `{dir}/events-YYYYMMDD-HHMMSS-N.ndjson` (UTC, N counts files of this sink), rotated at
/// max_file_bytes. publish() writes and fdatasyncs the whole call on the calling thread, then
/// posts `done` (ok, or an error naming the file and errno text). Not thread-safe.
class FileSink final : public Sink {
 public:
  /// Throws std::runtime_error when the directory cannot be created.
  FileSink(boost::asio::any_io_executor executor, FileSinkConfig config);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  void publish(Destination destination, std::vector<OutMessage> messages, Done done) override;
  std::size_t pending_bytes() const override { return 0; }
  bool healthy() const override { return m_healthy.load(); }
  void stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped) override;

  /// Files created so far, oldest first.
  const std::vector<std::filesystem::path>& files() const noexcept { return m_files; }

 private:
  Status write_call(Destination destination, const std::vector<OutMessage>& messages);
  Status open_next();

  struct File;
  boost::asio::any_io_executor m_executor;
  FileSinkConfig m_config;
  std::unique_ptr<File> m_file;
  std::vector<std::filesystem::path> m_files;
  std::uint64_t m_counter = 0;
  std::atomic<bool> m_healthy{true};
  bool m_stopped = false;
};

}  // namespace pos::collector
