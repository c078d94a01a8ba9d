#include "pos/protocol/dictionary.hpp"

#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "zstd_handles.hpp"

namespace pos::protocol {

struct Dictionary::Handles {
  detail::CDictHandle cdict;
  detail::DDictHandle ddict;
};

Dictionary::Dictionary() = default;
Dictionary::~Dictionary() = default;

const void* Dictionary::compression_handle() const noexcept {
  return m_handles ? m_handles->cdict.get() : nullptr;
}

const void* Dictionary::decompression_handle() const noexcept {
  return m_handles ? m_handles->ddict.get() : nullptr;
}

Result<std::shared_ptr<const Dictionary>> Dictionary::load(std::string bytes, int level) {
  if (bytes.size() > max_dictionary_bytes) {
    return fail("dictionary: " + std::to_string(bytes.size()) + " bytes exceeds the limit " +
                std::to_string(max_dictionary_bytes));
  }
  const unsigned id = ZDICT_getDictID(bytes.data(), bytes.size());
  if (id == 0 || ZSTD_getDictID_fromDict(bytes.data(), bytes.size()) != id) {
    return fail("dictionary: not a zstd dictionary with a non-zero id");
  }
  const std::size_t header = ZDICT_getDictHeaderSize(bytes.data(), bytes.size());
  if (ZDICT_isError(header)) {
    return fail(std::string("dictionary: bad dictionary header: ") + ZDICT_getErrorName(header));
  }
  std::shared_ptr<Dictionary> dict(new Dictionary());
  dict->m_handles = std::make_unique<Handles>();
  dict->m_handles->cdict.reset(ZSTD_createCDict(bytes.data(), bytes.size(), level));
  if (!dict->m_handles->cdict) {
    return fail("dictionary: zstd rejected it for compression");
  }
  dict->m_handles->ddict.reset(ZSTD_createDDict(bytes.data(), bytes.size()));
  if (!dict->m_handles->ddict) {
    return fail("dictionary: zstd rejected it for decompression");
  }
  if (ZSTD_getDictID_fromDDict(dict->m_handles->ddict.get()) != id) {
    return fail("dictionary: zstd reads a different id than the header");
  }
  dict->m_id = id;
  dict->m_bytes = std::move(bytes);
  return std::shared_ptr<const Dictionary>(std::move(dict));
}

namespace {

struct FileClose {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

Result<std::string> read_capped(const std::string& path, std::size_t limit) {
  std::unique_ptr<std::FILE, FileClose> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return fail("dictionary " + path + ": " + std::generic_category().message(errno));
  }
  std::string bytes;
  char buffer[64 * 1024];
  while (true) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
    if (bytes.size() + n > limit) {
      return fail("dictionary " + path + ": larger than the limit of " + std::to_string(limit) +
                  " bytes");
    }
    bytes.append(buffer, n);
    if (n < sizeof buffer) {
      break;
    }
  }
  if (std::ferror(file.get())) {
    return fail("dictionary " + path + ": read error");
  }
  return bytes;
}

}  // namespace

Result<std::shared_ptr<const Dictionary>> Dictionary::load_file(const std::string& path,
                                                                int level) {
  auto bytes = read_capped(path, max_dictionary_bytes);
  if (!bytes) {
    return fail(bytes.error());
  }
  auto dict = load(std::move(*bytes), level);
  if (!dict) {
    return fail("dictionary " + path + ": " + dict.error().message);
  }
  return dict;
}

Result<std::string> train_dictionary(std::span<const std::string> samples,
                                     const TrainOptions& options) {
  constexpr std::size_t min_samples = 8;
  constexpr std::size_t max_sample_bytes = std::size_t{512} * 1024 * 1024;
  if (options.dictionary_bytes < ZDICT_DICTSIZE_MIN ||
      options.dictionary_bytes > max_dictionary_bytes) {
    return fail("dictionary: size must be between " + std::to_string(ZDICT_DICTSIZE_MIN) + " and " +
                std::to_string(max_dictionary_bytes) + " bytes");
  }
  std::string joined;
  std::vector<std::size_t> sizes;
  for (const auto& sample : samples) {
    if (sample.empty()) {
      continue;
    }
    if (joined.size() + sample.size() > max_sample_bytes) {
      break;
    }
    joined += sample;
    sizes.push_back(sample.size());
  }
  if (sizes.size() < min_samples) {
    return fail("dictionary: need at least " + std::to_string(min_samples) +
                " non-empty samples, got " + std::to_string(sizes.size()));
  }
  if (joined.size() < options.dictionary_bytes * 10) {
    return fail("dictionary: " + std::to_string(joined.size()) +
                " sample bytes are too few for a " + std::to_string(options.dictionary_bytes) +
                "-byte dictionary (need at least 10x, zstd wants about 100x)");
  }
  std::string dict(options.dictionary_bytes, '\0');
  ZDICT_fastCover_params_t params;
  std::memset(&params, 0, sizeof params);
  params.d = 8;
  params.steps = 4;
  params.zParams.compressionLevel = ZSTD_CLEVEL_DEFAULT;
  params.zParams.dictID = options.dictionary_id;
  const std::size_t n =
      ZDICT_optimizeTrainFromBuffer_fastCover(dict.data(), dict.size(), joined.data(), sizes.data(),
                                              static_cast<unsigned>(sizes.size()), &params);
  if (ZDICT_isError(n)) {
    return fail(std::string("dictionary: training failed: ") + ZDICT_getErrorName(n) + " (" +
                std::to_string(sizes.size()) + " samples, " + std::to_string(joined.size()) +
                " bytes)");
  }
  dict.resize(n);
  if (ZDICT_getDictID(dict.data(), dict.size()) == 0) {
    return fail("dictionary: training produced a dictionary without an id");
  }
  return dict;
}

std::vector<std::string> split_ndjson(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!line.empty()) {
      lines.emplace_back(line);
    }
  }
  return lines;
}

}  // namespace pos::protocol
