#pragma once
// Helpers for the collector's Prometheus text output.

#include <string>
#include <string_view>

namespace pos::collector::detail {

/// `text` as a Prometheus label value: backslash, double quote and newline escaped.
inline std::string prometheus_label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace pos::collector::detail
