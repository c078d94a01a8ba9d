#include "pos/protocol/batch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pos/protocol/dictionary.hpp"

namespace pos::protocol {
namespace {

std::vector<std::string> make_lines(std::size_t n, std::uint64_t first_seq = 1) {
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < n; ++i) {
    lines.push_back(R"({"type":"sale","seq":)" + std::to_string(first_seq + i) + R"(,"sku":"TOP-)" +
                    std::to_string(i % 17) + R"(","qty":1})");
  }
  return lines;
}

std::vector<std::string> to_strings(const std::vector<std::string_view>& views) {
  return {views.begin(), views.end()};
}

TEST(Codec, Names) {
  EXPECT_EQ(to_string(Codec::none), "none");
  EXPECT_EQ(to_string(Codec::zstd), "zstd");
  EXPECT_EQ(to_string(Codec::zstd_dictionary), "zstd-dict");
}

TEST(BatchEncoder, ZstdRoundTrip) {
  BatchEncoder encoder;
  BatchDecoder decoder;
  const auto lines = make_lines(20, 41);
  auto message = encoder.encode(0x0123456789abcdefULL, 41, lines);
  ASSERT_TRUE(message) << message.error().message;
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->header.codec, Codec::zstd);
  EXPECT_EQ(batch->header.dictionary_id, 0u);
  EXPECT_EQ(batch->header.epoch, 0x0123456789abcdefULL);
  EXPECT_EQ(batch->header.first_seq, 41u);
  EXPECT_EQ(batch->header.count, 20u);
  EXPECT_EQ(batch->header.raw_len, batch->payload.size());
  EXPECT_EQ(to_strings(batch->lines), lines);
}

TEST(BatchEncoder, HeaderIsLittleEndianAsSpecified) {
  BatchEncoder encoder;
  const std::vector<std::string> lines = {"{}", R"({"a":1})"};
  auto message = encoder.encode(0x1122334455667788ULL, 0x0102030405060708ULL, lines, Codec::none);
  ASSERT_TRUE(message);
  const std::string expected_header(
      "POSB\x01\x00\x00\x00"
      "\x00\x00\x00\x00"
      "\x88\x77\x66\x55\x44\x33\x22\x11"
      "\x08\x07\x06\x05\x04\x03\x02\x01"
      "\x02\x00\x00\x00"
      "\x0b\x00\x00\x00",
      36);
  EXPECT_EQ(message->substr(0, 36), expected_header);
  EXPECT_EQ(message->substr(36), "{}\n{\"a\":1}\n");
}

TEST(BatchEncoder, ZstdFrameCarriesChecksumAndContentSize) {
  BatchEncoder encoder;
  auto message = encoder.encode(1, 1, make_lines(3));
  ASSERT_TRUE(message);
  EXPECT_EQ(static_cast<unsigned char>((*message)[5]), 1u);
  // Frame header descriptor: bit 2 is the checksum flag; FCS flag or single segment is set.
  const auto descriptor = static_cast<unsigned char>((*message)[36 + 4]);
  EXPECT_NE(descriptor & 0x04, 0);
  EXPECT_NE(descriptor & 0xE0, 0);
}

TEST(BatchEncoder, CodecNoneRoundTrip) {
  BatchEncoder encoder;
  BatchDecoder decoder;
  const auto lines = make_lines(5);
  auto message = encoder.encode(7, 1, lines, Codec::none);
  ASSERT_TRUE(message);
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->header.codec, Codec::none);
  EXPECT_EQ(to_strings(batch->lines), lines);
}

TEST(BatchEncoder, SingleTinyLineSurvivesMoves) {
  BatchEncoder encoder;
  BatchDecoder decoder;
  const std::vector<std::string> lines = {"{}"};
  auto message = encoder.encode(1, 1, lines);
  ASSERT_TRUE(message);
  auto result = decoder.decode(*message);
  ASSERT_TRUE(result) << result.error().message;
  DecodedBatch moved = std::move(*result);
  DecodedBatch again = std::move(moved);
  ASSERT_EQ(again.lines.size(), 1u);
  EXPECT_EQ(again.lines[0], "{}");
  EXPECT_EQ(again.lines[0].data(), again.payload.data());
}

