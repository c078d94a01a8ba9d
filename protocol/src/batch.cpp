#include "pos/protocol/batch.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include "pos/protocol/dictionary.hpp"
#include "zstd_handles.hpp"

namespace pos::protocol {

namespace {

constexpr std::uint8_t magic[4] = {'P', 'O', 'S', 'B'};
constexpr int window_log_max = 27;
// Above every small-string buffer, so DecodedBatch::payload never moves its bytes.
constexpr std::size_t min_heap_capacity = 64;

std::string num(std::uint64_t v) {
  return std::to_string(v);
}

template <class T>
T read_le(const std::uint8_t* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<T>(p[i]) << (8 * i);
  }
  return v;
}

template <class T>
void write_le(char* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}

void write_header(char* p, const BatchHeader& h) {
  std::memcpy(p, magic, 4);
  p[4] = static_cast<char>(batch_version);
  p[5] = static_cast<char>(h.codec);
  write_le<std::uint16_t>(p + 6, 0);
  write_le(p + 8, h.dictionary_id);
  write_le(p + 12, h.epoch);
  write_le(p + 20, h.first_seq);
  write_le(p + 28, h.count);
  write_le(p + 32, h.raw_len);
}

void check_zstd(std::size_t code, const char* what) {
  if (ZSTD_isError(code)) {
    throw std::runtime_error(std::string("batch: ") + what + ": " + ZSTD_getErrorName(code));
  }
}

}  // namespace

std::string_view to_string(Codec codec) noexcept {
  switch (codec) {
    case Codec::none:
      return "none";
    case Codec::zstd:
      return "zstd";
    case Codec::zstd_dictionary:
      return "zstd-dict";
  }
  return "unknown";
}

Result<BatchHeader> decode_batch_header(std::span<const std::uint8_t> message,
                                        const DecodeLimits& limits) {
  if (message.size() > limits.max_encoded_bytes) {
    return fail("batch: message of " + num(message.size()) + " bytes exceeds the limit " +
                num(limits.max_encoded_bytes));
  }
  if (message.size() < batch_header_size) {
    return fail("batch: message of " + num(message.size()) + " bytes is shorter than the " +
                num(batch_header_size) + "-byte header");
  }
  const std::uint8_t* p = message.data();
  if (std::memcmp(p, magic, 4) != 0) {
    return fail("batch: bad magic, expected POSB");
  }
  if (p[4] != batch_version) {
    return fail("batch: unsupported version " + num(p[4]) + ", expected " + num(batch_version));
  }
  if (p[5] > static_cast<std::uint8_t>(Codec::zstd_dictionary)) {
    return fail("batch: unknown codec " + num(p[5]));
  }
  const auto reserved = read_le<std::uint16_t>(p + 6);
  if (reserved != 0) {
    return fail("batch: reserved bytes are " + num(reserved) + ", expected 0");
  }
  BatchHeader h;
  h.codec = static_cast<Codec>(p[5]);
  h.dictionary_id = read_le<std::uint32_t>(p + 8);
  h.epoch = read_le<std::uint64_t>(p + 12);
  h.first_seq = read_le<std::uint64_t>(p + 20);
  h.count = read_le<std::uint32_t>(p + 28);
  h.raw_len = read_le<std::uint32_t>(p + 32);
  if (h.codec == Codec::zstd_dictionary && h.dictionary_id == 0) {
    return fail("batch: codec zstd-dict needs a dictionary id, got 0");
  }
  if (h.codec != Codec::zstd_dictionary && h.dictionary_id != 0) {
    return fail("batch: dictionary id " + num(h.dictionary_id) + " with codec " +
                std::string(to_string(h.codec)) + ", expected 0");
  }
  if (h.first_seq == 0) {
    return fail("batch: first_seq must be >= 1, got 0");
  }
  if (h.count == 0) {
    return fail("batch: count must be >= 1, got 0");
  }
  if (h.count > limits.max_count) {
    return fail("batch: count " + num(h.count) + " exceeds the limit " + num(limits.max_count));
  }
  if (h.first_seq > std::numeric_limits<std::uint64_t>::max() - (h.count - 1)) {
    return fail("batch: first_seq " + num(h.first_seq) + " + count " + num(h.count) +
                " overflows the seq range");
  }
  if (h.raw_len > limits.max_raw_bytes) {
    return fail("batch: declared raw_len " + num(h.raw_len) + " exceeds the limit " +
                num(limits.max_raw_bytes));
  }
  if (h.raw_len < 2 * static_cast<std::uint64_t>(h.count)) {
    return fail("batch: raw_len " + num(h.raw_len) + " is too small for " + num(h.count) +
                " lines");
  }
  return h;
}

