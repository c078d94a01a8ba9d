// Replayable random seeds for tests. Header-only (target pos::test_headers).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>

namespace pos::test {

/// The seed for this test's random choices: POS_TEST_SEED from the environment when set, else a
/// fresh random one. Records it as the test property "seed" (in the XML/JSON report) and prints
/// how to replay it; callers add SCOPED_TRACE("seed " + std::to_string(seed)) so that every
/// failure names it too. Throws std::invalid_argument when POS_TEST_SEED is not a number.
inline unsigned test_seed() {
  unsigned seed = 0;
  if (const char* text = std::getenv("POS_TEST_SEED"); text != nullptr && *text != '\0') {
    std::size_t used = 0;
    const unsigned long value = std::stoul(text, &used);
    if (text[used] != '\0') {
      throw std::invalid_argument(std::string("POS_TEST_SEED: not a number: ") + text);
    }
    seed = static_cast<unsigned>(value);
  } else {
    seed = std::random_device{}();
  }
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::cerr << "[   seed   ] " << seed << " (POS_TEST_SEED=" << seed << " replays it)" << std::endl;
  return seed;
}

}  // namespace pos::test
