#pragma once
// Batch envelope version 1 (SPEC "Batch format"): a 36-byte little-endian header followed by
// `count` NDJSON lines, compressed per codec.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::protocol {

class Dictionary;

inline constexpr std::size_t batch_header_size = 36;
inline constexpr std::uint8_t batch_version = 1;

/// Batches of at most this many raw bytes (one to a few events: the live path) are compressed at
/// least at small_batch_level, whatever the encoder's level: there the message's size counts and
/// its CPU does not (about 14 us instead of 2 us for one event; docs/benchmarks.md, "Codec").
inline constexpr std::size_t small_batch_max_raw_bytes = 2048;
inline constexpr int small_batch_level = 9;

enum class Codec : std::uint8_t { none = 0, zstd = 1, zstd_dictionary = 2 };

/// "none", "zstd" or "zstd-dict".
std::string_view to_string(Codec codec) noexcept;

struct BatchHeader {
  Codec codec = Codec::none;
  std::uint32_t dictionary_id = 0;  ///< 0 unless codec is zstd_dictionary
  std::uint64_t epoch = 0;
  std::uint64_t first_seq = 0;  ///< >= 1
  std::uint32_t count = 0;      ///< >= 1
  std::uint32_t raw_len = 0;    ///< payload length before compression
};

/// Hard limits for decoding untrusted batches. Every size is checked before anything is allocated.
struct DecodeLimits {
  std::size_t max_encoded_bytes = std::size_t{8} * 1024 * 1024;  ///< whole message, with header
  std::size_t max_raw_bytes = std::size_t{32} * 1024 * 1024;     ///< declared and actual raw size
  std::uint32_t max_count = 10'000;                              ///< events per batch
};

/// Reads and checks the 36-byte header only: magic, version, codec, reserved bytes, dictionary id
/// consistent with the codec, first_seq >= 1, count >= 1, first_seq + count - 1 does not overflow,
/// raw_len and the message size within `limits`. Errors start with `batch:` and name the field.
Result<BatchHeader> decode_batch_header(std::span<const std::uint8_t> message,
                                        const DecodeLimits& limits = {});

/// A decoded batch: header plus the decompressed NDJSON payload, split into exactly `count` lines.
/// `payload` is always heap-allocated, so moving a DecodedBatch keeps `lines` valid; a copy's
/// `lines` still point into the original.
struct DecodedBatch {
  BatchHeader header;
  std::string payload;
  std::vector<std::string_view> lines;  ///< views into `payload`, without the newlines
};

/// Compresses batches. Owns one zstd compression context; reuse one per thread. Move-only.
class BatchEncoder {
 public:
  /// `dictionary` may be null (plain zstd); when set it must outlive the encoder. `level` is the
  /// zstd level of batches over small_batch_max_raw_bytes (smaller ones: see there). Throws
  /// std::bad_alloc when zstd cannot allocate its context, std::runtime_error on a bad level.
  explicit BatchEncoder(int level = 3, std::shared_ptr<const Dictionary> dictionary = nullptr);
  ~BatchEncoder();
  BatchEncoder(BatchEncoder&&) noexcept;
  BatchEncoder& operator=(BatchEncoder&&) noexcept;
  BatchEncoder(const BatchEncoder&) = delete;
  BatchEncoder& operator=(const BatchEncoder&) = delete;

  /// Encodes `lines` (each one JSON object without a newline) into a batch. The codec is
  /// zstd_dictionary when the encoder has a dictionary, zstd otherwise, or `none` when `codec`
  /// forces it. Fails only on zstd errors or when lines is empty.
  Result<std::string> encode(std::uint64_t epoch, std::uint64_t first_seq,
                             std::span<const std::string> lines);
  Result<std::string> encode(std::uint64_t epoch, std::uint64_t first_seq,
                             std::span<const std::string> lines, Codec codec);

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

/// Finds a dictionary by id for decoding; returns null when unknown.
using DictionaryLookup = std::function<std::shared_ptr<const Dictionary>(std::uint32_t id)>;

/// Decodes untrusted batches within limits. Owns one zstd decompression context. Move-only.
class BatchDecoder {
 public:
  explicit BatchDecoder(DecodeLimits limits = {}, DictionaryLookup dictionaries = {});
  ~BatchDecoder();
  BatchDecoder(BatchDecoder&&) noexcept;
  BatchDecoder& operator=(BatchDecoder&&) noexcept;
  BatchDecoder(const BatchDecoder&) = delete;
  BatchDecoder& operator=(const BatchDecoder&) = delete;

  /// Decodes one batch message. Fails (never throws, never allocates beyond the limits) on: bad
  /// header, unknown dictionary, corrupt or truncated zstd frame, checksum mismatch, trailing bytes
  /// after the frame, decompressed size != raw_len, a line count != count, an empty line or a
  /// payload not ending in '\n'. Messages start with `batch:`.
  Result<DecodedBatch> decode(std::span<const std::uint8_t> message);
  Result<DecodedBatch> decode(std::string_view message) {
    return decode(std::span(reinterpret_cast<const std::uint8_t*>(message.data()), message.size()));
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace pos::protocol