struct BatchEncoder::Impl {
  std::shared_ptr<const Dictionary> dictionary;
  detail::CCtxHandle cctx;
  std::string raw;
  int level = 3;
  /// The dictionary digested at small_batch_level, made at the first small batch (about 0.4 MiB
  /// for a 16 KiB dictionary; an encoder that never sends a small batch does not pay it).
  detail::CDictHandle small_batch_cdict;
};

BatchEncoder::BatchEncoder(int level, std::shared_ptr<const Dictionary> dictionary)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->dictionary = std::move(dictionary);
  m_impl->cctx.reset(ZSTD_createCCtx());
  if (!m_impl->cctx) {
    throw std::bad_alloc();
  }
  m_impl->level = level;
  ZSTD_CCtx* c = m_impl->cctx.get();
  check_zstd(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level), "compression level");
  check_zstd(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1), "checksum flag");
  check_zstd(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1), "content size flag");
  // Decoders check the frame's dictionary id against the header's: it stays in the frame.
  check_zstd(ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 1), "dictionary id flag");
}

BatchEncoder::~BatchEncoder() = default;
BatchEncoder::BatchEncoder(BatchEncoder&&) noexcept = default;
BatchEncoder& BatchEncoder::operator=(BatchEncoder&&) noexcept = default;

Result<std::string> BatchEncoder::encode(std::uint64_t epoch, std::uint64_t first_seq,
                                         std::span<const std::string> lines) {
  return encode(epoch, first_seq, lines, m_impl->dictionary ? Codec::zstd_dictionary : Codec::zstd);
}

Result<std::string> BatchEncoder::encode(std::uint64_t epoch, std::uint64_t first_seq,
                                         std::span<const std::string> lines, Codec codec) {
  if (lines.empty()) {
    return fail("batch: cannot encode an empty batch");
  }
  if (lines.size() > std::numeric_limits<std::uint32_t>::max()) {
    return fail("batch: too many lines: " + num(lines.size()));
  }
  if (first_seq == 0) {
    return fail("batch: first_seq must be >= 1, got 0");
  }
  if (first_seq > std::numeric_limits<std::uint64_t>::max() - (lines.size() - 1)) {
    return fail("batch: first_seq " + num(first_seq) + " + count overflows the seq range");
  }
  if (codec == Codec::zstd_dictionary && !m_impl->dictionary) {
    return fail("batch: codec zstd-dict needs an encoder with a dictionary");
  }
  std::size_t raw_len = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return fail("batch: line " + num(i) + " is empty");
    }
    if (lines[i].find('\n') != std::string::npos) {
      return fail("batch: line " + num(i) + " contains a newline");
    }
    raw_len += lines[i].size() + 1;
  }
  if (raw_len > std::numeric_limits<std::uint32_t>::max()) {
    return fail("batch: payload of " + num(raw_len) + " bytes is too large");
  }
  BatchHeader h;
  h.codec = codec;
  h.dictionary_id = codec == Codec::zstd_dictionary ? m_impl->dictionary->id() : 0;
  h.epoch = epoch;
  h.first_seq = first_seq;
  h.count = static_cast<std::uint32_t>(lines.size());
  h.raw_len = static_cast<std::uint32_t>(raw_len);

  std::string& raw = m_impl->raw;
  std::string out;
  if (codec == Codec::none) {
    out.resize(batch_header_size);
    out.reserve(batch_header_size + raw_len);
    for (const auto& line : lines) {
      out += line;
      out += '\n';
    }
    write_header(out.data(), h);
    return out;
  }
  raw.clear();
  raw.reserve(raw_len);
  for (const auto& line : lines) {
    raw += line;
    raw += '\n';
  }
  ZSTD_CCtx* c = m_impl->cctx.get();
  const bool small = raw.size() <= small_batch_max_raw_bytes && m_impl->level < small_batch_level;
  const ZSTD_CDict* cdict = nullptr;
  if (codec == Codec::zstd_dictionary) {
    cdict = static_cast<const ZSTD_CDict*>(m_impl->dictionary->compression_handle());
    if (small) {
      // A small input is compressed with the parameters of the referenced dictionary's level.
      if (!m_impl->small_batch_cdict) {
        const std::string& bytes = m_impl->dictionary->bytes();
        m_impl->small_batch_cdict.reset(
            ZSTD_createCDict(bytes.data(), bytes.size(), small_batch_level));
        if (!m_impl->small_batch_cdict) {
          return fail("batch: zstd could not digest the dictionary for small batches");
        }
      }
      cdict = m_impl->small_batch_cdict.get();
    }
  }
  std::size_t rc = ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
  if (ZSTD_isError(rc)) {
    return fail(std::string("batch: zstd reset: ") + ZSTD_getErrorName(rc));
  }
  rc =
      ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, small ? small_batch_level : m_impl->level);
  if (ZSTD_isError(rc)) {
    return fail(std::string("batch: zstd level: ") + ZSTD_getErrorName(rc));
  }
  rc = ZSTD_CCtx_refCDict(c, cdict);
  if (ZSTD_isError(rc)) {
    return fail(std::string("batch: zstd dictionary: ") + ZSTD_getErrorName(rc));
  }
  out.resize(batch_header_size + ZSTD_compressBound(raw.size()));
  rc = ZSTD_compress2(c, out.data() + batch_header_size, out.size() - batch_header_size, raw.data(),
                      raw.size());
  if (ZSTD_isError(rc)) {
    return fail(std::string("batch: zstd compress: ") + ZSTD_getErrorName(rc));
  }
  out.resize(batch_header_size + rc);
  write_header(out.data(), h);
  return out;
}

