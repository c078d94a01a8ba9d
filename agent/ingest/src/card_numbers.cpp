#include "pos/agent/card_numbers.hpp"

#include <array>
#include <boost/json/array.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <cstdint>

namespace pos::agent {
namespace {

namespace json = boost::json;

constexpr std::size_t min_pan_digits = 13;
constexpr std::size_t max_pan_digits = 19;
constexpr std::size_t keep_first = 6;
constexpr std::size_t keep_last = 4;

/// One issuer range: the first `prefix_digits` digits as a number in [low, high], total length in
/// [min_length, max_length]. Sources: the brands' published IIN ranges (ISO/IEC 7812).
struct Brand {
  std::uint32_t low;
  std::uint32_t high;
  std::uint8_t prefix_digits;
  std::uint8_t min_length;
  std::uint8_t max_length;
};

// Visa's 13-digit numbers are no longer issued and collide with EAN-13 codes of the 40-49
// countries, so Visa is 16 or 19 digits here.
constexpr std::array<Brand, 24> brands{{
    {4, 4, 1, 16, 16},       {4, 4, 1, 19, 19},        // Visa
    {51, 55, 2, 16, 16},     {2221, 2720, 4, 16, 16},  // Mastercard
    {34, 34, 2, 15, 15},     {37, 37, 2, 15, 15},      // American Express
    {6011, 6011, 4, 16, 19}, {644, 649, 3, 16, 19},    // Discover
    {65, 65, 2, 16, 19},     {3528, 3589, 4, 16, 19},  // Discover, JCB
    {300, 305, 3, 14, 19},   {3095, 3095, 4, 14, 19},  // Diners Club
    {36, 36, 2, 14, 19},     {38, 39, 2, 14, 19},      // Diners Club
    {62, 62, 2, 16, 19},     {81, 81, 2, 16, 19},      // UnionPay
    {5018, 5018, 4, 13, 19}, {5020, 5020, 4, 13, 19},  // Maestro
    {5038, 5038, 4, 13, 19}, {5893, 5893, 4, 13, 19},  // Maestro
    {6304, 6304, 4, 13, 19}, {6759, 6763, 4, 13, 19},  // Maestro
    {2200, 2204, 4, 16, 19}, {60, 60, 2, 16, 16},      // Mir, RuPay
}};

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool has_brand(std::string_view digits) noexcept {
  for (const auto& brand : brands) {
    if (digits.size() < brand.min_length || digits.size() > brand.max_length) {
      continue;
    }
    std::uint32_t prefix = 0;
    for (std::size_t i = 0; i < brand.prefix_digits; ++i) {
      prefix = prefix * 10 + static_cast<std::uint32_t>(digits[i] - '0');
    }
    if (prefix >= brand.low && prefix <= brand.high) {
      return true;
    }
  }
  return false;
}

/// The GS1 check digit (EAN-13, GTIN-14): weights 3, 1, 3, ... from the right, check digit aside.
bool gtin_valid(std::string_view digits) noexcept {
  int sum = 0;
  const std::size_t n = digits.size();
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const int d = digits[n - 2 - i] - '0';
    sum += (i % 2 == 0) ? 3 * d : d;
  }
  return (10 - sum % 10) % 10 == digits[n - 1] - '0';
}

bool is_card_number(std::string_view digits) noexcept {
  if (digits.size() < min_pan_digits || digits.size() > max_pan_digits || !luhn_valid(digits) ||
      !has_brand(digits)) {
    return false;
  }
  return digits.size() > 14 || !gtin_valid(digits);
}

class Guard {
 public:
  explicit Guard(CardNumberPolicy policy) : m_policy(policy) {}

  // The path of the value being visited is kept as segments and only joined for an error.
  Status visit(json::value& value) {
    if (value.is_string()) {
      return check_string(value.get_string());
    }
    if (value.is_array()) {
      auto& array = value.get_array();
      for (std::size_t i = 0; i < array.size(); ++i) {
        m_path.emplace_back(i);
        auto s = visit(array[i]);
        m_path.pop_back();
        if (!s) {
          return s;
        }
      }
      return {};
    }
    if (value.is_object()) {
      return visit(value.get_object());
    }
    return {};
  }

  Status visit(json::object& object) {
    for (auto& entry : object) {
      m_path.emplace_back(entry.key());
      Status s;
      if (!find_card_numbers(entry.key()).empty()) {
        s = refused(" (the key)");
      } else {
        s = visit(entry.value());
      }
      m_path.pop_back();
      if (!s) {
        return s;
      }
    }
    return {};
  }

  std::size_t masked() const noexcept { return m_masked; }

 private:
  struct Segment {
    explicit Segment(std::size_t i) : index(i), is_index(true) {}
    explicit Segment(std::string_view k) : key(k) {}
    std::string_view key;
    std::size_t index = 0;
    bool is_index = false;
  };

