#pragma once
// zstd dictionaries: training from sample NDJSON, loading, and their ids.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::protocol {

/// Largest dictionary load() and load_file() accept.
inline constexpr std::size_t max_dictionary_bytes = std::size_t{1024} * 1024;

/// A loaded zstd dictionary with its digested compression and decompression forms. Immutable and
/// thread-safe once loaded; share it with std::shared_ptr.
class Dictionary {
 public:
  /// Loads a dictionary in zstd's format. Fails when it is not a zstd dictionary, its id is 0 or it
  /// is larger than max_dictionary_bytes.
  static Result<std::shared_ptr<const Dictionary>> load(std::string bytes, int level = 3);
  /// Loads a dictionary file from disk (at most max_dictionary_bytes); the error names the path.
  static Result<std::shared_ptr<const Dictionary>> load_file(const std::string& path,
                                                             int level = 3);

  ~Dictionary();
  Dictionary(const Dictionary&) = delete;
  Dictionary& operator=(const Dictionary&) = delete;

  std::uint32_t id() const noexcept { return m_id; }
  const std::string& bytes() const noexcept { return m_bytes; }
  /// Opaque zstd handles (ZSTD_CDict*, ZSTD_DDict*), for the batch codec only.
  const void* compression_handle() const noexcept;
  const void* decompression_handle() const noexcept;

 private:
  struct Handles;
  Dictionary();
  std::string m_bytes;
  std::uint32_t m_id = 0;
  std::unique_ptr<Handles> m_handles;
};

struct TrainOptions {
  std::size_t dictionary_bytes = std::size_t{16} * 1024;
  /// Dictionary id to write into the dictionary; 0 lets zstd choose a random one.
  std::uint32_t dictionary_id = 0;
};

/// Trains a dictionary from sample events (each one NDJSON line). Needs enough samples (zstd wants
/// roughly 100x the dictionary size in total); fails with a message saying what was missing.
Result<std::string> train_dictionary(std::span<const std::string> samples,
                                     const TrainOptions& options = {});

/// Splits NDJSON text into non-empty lines (trailing '\r' removed), for training input.
std::vector<std::string> split_ndjson(std::string_view text);

}  // namespace pos::protocol