struct BatchDecoder::Impl {
  DecodeLimits limits;
  DictionaryLookup dictionaries;
  detail::DCtxHandle dctx;

  Result<DecodedBatch> decompress(const BatchHeader& h, std::span<const std::uint8_t> frame);
};

BatchDecoder::BatchDecoder(DecodeLimits limits, DictionaryLookup dictionaries)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->limits = limits;
  m_impl->dictionaries = std::move(dictionaries);
  m_impl->dctx.reset(ZSTD_createDCtx());
  if (!m_impl->dctx) {
    throw std::bad_alloc();
  }
  check_zstd(ZSTD_DCtx_setParameter(m_impl->dctx.get(), ZSTD_d_windowLogMax, window_log_max),
             "window log max");
}

BatchDecoder::~BatchDecoder() = default;
BatchDecoder::BatchDecoder(BatchDecoder&&) noexcept = default;
BatchDecoder& BatchDecoder::operator=(BatchDecoder&&) noexcept = default;

namespace {

Status split_lines(DecodedBatch& batch) {
  const std::string_view payload = batch.payload;
  if (payload.empty() || payload.back() != '\n') {
    return fail("batch: payload does not end with a newline");
  }
  const std::uint32_t count = batch.header.count;
  batch.lines.clear();
  batch.lines.reserve(count);
  std::size_t start = 0;
  while (start < payload.size()) {
    const std::size_t end = payload.find('\n', start);
    if (end == start) {
      return fail("batch: line " + num(batch.lines.size()) + " is empty");
    }
    if (batch.lines.size() == count) {
      return fail("batch: payload has more than " + num(count) + " lines, count is " + num(count));
    }
    batch.lines.push_back(payload.substr(start, end - start));
    start = end + 1;
  }
  if (batch.lines.size() != count) {
    return fail("batch: payload has " + num(batch.lines.size()) + " lines but count is " +
                num(count));
  }
  return {};
}

}  // namespace