TEST(BatchEncoder, LargeBatchRoundTrip) {
  BatchEncoder encoder(1);
  BatchDecoder decoder;
  const auto lines = make_lines(10'000);
  auto message = encoder.encode(3, 1, lines);
  ASSERT_TRUE(message);
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(to_strings(batch->lines), lines);
  EXPECT_LT(message->size(), batch->payload.size() / 4);
}

TEST(BatchEncoder, EncoderAndDecoderAreReusableAndMovable) {
  BatchEncoder first;
  BatchEncoder encoder = std::move(first);
  BatchDecoder decoder_a;
  BatchDecoder decoder = std::move(decoder_a);
  for (std::uint64_t seq = 1; seq < 200; seq += 20) {
    const auto lines = make_lines(20, seq);
    auto message = encoder.encode(9, seq, lines);
    ASSERT_TRUE(message);
    auto batch = decoder.decode(*message);
    ASSERT_TRUE(batch) << batch.error().message;
    EXPECT_EQ(batch->header.first_seq, seq);
    EXPECT_EQ(to_strings(batch->lines), lines);
  }
}

TEST(BatchEncoder, RejectsInputThatCannotBeDecoded) {
  BatchEncoder encoder;
  const std::vector<std::string> none;
  auto empty = encoder.encode(1, 1, none);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty batch"), std::string::npos);

  const std::vector<std::string> empty_line = {"{}", ""};
  auto r1 = encoder.encode(1, 1, empty_line);
  ASSERT_FALSE(r1);
  EXPECT_NE(r1.error().message.find("line 1 is empty"), std::string::npos);

  const std::vector<std::string> newline = {"{}\n{}"};
  auto r2 = encoder.encode(1, 1, newline);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("contains a newline"), std::string::npos);

  auto r3 = encoder.encode(1, 0, make_lines(1));
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message.find("first_seq"), std::string::npos);

  auto r4 = encoder.encode(1, UINT64_MAX, make_lines(2));
  ASSERT_FALSE(r4);
  EXPECT_NE(r4.error().message.find("overflows"), std::string::npos);

  auto r5 = encoder.encode(1, 1, make_lines(1), Codec::zstd_dictionary);
  ASSERT_FALSE(r5);
  EXPECT_NE(r5.error().message.find("needs an encoder with a dictionary"), std::string::npos);
}

TEST(BatchEncoder, LastSeqMayBeTheLargestValue) {
  BatchEncoder encoder;
  BatchDecoder decoder;
  auto message = encoder.encode(1, UINT64_MAX - 1, make_lines(2));
  ASSERT_TRUE(message);
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->header.first_seq, UINT64_MAX - 1);
}

TEST(DecodeBatchHeader, ReadsOnlyTheHeader) {
  BatchEncoder encoder;
  auto message = encoder.encode(5, 100, make_lines(4));
  ASSERT_TRUE(message);
  const std::span bytes(reinterpret_cast<const std::uint8_t*>(message->data()), 36);
  auto header = decode_batch_header(bytes);
  ASSERT_TRUE(header) << header.error().message;
  EXPECT_EQ(header->codec, Codec::zstd);
  EXPECT_EQ(header->epoch, 5u);
  EXPECT_EQ(header->first_seq, 100u);
  EXPECT_EQ(header->count, 4u);
}

TEST(DecodeLimits, ExactlyAtTheLimitsIsAccepted) {
  BatchEncoder encoder;
  const auto lines = make_lines(10);
  auto message = encoder.encode(1, 1, lines);
  ASSERT_TRUE(message);
  std::size_t raw = 0;
  for (const auto& l : lines) {
    raw += l.size() + 1;
  }
  BatchDecoder decoder(DecodeLimits{message->size(), raw, 10});
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
}

class DictionaryBatch : public ::testing::Test {
 protected:
  static std::vector<std::string> samples() {
    std::vector<std::string> out;
    const char* categories[] = {"tops", "bottoms", "dresses", "outerwear", "accessories", "shoes"};
    for (int i = 0; i < 2000; ++i) {
      out.push_back(R"({"type":"sale","pos_event_id":"e-)" + std::to_string(i * 7919) +
                    R"(","store_id":"S07","till_id":"T2","lines":[{"sku":"FY-)" +
                    std::to_string(i % 301) + R"(","category":")" + categories[i % 6] +
                    R"(","qty":)" + std::to_string(1 + i % 3) + R"(,"unit_price":)" +
                    std::to_string(49'000 + (i % 40) * 5'000) + "}]}");
    }
    return out;
  }
};

TEST_F(DictionaryBatch, RoundTripWithDictionary) {
  auto trained = train_dictionary(samples(), TrainOptions{4096, 424242});
  ASSERT_TRUE(trained) << trained.error().message;
  auto dict = Dictionary::load(*trained);
  ASSERT_TRUE(dict) << dict.error().message;
  ASSERT_EQ((*dict)->id(), 424242u);
  std::shared_ptr<const Dictionary> shared = *dict;

  BatchEncoder encoder(3, shared);
  BatchDecoder decoder(
      {}, [shared](std::uint32_t id) { return id == shared->id() ? shared : nullptr; });
  const auto lines = make_lines(5);
  auto message = encoder.encode(1, 1, lines);
  ASSERT_TRUE(message);
  EXPECT_EQ(static_cast<unsigned char>((*message)[5]), 2u);
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->header.codec, Codec::zstd_dictionary);
  EXPECT_EQ(batch->header.dictionary_id, 424242u);
  EXPECT_EQ(to_strings(batch->lines), lines);

  auto plain = encoder.encode(1, 1, lines, Codec::zstd);
  ASSERT_TRUE(plain);
  auto plain_batch = decoder.decode(*plain);
  ASSERT_TRUE(plain_batch) << plain_batch.error().message;
  EXPECT_EQ(plain_batch->header.codec, Codec::zstd);
  EXPECT_EQ(to_strings(plain_batch->lines), lines);

  BatchDecoder without_dictionaries;
  auto unknown = without_dictionaries.decode(*message);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown dictionary id 424242"), std::string::npos);
}

}  // namespace
}  // namespace pos::protocol