  Status check_string(json::string& text) {
    const auto matches = find_card_numbers(text);
    if (matches.empty()) {
      return {};
    }
    if (m_policy == CardNumberPolicy::reject) {
      return refused("");
    }
    text = mask_card_numbers(text, matches);
    m_masked += matches.size();
    return {};
  }

  Status refused(std::string_view suffix) const {
    std::string path;
    for (const auto& segment : m_path) {
      if (segment.is_index) {
        path += "[" + std::to_string(segment.index) + "]";
      } else {
        if (!path.empty()) {
          path += '.';
        }
        path += segment.key;
      }
    }
    return fail(path + std::string(suffix) +
                ": contains a card number (PCI DSS: a full card number must not be stored; send "
                "it masked to first 6 / last 4)");
  }

  CardNumberPolicy m_policy;
  std::size_t m_masked = 0;
  std::vector<Segment> m_path;
};

}  // namespace

bool luhn_valid(std::string_view digits) noexcept {
  if (digits.size() < 2) {
    return false;
  }
  int sum = 0;
  bool twice = false;
  // A range-for needs std::ranges::reverse_view, which clang 14 cannot parse (libstdc++ 12).
  // NOLINTNEXTLINE(modernize-loop-convert)
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (!is_digit(*it)) {
      return false;
    }
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

std::vector<CardNumberMatch> find_card_numbers(std::string_view text) {
  std::vector<CardNumberMatch> matches;
  // Most strings (names, skus, timestamps) hold fewer digits than the shortest card number.
  std::size_t digit_count = 0;
  for (const char c : text) {
    digit_count += is_digit(c) ? 1 : 0;
  }
  if (digit_count < min_pan_digits) {
    return matches;
  }
  const std::size_t n = text.size();
  struct Group {
    std::size_t begin;
    std::size_t end;
  };
  std::vector<Group> groups;
  std::string digits;
  std::size_t i = 0;
  while (i < n) {
    if (!is_digit(text[i])) {
      ++i;
      continue;
    }
    // A run: groups of digits joined by one space or dash ("4111 1111-1111 1111 2").
    groups.clear();
    std::size_t j = i;
    for (;;) {
      const std::size_t begin = j;
      while (j < n && is_digit(text[j])) {
        ++j;
      }
      groups.push_back({begin, j});
      if (j + 1 < n && (text[j] == ' ' || text[j] == '-') && is_digit(text[j + 1])) {
        ++j;
        continue;
      }
      break;
    }
    // Any whole groups in a row with 13-19 digits may be a card number: the longest valid one from
    // each starting group wins ("4111 1111 1111 1111 2" holds one; a number glued to further
    // digits without a separator does not).
    for (std::size_t first = 0; first < groups.size();) {
      // Every brand's numbers start with 2, 3, 4, 5, 6 or 8.
      const char lead = text[groups[first].begin];
      if (lead == '0' || lead == '1' || lead == '7' || lead == '9') {
        ++first;
        continue;
      }
      std::size_t found_last = groups.size();
      std::size_t total = 0;
      std::size_t last = first;
      for (; last < groups.size(); ++last) {
        total += groups[last].end - groups[last].begin;
        if (total > max_pan_digits) {
          break;
        }
      }
      // groups [first, last) hold at most 19 digits; try the longest span first.
      for (std::size_t end = last; end > first; --end) {
        std::size_t count = 0;
        for (std::size_t g = first; g < end; ++g) {
          count += groups[g].end - groups[g].begin;
        }
        if (count < min_pan_digits) {
          break;
        }
        digits.clear();
        for (std::size_t g = first; g < end; ++g) {
          digits.append(text.substr(groups[g].begin, groups[g].end - groups[g].begin));
        }
        if (is_card_number(digits)) {
          found_last = end - 1;
          break;
        }
      }
      if (found_last == groups.size()) {
        ++first;
        continue;
      }
      matches.push_back({groups[first].begin, groups[found_last].end});
      first = found_last + 1;
    }
    i = j;
  }
  return matches;
}

std::string mask_card_numbers(std::string_view text, const std::vector<CardNumberMatch>& matches) {
  std::string out(text);
  for (const auto& match : matches) {
    std::size_t total = 0;
    for (std::size_t i = match.begin; i < match.end; ++i) {
      total += is_digit(out[i]) ? 1 : 0;
    }
    std::size_t seen = 0;
    for (std::size_t i = match.begin; i < match.end; ++i) {
      if (!is_digit(out[i])) {
        continue;
      }
      if (seen >= keep_first && seen + keep_last < total) {
        out[i] = '*';
      }
      ++seen;
    }
  }
  return out;
}

Result<std::size_t> guard_card_numbers(boost::json::object& event, CardNumberPolicy policy) {
  Guard guard(policy);
  if (auto checked = guard.visit(event); !checked) {
    return fail(checked.error());
  }
  return guard.masked();
}

}  // namespace pos::agent
