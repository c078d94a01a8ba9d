#include "pos/protocol/dictionary.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <zstd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "pos/protocol/batch.hpp"

namespace pos::protocol {
namespace {

std::vector<std::string> generated_events(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const char* types[] = {"sale", "sale", "sale", "return", "stock_change"};
  const char* categories[] = {"tops", "bottoms", "dresses", "outerwear", "accessories", "shoes"};
  const char* customers[] = {"new", "returning", "guest"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string e = R"({"type":")" + std::string(types[rng() % 5]) + R"(","pos_event_id":"pe-)" +
                    std::to_string(rng()) + R"(","store_id":"S07","till_id":"T)" +
                    std::to_string(1 + rng() % 4) + R"(","occurred_at":"2026-11-22T03:15:)" +
                    std::to_string(10 + rng() % 50) + R"(.120Z","customer":{"type":")" +
                    customers[rng() % 3] + R"("},"lines":[)";
    const int lines = 1 + static_cast<int>(rng() % 5);
    for (int l = 0; l < lines; ++l) {
      if (l) {
        e += ',';
      }
      e += R"({"sku":"FY-)" + std::to_string(1000 + rng() % 400) + R"(","category":")" +
           categories[rng() % 6] + R"(","qty":)" + std::to_string(1 + rng() % 3) +
           R"(,"unit_price":)" + std::to_string(49'000 + (rng() % 60) * 5'000) + "}";
    }
    e += R"(],"currency":"IDR","event_id":"S07-T1-00000000000000ab-)" + std::to_string(i + 1) +
         R"(","seq":)" + std::to_string(i + 1) + "}";
    out.push_back(std::move(e));
  }
  return out;
}

class DictionaryTest : public ::testing::Test {
 protected:
  static const std::string& trained() {
    static const std::string bytes = [] {
      auto r = train_dictionary(generated_events(3000, 1), TrainOptions{16 * 1024, 0});
      if (!r) {
        throw std::runtime_error(r.error().message);
      }
      return *r;
    }();
    return bytes;
  }
};

TEST_F(DictionaryTest, TrainsAndLoadsWithARandomId) {
  EXPECT_LE(trained().size(), 16u * 1024);
  auto dict = Dictionary::load(trained());
  ASSERT_TRUE(dict) << dict.error().message;
  EXPECT_NE((*dict)->id(), 0u);
  EXPECT_EQ((*dict)->bytes(), trained());
  EXPECT_NE((*dict)->compression_handle(), nullptr);
  EXPECT_NE((*dict)->decompression_handle(), nullptr);
}

TEST_F(DictionaryTest, ExplicitIdIsWritten) {
  auto bytes = train_dictionary(generated_events(1000, 2), TrainOptions{4096, 0x7a11beefu});
  ASSERT_TRUE(bytes) << bytes.error().message;
  auto dict = Dictionary::load(*bytes);
  ASSERT_TRUE(dict) << dict.error().message;
  EXPECT_EQ((*dict)->id(), 0x7a11beefu);
}

// What zstd itself makes of `raw` with the dictionary at `level`, in the frame the batch format
// uses (checksum, content size, dictionary id).
std::string zstd_frame(const std::string& dictionary, int level, const std::string& raw) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  std::unique_ptr<ZSTD_CDict, decltype(&ZSTD_freeCDict)> cdict(
      ZSTD_createCDict(dictionary.data(), dictionary.size(), level), ZSTD_freeCDict);
  EXPECT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level)));
  EXPECT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1)));
  EXPECT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_dictIDFlag, 1)));
  EXPECT_FALSE(ZSTD_isError(ZSTD_CCtx_refCDict(cctx.get(), cdict.get())));
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const std::size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), raw.data(), raw.size());
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

std::string joined(std::span<const std::string> lines) {
  std::string raw;
  for (const auto& line : lines) {
    raw += line;
    raw += '\n';
  }
  return raw;
}

// The live path: a batch of one to a few events is compressed at small_batch_level whatever the
// configured level, a larger one at the configured level; both decode.
TEST_F(DictionaryTest, SmallBatchesAreCompressedAtTheSmallBatchLevel) {
  auto dict = Dictionary::load(trained());
  ASSERT_TRUE(dict);
  std::shared_ptr<const Dictionary> shared = *dict;
  BatchEncoder encoder(3, shared);
  BatchDecoder decoder(
      {}, [shared](std::uint32_t id) { return id == shared->id() ? shared : nullptr; });
  const auto events = generated_events(400, 7);
  for (std::size_t count : {std::size_t{1}, events.size()}) {
    const std::span<const std::string> batch(events.data(), count);
    const std::string raw = joined(batch);
    const int level = raw.size() <= small_batch_max_raw_bytes ? small_batch_level : 3;
    ASSERT_EQ(count == 1, level == small_batch_level) << raw.size() << " raw bytes";
    auto message = encoder.encode(1, 1, batch);
    ASSERT_TRUE(message) << message.error().message;
    EXPECT_EQ(message->substr(batch_header_size), zstd_frame(trained(), level, raw))
        << count << " events: not the frame of level " << level;
    EXPECT_NE(zstd_frame(trained(), level, raw), zstd_frame(trained(), 12 - level, raw))
        << "levels 3 and 9 give the same bytes: the comparison above proves nothing";
    auto decoded = decoder.decode(*message);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->header.dictionary_id, shared->id());
    EXPECT_EQ(decoded->payload, raw);
  }
}

