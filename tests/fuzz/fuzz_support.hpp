#pragma once
// Shared by the fuzz targets and the seed-corpus generator: the dictionary the batch fuzzer knows.

#include <memory>

#include "pos/protocol/dictionary.hpp"

namespace pos::fuzz {

inline constexpr std::uint32_t fuzz_dictionary_id = 0x00f022ed;

/// A small dictionary trained deterministically from EventMix events; aborts on failure.
std::shared_ptr<const protocol::Dictionary> fuzz_dictionary();

}  // namespace pos::fuzz
