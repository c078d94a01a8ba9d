#include "fuzz_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "event_mix.hpp"

namespace pos::fuzz {

std::shared_ptr<const protocol::Dictionary> fuzz_dictionary() {
  static const std::shared_ptr<const protocol::Dictionary> dict = [] {
    bench::EventMix mix(4242);
    std::vector<std::string> samples;
    for (int i = 0; i < 1500; ++i) {
      samples.push_back(mix.next_event());
    }
    auto bytes = protocol::train_dictionary(samples, {4096, fuzz_dictionary_id});
    if (!bytes) {
      std::fprintf(stderr, "fuzz dictionary: %s\n", bytes.error().message.c_str());
      std::abort();
    }
    auto loaded = protocol::Dictionary::load(*bytes);
    if (!loaded) {
      std::fprintf(stderr, "fuzz dictionary: %s\n", loaded.error().message.c_str());
      std::abort();
    }
    return *loaded;
  }();
  return dict;
}

}  // namespace pos::fuzz