Result<DecodedBatch> BatchDecoder::Impl::decompress(const BatchHeader& h,
                                                    std::span<const std::uint8_t> frame) {
  ZSTD_frameHeader fh;
  const std::size_t hr = ZSTD_getFrameHeader(&fh, frame.data(), frame.size());
  if (ZSTD_isError(hr)) {
    return fail(std::string("batch: payload is not a zstd frame: ") + ZSTD_getErrorName(hr));
  }
  if (hr != 0) {
    return fail("batch: zstd frame header is truncated (" + num(frame.size()) + " bytes)");
  }
  if (fh.frameType != ZSTD_frame) {
    return fail("batch: payload is a skippable zstd frame");
  }
  if (fh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN) {
    return fail("batch: zstd frame does not declare its content size");
  }
  if (fh.frameContentSize != h.raw_len) {
    return fail("batch: zstd frame declares content size " + num(fh.frameContentSize) +
                " but raw_len is " + num(h.raw_len));
  }
  if (fh.checksumFlag == 0) {
    return fail("batch: zstd frame has no checksum");
  }
  if (fh.dictID != h.dictionary_id) {
    return fail("batch: zstd frame dictionary id " + num(fh.dictID) +
                " does not match the header's " + num(h.dictionary_id));
  }
  if (fh.windowSize > (std::uint64_t{1} << window_log_max)) {
    return fail("batch: zstd window of " + num(fh.windowSize) + " bytes is too large");
  }
  const std::size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size)) {
    return fail(std::string("batch: zstd frame is truncated or corrupt: ") +
                ZSTD_getErrorName(frame_size));
  }
  if (frame_size != frame.size()) {
    return fail("batch: " + num(frame.size() - frame_size) +
                " trailing bytes after the zstd frame");
  }
  const ZSTD_DDict* ddict = nullptr;
  std::shared_ptr<const Dictionary> dictionary;
  if (h.codec == Codec::zstd_dictionary) {
    if (dictionaries) {
      dictionary = dictionaries(h.dictionary_id);
    }
    if (!dictionary || dictionary->id() != h.dictionary_id) {
      return fail("batch: unknown dictionary id " + num(h.dictionary_id));
    }
    ddict = static_cast<const ZSTD_DDict*>(dictionary->decompression_handle());
  }
  ZSTD_DCtx* d = dctx.get();
  std::size_t rc = ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
  if (ZSTD_isError(rc)) {
    return fail(std::string("batch: zstd reset: ") + ZSTD_getErrorName(rc));
  }
  rc = ZSTD_DCtx_refDDict(d, ddict);
  if (ZSTD_isError(rc)) {
    return fail(std::string("batch: zstd dictionary: ") + ZSTD_getErrorName(rc));
  }

  DecodedBatch batch;
  batch.header = h;
  batch.payload.reserve(std::max<std::size_t>(h.raw_len, min_heap_capacity));
  batch.payload.resize(h.raw_len);
  rc = ZSTD_decompressDCtx(d, batch.payload.data(), batch.payload.size(), frame.data(),
                           frame.size());
  if (ZSTD_isError(rc)) {
    if (ZSTD_getErrorCode(rc) == ZSTD_error_checksum_wrong) {
      return fail("batch: zstd checksum mismatch, the payload is corrupt");
    }
    return fail(std::string("batch: zstd decompression failed: ") + ZSTD_getErrorName(rc));
  }
  if (rc != h.raw_len) {
    return fail("batch: decompressed " + num(rc) + " bytes but raw_len is " + num(h.raw_len));
  }
  return batch;
}

Result<DecodedBatch> BatchDecoder::decode(std::span<const std::uint8_t> message) {
  auto header = decode_batch_header(message, m_impl->limits);
  if (!header) {
    return fail(header.error());
  }
  const BatchHeader& h = *header;
  const auto payload = message.subspan(batch_header_size);
  Result<DecodedBatch> batch = fail("batch: not decoded");
  if (h.codec == Codec::none) {
    if (payload.size() != h.raw_len) {
      return fail("batch: payload is " + num(payload.size()) + " bytes but raw_len is " +
                  num(h.raw_len));
    }
    DecodedBatch plain;
    plain.header = h;
    plain.payload.reserve(std::max<std::size_t>(h.raw_len, min_heap_capacity));
    plain.payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
    batch = std::move(plain);
  } else {
    if (payload.empty()) {
      return fail("batch: zstd frame is missing (0 payload bytes)");
    }
    batch = m_impl->decompress(h, payload);
    if (!batch) {
      return batch;
    }
  }
  auto split = split_lines(*batch);
  if (!split) {
    return fail(split.error());
  }
  return batch;
}

}  // namespace pos::protocol
