#include "pos/common/url_query.hpp"

#include <optional>

#include "pos/protocol/ids.hpp"

namespace pos::common {
namespace {

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      const int high = i + 2 < text.size() ? protocol::hex_digit_value(text[i + 1]) : -1;
      const int low = high >= 0 ? protocol::hex_digit_value(text[i + 2]) : -1;
      if (low < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace

std::string_view query_of(std::string_view target) noexcept {
  const auto mark = target.find('?');
  return mark == std::string_view::npos ? std::string_view{} : target.substr(mark + 1);
}

Result<std::vector<QueryParameter>> parse_query(std::string_view query) {
  std::vector<QueryParameter> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) {
      continue;
    }
    if (out.size() == max_query_parameters) {
      return fail("query: more than " + std::to_string(max_query_parameters) + " parameters");
    }
    const auto eq = part.find('=');
    auto name = percent_decode(part.substr(0, eq));
    if (!name) {
      return fail("parameter name: bad percent-encoding");
    }
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (!value) {
      return fail(*name + ": bad percent-encoding");
    }
    out.push_back({std::move(*name), std::move(*value)});
  }
  return out;
}

}  // namespace pos::common
