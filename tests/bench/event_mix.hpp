#pragma once
// The event mix of the benchmarks and fuzz seeds: simulator::EventMix (the one posfleet uses too),
// and payload lines stamped from it.

#include <cstdint>
#include <string>
#include <vector>

#include "pos/simulator/event_mix.hpp"

namespace pos::bench {

using simulator::EventMix;

/// `n` batch payload lines: events from EventMix(seed), validated and stamped for store S07, till
/// T1, the given epoch and seqs from `first_seq`. Throws std::runtime_error if validation fails.
std::vector<std::string> make_payload_lines(std::size_t n, std::uint64_t seed,
                                            std::uint64_t epoch = 0x5eed5eed5eed5eedULL,
                                            std::uint64_t first_seq = 1);

}  // namespace pos::bench
