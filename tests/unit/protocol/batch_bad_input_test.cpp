// Malformed batches: each one must be rejected with an error naming the problem.
#include <gtest/gtest.h>
#include <zstd.h>

#include <memory>
#include <string>
#include <vector>

#include "pos/protocol/batch.hpp"
#include "pos/protocol/dictionary.hpp"

namespace pos::protocol {
namespace {

const DecodeLimits test_limits{std::size_t{16} * 1024, std::size_t{64} * 1024, 10};

struct Fields {
  std::string magic = "POSB";
  std::uint8_t version = 1;
  std::uint8_t codec = 1;
  std::uint16_t reserved = 0;
  std::uint32_t dictionary_id = 0;
  std::uint64_t epoch = 0xfeedULL;
  std::uint64_t first_seq = 1;
  std::uint32_t count = 1;
  std::uint32_t raw_len = 3;
};

template <class T>
void put_le(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
}

std::string header(const Fields& f) {
  std::string out = f.magic;
  out += static_cast<char>(f.version);
  out += static_cast<char>(f.codec);
  put_le(out, f.reserved);
  put_le(out, f.dictionary_id);
  put_le(out, f.epoch);
  put_le(out, f.first_seq);
  put_le(out, f.count);
  put_le(out, f.raw_len);
  return out;
}

struct ZstdOptions {
  int checksum = 1;
  int content_size = 1;
  const std::string* dictionary = nullptr;
};

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};

std::string zstd(const std::string& payload, ZstdOptions o = {}) {
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  auto check = [](std::size_t rc) {
    if (ZSTD_isError(rc)) {
      throw std::runtime_error(ZSTD_getErrorName(rc));
    }
  };
  check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, o.checksum));
  check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, o.content_size));
  if (o.dictionary) {
    check(ZSTD_CCtx_loadDictionary(cctx.get(), o.dictionary->data(), o.dictionary->size()));
  }
  std::string out(ZSTD_compressBound(payload.size()), '\0');
  const std::size_t n =
      ZSTD_compress2(cctx.get(), out.data(), out.size(), payload.data(), payload.size());
  check(n);
  out.resize(n);
  return out;
}

// A frame made by hand: 4-byte magic, descriptor, the rest of the frame header, then blocks.
std::string raw_frame(std::uint8_t descriptor, const std::string& header_rest,
                      const std::string& blocks) {
  std::string out;
  put_le<std::uint32_t>(out, 0xFD2FB528u);
  out += static_cast<char>(descriptor);
  return out + header_rest + blocks;
}

std::string rle_block(std::uint32_t size, char byte, bool last) {
  std::string out;
  const std::uint32_t v = (last ? 1u : 0u) | (1u << 1) | (size << 3);
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>((v >> 16) & 0xff);
  out += byte;
  return out;
}

std::string le32(std::uint32_t v) {
  std::string out;
  put_le(out, v);
  return out;
}

std::string make_dictionary(std::uint32_t id) {
  std::vector<std::string> samples;
  for (int i = 0; i < 1000; ++i) {
    samples.push_back(R"({"type":"sale","store_id":"S01","seq":)" + std::to_string(i) +
                      R"(,"lines":[{"sku":"SH-)" + std::to_string(i % 50) + R"(","qty":2}]})");
  }
  auto trained = train_dictionary(samples, TrainOptions{2048, id});
  if (!trained) {
    throw std::runtime_error(trained.error().message);
  }
  return *trained;
}

const std::string& other_dictionary() {
  static const std::string dict = make_dictionary(5555);
  return dict;
}

const std::string& test_dictionary() {
  static const std::string dict = [] {
    std::vector<std::string> samples;
    for (int i = 0; i < 1000; ++i) {
      samples.push_back(R"({"type":"sale","store_id":"S01","seq":)" + std::to_string(i) +
                        R"(,"lines":[{"sku":"SH-)" + std::to_string(i % 50) + R"(","qty":2}]})");
    }
    auto trained = train_dictionary(samples, TrainOptions{2048, 31337});
    if (!trained) {
      throw std::runtime_error(trained.error().message);
    }
    return *trained;
  }();
  return dict;
}
constexpr std::uint32_t known_dictionary_id = 31337;

struct Case {
  std::string name;
  std::string message;
  std::string expected;
};

