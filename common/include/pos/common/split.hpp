#pragma once
// Splitting a line of text at one separator character, the way list parameters (`state=a,b`) and
// tab-separated files are read.

#include <string_view>
#include <vector>

namespace pos::common {

/// The parts of `text` between each `separator`, in order, empty ones kept: "a,,b" gives "a", "",
/// "b"; "" gives one empty part. The views point into `text`. Never throws except std::bad_alloc.
inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto found = text.find(separator, start);
    parts.push_back(text.substr(start, found == std::string_view::npos ? found : found - start));
    if (found == std::string_view::npos) {
      return parts;
    }
    start = found + 1;
  }
}

}  // namespace pos::common
