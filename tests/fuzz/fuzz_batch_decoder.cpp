// libFuzzer target: BatchDecoder on untrusted bytes, with small limits and a known dictionary.
// Accepted batches must satisfy the documented invariants and survive a re-encode round trip.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/dictionary.hpp"

namespace {

using namespace pos::protocol;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

struct Harness {
  std::shared_ptr<const Dictionary> dictionary = pos::fuzz::fuzz_dictionary();
  BatchDecoder decoder{DecodeLimits{64 * 1024, 256 * 1024, 64},
                       [d = dictionary](std::uint32_t id) { return id == d->id() ? d : nullptr; }};
  BatchDecoder plain_decoder{DecodeLimits{64 * 1024, 256 * 1024, 64}};
  BatchEncoder encoder{1, dictionary};
};

void check_batch(const DecodedBatch& batch, Harness& h) {
  check(batch.lines.size() == batch.header.count);
  check(batch.payload.size() == batch.header.raw_len);
  std::vector<std::string> lines;
  for (auto line : batch.lines) {
    check(!line.empty());
    check(line.data() >= batch.payload.data() &&
          line.data() + line.size() < batch.payload.data() + batch.payload.size());
    lines.emplace_back(line);
  }
  for (Codec codec : {Codec::none, Codec::zstd, Codec::zstd_dictionary}) {
    auto again = h.encoder.encode(batch.header.epoch, batch.header.first_seq, lines, codec);
    check(again.has_value());
    auto decoded = h.decoder.decode(*again);
    check(decoded.has_value());
    check(decoded->payload == batch.payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Harness h;
  const std::span<const std::uint8_t> message(data, size);
  auto header = decode_batch_header(message, DecodeLimits{64 * 1024, 256 * 1024, 64});
  auto batch = h.decoder.decode(message);
  if (batch) {
    check(header.has_value());
    check_batch(*batch, h);
  } else {
    check(batch.error().message.rfind("batch: ", 0) == 0);
  }
  auto plain = h.plain_decoder.decode(message);
  if (plain) {
    check(plain->header.codec != Codec::zstd_dictionary);
  }
  return 0;
}
