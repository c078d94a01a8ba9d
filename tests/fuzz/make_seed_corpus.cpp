// Writes the committed seed corpora: make_seed_corpus <batch dir> <event dir>. Deterministic.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "event_mix.hpp"
#include "fuzz_support.hpp"
#include "pos/protocol/batch.hpp"

namespace {

using namespace pos::protocol;

void write(const std::filesystem::path& dir, const std::string& name, const std::string& bytes) {
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    throw std::runtime_error("cannot write " + (dir / name).string());
  }
}

void batches(const std::filesystem::path& dir) {
  const auto lines = pos::bench::make_payload_lines(10, 99, 0xabcdef0123456789ULL, 1);
  BatchEncoder encoder(3, pos::fuzz::fuzz_dictionary());
  int n = 0;
  auto emit = [&](const std::string& what, const std::string& bytes) {
    write(dir, std::to_string(n++) + "-" + what, bytes);
  };
  for (std::size_t count : {1u, 2u, 5u}) {
    const std::span<const std::string> batch(lines.data(), count);
    for (Codec codec : {Codec::none, Codec::zstd, Codec::zstd_dictionary}) {
      auto message = encoder.encode(0xabcdef0123456789ULL, 1, batch, codec);
      if (!message) {
        throw std::runtime_error(message.error().message);
      }
      emit("valid-" + std::string(to_string(codec)) + "-" + std::to_string(count), *message);
      if (count != 2) {
        continue;
      }
      std::string m = *message;
      emit("truncated-" + std::string(to_string(codec)), m.substr(0, m.size() - 3));
      emit("trailing-" + std::string(to_string(codec)), m + "xx");
      std::string flipped = m;
      flipped[m.size() / 2 + 18] ^= 0x10;
      emit("flipped-" + std::string(to_string(codec)), flipped);
      std::string count_off = m;
      count_off[28] = 3;
      emit("count-off-" + std::string(to_string(codec)), count_off);
    }
  }
  const std::vector<std::string> tiny = {"{}", "{\"a\":1}"};
  auto small = encoder.encode(1, 1, tiny, Codec::zstd);
  emit("valid-tiny", *small);
  emit("header-only", small->substr(0, 36));
  emit("bad-magic", "POSX" + small->substr(4));
  std::string overflow = *small;
  for (int i = 20; i < 28; ++i) {
    overflow[i] = static_cast<char>(0xff);
  }
  emit("seq-overflow", overflow);
  emit("empty", "");
}

void events(const std::filesystem::path& dir) {
  pos::bench::EventMix mix(5);
  int n = 0;
  auto emit = [&](const std::string& what, const std::string& text) {
    write(dir, std::to_string(n++) + "-" + what, text);
  };
  for (int i = 0; i < 14; ++i) {
    emit("event", mix.next_event());
  }
  for (const auto& line : pos::bench::make_payload_lines(4, 77, 0x00000000000000abULL, 1)) {
    emit("payload-line", line);
  }
  emit("empty", "");
  emit("array", "[]");
  emit("unterminated", R"({"type":"sale")");
  emit("deep", std::string(40, '[') + std::string(40, ']'));
  emit(
      "bad-qty",
      R"({"type":"sale","pos_event_id":"R1","occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR","customer":{"id":null,"type":"guest"},"lines":[{"sku":"A","category":"tops","qty":0,"unit_price_minor":1,"unit_cost_minor":1,"discount_minor":0}],"payment":{"method":"cash"}})");
  emit(
      "bad-date",
      R"({"type":"stock_change","pos_event_id":"M1","occurred_at":"2026-02-30T10:15:03Z","sku":"A","location":"floor","delta":-1,"reason":"damage"})");
  emit("unicode", R"({"type":"sale","pos_event_id":"\u00e9\ud83d\ude00","x":"\u0000"})");
  emit("big-number", R"({"type":"stock_change","delta":1e400,"on_hand_after":-0})");
  emit("duplicate-keys", R"({"type":"sale","type":"return"})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seed_corpus <batch dir> <event dir>\n");
    return 2;
  }
  try {
    batches(argv[1]);
    events(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seed_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
