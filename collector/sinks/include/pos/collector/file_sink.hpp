#pragma once
// A sink that writes NDJSON files, for local use and benchmarks.

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "pos/collector/sink.hpp"

namespace pos::collector {

struct FileSinkConfig {
  std::filesystem::path dir;                   ///< created if missing
  std::uint64_t max_file_bytes = 64ULL << 20;  ///< rotate when the next line would cross this
};

/// Writes each message as one line {"destination","ordering_key","attributes","data"} to
/// `{dir}/events-YYYYMMDD-HHMMSS-N.ndjson` (UTC, N counts files of this sink), rotated at
/// max_file_bytes. `data` is embedded verbatim when it is one valid JSON text without CR/LF, as
/// a JSON string otherwise.
///
/// publish() only queues the call; a writer thread of the sink takes every queued call, writes
/// them in call order and fdatasyncs once for all of them (group sync), then posts each `done`
/// (ok, or an error naming the file and errno text) to the executor: `done` means durable, and
/// the caller's thread never waits for the disk. Queued bytes count in pending_bytes(), which the
/// caller bounds. publish() and stop() must be called from one thread (the executor's).
class FileSink final : public Sink {
 public:
  /// Creates the directory and starts the writer thread. Throws std::runtime_error when the
  /// directory cannot be created.
  FileSink(boost::asio::any_io_executor executor, FileSinkConfig config);
  /// Finishes the queued calls, then joins the writer thread.
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  void publish(Destination destination, std::vector<OutMessage> messages, Done done) override;
  std::size_t pending_bytes() const override;
  bool healthy() const override;
  /// Writes and syncs what is queued (every queued `done` runs), then posts `stopped`.
  void stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped) override;

  /// Files created so far, oldest first. Thread-safe (a copy).
  std::vector<std::filesystem::path> files() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace pos::collector