TEST_F(DictionaryTest, CompressesSmallBatchesBetterThanPlainZstd) {
  auto dict = Dictionary::load(trained());
  ASSERT_TRUE(dict);
  std::shared_ptr<const Dictionary> shared = *dict;
  BatchEncoder with(3, shared);
  BatchEncoder without(3);
  BatchDecoder decoder(
      {}, [shared](std::uint32_t id) { return id == shared->id() ? shared : nullptr; });
  const auto events = generated_events(100, 99);
  for (std::size_t size : {1u, 5u, 20u}) {
    std::span<const std::string> batch(events.data(), size);
    auto a = with.encode(1, 1, batch);
    auto b = without.encode(1, 1, batch);
    ASSERT_TRUE(a && b);
    // A single event gains the most: the dictionary supplies every field name.
    const std::size_t gain = size == 1 ? 2 : 1;
    EXPECT_LT(a->size() * gain, b->size())
        << "batch of " << size << ": " << a->size() << " bytes with, " << b->size() << " without";
    auto decoded = decoder.decode(*a);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->lines.size(), size);
    EXPECT_EQ(decoded->lines.back(), batch.back());
  }
}

TEST(DictionaryLoad, RejectsBytesThatAreNotADictionary) {
  auto empty = Dictionary::load("");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("not a zstd dictionary"), std::string::npos);

  auto text = Dictionary::load(std::string(4096, 'x'));
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().message.rfind("dictionary: ", 0), 0u);

  std::string zero_id("\x37\xA4\x30\xEC\x00\x00\x00\x00", 8);
  zero_id += std::string(1000, 'a');
  EXPECT_FALSE(Dictionary::load(zero_id));

  EXPECT_FALSE(Dictionary::load(std::string(max_dictionary_bytes + 1, 'x')));
}

TEST_F(DictionaryTest, RejectsATruncatedOrDamagedDictionary) {
  EXPECT_FALSE(Dictionary::load(trained().substr(0, 40)));
  std::string damaged = trained();
  for (std::size_t i = 8; i < 200; ++i) {
    damaged[i] = static_cast<char>(0xff);
  }
  EXPECT_FALSE(Dictionary::load(damaged));
}

TEST_F(DictionaryTest, LoadFileNamesThePath) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string missing = (dir / "pos-no-such-dictionary.zdict").string();
  auto r = Dictionary::load_file(missing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(missing), std::string::npos);

  const std::string good = (dir / ("pos-dict-test-" + std::to_string(::getpid()))).string();
  {
    std::ofstream out(good, std::ios::binary);
    out << trained();
  }
  auto loaded = Dictionary::load_file(good);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ((*loaded)->bytes(), trained());
  {
    std::ofstream out(good, std::ios::binary);
    out << std::string(max_dictionary_bytes + 10, 'x');
  }
  auto big = Dictionary::load_file(good);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find(good), std::string::npos);
  EXPECT_NE(big.error().message.find("limit"), std::string::npos);
  std::filesystem::remove(good);
}

TEST(TrainDictionary, SaysWhatIsMissing) {
  auto none = train_dictionary({});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("at least 8"), std::string::npos);

  const auto few = generated_events(20, 3);
  auto small = train_dictionary(few, TrainOptions{16 * 1024, 0});
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message.find("too few"), std::string::npos) << small.error().message;

  auto tiny = train_dictionary(few, TrainOptions{16, 0});
  ASSERT_FALSE(tiny);
  EXPECT_NE(tiny.error().message.find("size must be between"), std::string::npos);
}

TEST(SplitNdjson, DropsEmptyLinesAndCarriageReturns) {
  EXPECT_EQ(split_ndjson("{}\r\n\n{\"a\":1}\n\r\n{\"b\":2}"),
            (std::vector<std::string>{"{}", "{\"a\":1}", "{\"b\":2}"}));
  EXPECT_TRUE(split_ndjson("").empty());
  EXPECT_TRUE(split_ndjson("\n\n").empty());
}

}  // namespace
}  // namespace pos::protocol