std::vector<Case> cases() {
  const std::string two = "{}\n{}\n";
  const std::string line = R"({"type":"sale","sku":"TOP-1","qty":1})"
                           "\n";
  const std::string frame = zstd(line);
  const auto n = static_cast<std::uint32_t>(line.size());
  std::string bomb_blocks;
  for (int i = 0; i < 80; ++i) {
    bomb_blocks += rle_block(128 * 1024, 'a', i == 79);
  }
  std::string corrupt_middle = zstd(std::string(R"({"k":"q8Zp3LmX0vB7rT2wYe9N"})") + "\n");
  corrupt_middle[corrupt_middle.size() / 2] ^= 0x20;
  std::string corrupt_checksum = frame;
  corrupt_checksum.back() ^= 0x01;
  const std::string skippable = le32(0x184D2A50u) + le32(4) + "abcd";

  auto h = [](Fields f) { return header(f); };
  return {
      {"empty", "", "message of 0 bytes is shorter than the 36-byte header"},
      {"truncated_header", h({}).substr(0, 35), "message of 35 bytes is shorter"},
      {"bad_magic", h({.magic = "POSX"}) + "{}\n", "bad magic"},
      {"version_2", h({.version = 2}) + "{}\n", "unsupported version 2"},
      {"version_0", h({.version = 0}) + "{}\n", "unsupported version 0"},
      {"unknown_codec", h({.codec = 3}) + "{}\n", "unknown codec 3"},
      {"reserved_set", h({.reserved = 1}) + "{}\n", "reserved bytes are 1"},
      {"none_with_dict_id", h({.codec = 0, .dictionary_id = 9}) + "{}\n",
       "dictionary id 9 with codec none"},
      {"zstd_with_dict_id", h({.codec = 1, .dictionary_id = 9}) + frame,
       "dictionary id 9 with codec zstd"},
      {"dict_codec_without_id", h({.codec = 2, .dictionary_id = 0, .raw_len = n}) + frame,
       "codec zstd-dict needs a dictionary id, got 0"},
      {"unknown_dictionary",
       h({.codec = 2, .dictionary_id = 5555, .raw_len = n}) +
           zstd(line, {.dictionary = &other_dictionary()}),
       "unknown dictionary id 5555"},
      {"frame_dictionary_differs",
       h({.codec = 2, .dictionary_id = 4242, .raw_len = n}) +
           zstd(line, {.dictionary = &test_dictionary()}),
       "frame dictionary id 31337 does not match the header's 4242"},
      {"dict_codec_garbage_frame", h({.codec = 2, .dictionary_id = 77, .raw_len = 3}) + "xxxxxx",
       "not a zstd frame"},
      {"first_seq_zero", h({.codec = 0, .first_seq = 0}) + "{}\n", "first_seq must be >= 1, got 0"},
      {"count_zero", h({.codec = 0, .count = 0}) + "{}\n", "count must be >= 1, got 0"},
      {"count_over_limit", h({.codec = 0, .count = 11, .raw_len = 33}) + std::string(33, 'x'),
       "count 11 exceeds the limit 10"},
      {"seq_overflow", h({.codec = 0, .first_seq = UINT64_MAX, .count = 2, .raw_len = 6}) + two,
       "overflows the seq range"},
      {"raw_len_over_limit", h({.raw_len = 40'000'000}) + frame,
       "declared raw_len 40000000 exceeds the limit 65536"},
      {"raw_len_too_small", h({.codec = 0, .count = 2, .raw_len = 3}) + "{}\n",
       "raw_len 3 is too small for 2 lines"},
      {"none_payload_short", h({.codec = 0, .count = 2, .raw_len = 6}) + "{}\n{}",
       "payload is 5 bytes but raw_len is 6"},
      {"none_payload_long", h({.codec = 0, .count = 1, .raw_len = 3}) + "{}\n{}\n",
       "payload is 6 bytes but raw_len is 3"},
      {"message_over_limit", h({.codec = 0, .raw_len = 17'000}) + std::string(17'000, 'x'),
       "message of 17036 bytes exceeds the limit 16384"},
      {"zstd_raw_len_mismatch", h({.raw_len = n + 1}) + frame,
       "declares content size " + std::to_string(n) + " but raw_len is " + std::to_string(n + 1)},
      {"zstd_no_payload", h({.raw_len = n}), "zstd frame is missing"},
      {"zstd_truncated_frame_header", h({.raw_len = n}) + frame.substr(0, 5),
       "zstd frame header is truncated"},
      {"zstd_truncated_frame", h({.raw_len = n}) + frame.substr(0, frame.size() - 1),
       "zstd frame is truncated or corrupt"},
      {"zstd_trailing_bytes", h({.raw_len = n}) + frame + "xyz", "3 trailing bytes after"},
      {"zstd_two_frames", h({.raw_len = n}) + frame + frame, "trailing bytes after the zstd frame"},
      {"zstd_corrupt_checksum", h({.raw_len = n}) + corrupt_checksum, "checksum mismatch"},
      {"zstd_corrupt_byte", h({.raw_len = 30}) + corrupt_middle, "batch: zstd"},
      {"zstd_no_checksum", h({.raw_len = n}) + zstd(line, {.checksum = 0}),
       "zstd frame has no checksum"},
      {"zstd_no_content_size", h({.raw_len = n}) + zstd(line, {.content_size = 0}),
       "does not declare its content size"},
      {"zstd_garbage", h({.raw_len = n}) + "this is not zstd at all", "not a zstd frame"},
      {"zstd_skippable", h({.raw_len = n}) + skippable, "skippable zstd frame"},
      {"frame_dict_but_codec_zstd",
       h({.raw_len = n}) + zstd(line, {.dictionary = &test_dictionary()}),
       "frame dictionary id 31337 does not match the header's 0"},
      {"codec_dict_but_frame_plain",
       h({.codec = 2, .dictionary_id = known_dictionary_id, .raw_len = n}) + frame,
       "frame dictionary id 0 does not match the header's 31337"},
      {"zip_bomb_blocks",
       h({.raw_len = 100}) + raw_frame(0x84, std::string(1, 7 << 3) + le32(100), bomb_blocks) +
           le32(0),
       "zstd decompression failed"},
      {"zip_bomb_declared",
       h({.raw_len = 100}) + raw_frame(0x84, std::string(1, 7 << 3) + le32(40'000'000),
                                       rle_block(16, 'a', true) + le32(0)),
       "declares content size 40000000 but raw_len is 100"},
      {"huge_window",
       h({.raw_len = 100}) + raw_frame(0x84, std::string(1, static_cast<char>(20 << 3)) + le32(100),
                                       rle_block(100, 'a', true) + le32(0)),
       "zstd window of 1073741824 bytes is too large"},
      {"fewer_lines", h({.codec = 0, .count = 3, .raw_len = 6}) + two,
       "payload has 2 lines but count is 3"},
      {"more_lines", h({.codec = 0, .count = 1, .raw_len = 6}) + two, "more than 1 lines"},
      {"empty_line", h({.codec = 0, .count = 3, .raw_len = 7}) + "{}\n\n{}\n", "line 1 is empty"},
      {"leading_empty_line", h({.codec = 0, .count = 2, .raw_len = 4}) + "\n{}\n",
       "line 0 is empty"},
      {"no_final_newline", h({.codec = 0, .count = 2, .raw_len = 5}) + "{}\n{}",
       "does not end with a newline"},
      {"zstd_empty_line", h({.count = 3, .raw_len = 7}) + zstd("{}\n\n{}\n"), "line 1 is empty"},
      {"zstd_no_final_newline", h({.count = 2, .raw_len = 5}) + zstd("{}\n{}"),
       "does not end with a newline"},
  };
}

class BadBatch : public ::testing::TestWithParam<Case> {};

TEST_P(BadBatch, IsRejectedWithAClearError) {
  const auto dict = Dictionary::load(test_dictionary());
  ASSERT_TRUE(dict) << dict.error().message;
  std::shared_ptr<const Dictionary> known = *dict;
  BatchDecoder decoder(test_limits,
                       [known](std::uint32_t id) { return id == known->id() ? known : nullptr; });
  const Case& c = GetParam();
  auto result = decoder.decode(c.message);
  ASSERT_FALSE(result) << c.name << " was accepted";
  const std::string& message = result.error().message;
  EXPECT_EQ(message.rfind("batch: ", 0), 0u) << message;
  EXPECT_NE(message.find(c.expected), std::string::npos)
      << "expected '" << c.expected << "' in '" << message << "'";
}

INSTANTIATE_TEST_SUITE_P(Table, BadBatch, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(BadBatchTable, HasManyDistinctCases) {
  EXPECT_GE(cases().size(), 25u);
}

TEST(BadBatchDictionary, UnknownDictionaryIdIsNamed) {
  BatchDecoder decoder(test_limits, [](std::uint32_t) { return nullptr; });
  const std::string line = "{}\n";
  auto result =
      decoder.decode(header({.codec = 2, .dictionary_id = known_dictionary_id, .raw_len = 3}) +
                     zstd(line, {.dictionary = &test_dictionary()}));
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("unknown dictionary id 31337"), std::string::npos)
      << result.error().message;
}

TEST(BadBatchDictionary, LookupReturningAnotherIdIsUnknown) {
  const auto dict = Dictionary::load(test_dictionary());
  ASSERT_TRUE(dict);
  std::shared_ptr<const Dictionary> known = *dict;
  BatchDecoder decoder(test_limits, [known](std::uint32_t) { return known; });
  auto result = decoder.decode(header({.codec = 2, .dictionary_id = 5, .raw_len = 3}) +
                               zstd("{}\n", {.dictionary = &test_dictionary()}));
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("does not match"), std::string::npos);
}

TEST(BadBatchHeader, HeaderOnlyDecodeAppliesTheSameChecks) {
  const std::string message = header({.count = 11, .raw_len = 40});
  auto result = decode_batch_header(
      std::span(reinterpret_cast<const std::uint8_t*>(message.data()), message.size()),
      test_limits);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("count 11 exceeds the limit 10"), std::string::npos);
}

TEST(BadBatchDecoder, StillWorksAfterErrors) {
  BatchDecoder decoder(test_limits);
  for (const auto& c : cases()) {
    (void)decoder.decode(c.message);
  }
  BatchEncoder encoder;
  const std::vector<std::string> lines = {"{}", R"({"a":1})"};
  auto message = encoder.encode(1, 1, lines);
  ASSERT_TRUE(message);
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->lines.size(), 2u);
}

}  // namespace
}  // namespace pos::protocol
