#include "pos/simulator/time.hpp"

#include <charconv>

#include "pos/protocol/event.hpp"

namespace pos::simulator {

namespace {

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

void append_digits(std::string& out, std::int64_t value, int width) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  for (auto n = static_cast<int>(end - buf); n < width; ++n) {
    out.push_back('0');
  }
  out.append(buf, end);
}

// Reads exactly `width` digits at `pos`; false when they are not digits.
bool read_digits(std::string_view text, std::size_t pos, std::size_t width, int& value) {
  if (pos + width > text.size()) {
    return false;
  }
  value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return false;
    }
    value = value * 10 + (text[i] - '0');
  }
  return true;
}

}  // namespace

void append_local_time(std::string& out, UnixMs t) {
  const UnixMs local = t + k_local_offset_ms;
  const std::int64_t days = floor_div(local, k_ms_per_day);
  const std::int64_t ms = local - days * k_ms_per_day;
  const Civil c = civil_from_days(days);
  append_digits(out, c.year, 4);
  out.push_back('-');
  append_digits(out, c.month, 2);
  out.push_back('-');
  append_digits(out, c.day, 2);
  out.push_back('T');
  append_digits(out, ms / k_ms_per_hour, 2);
  out.push_back(':');
  append_digits(out, ms / 60'000 % 60, 2);
  out.push_back(':');
  append_digits(out, ms / 1000 % 60, 2);
  out.push_back('.');
  append_digits(out, ms % 1000, 3);
  out.append("+07:00");
}

std::string format_local_time(UnixMs t) {
  std::string out;
  append_local_time(out, t);
  return out;
}

std::int64_t local_ms_of_day(UnixMs t) noexcept {
  const UnixMs local = t + k_local_offset_ms;
  return local - floor_div(local, k_ms_per_day) * k_ms_per_day;
}

UnixMs local_midnight(UnixMs t) noexcept {
  return t - local_ms_of_day(t);
}

Result<UnixMs> parse_rfc3339(std::string_view text, std::string_view what) {
  const auto bad = [&] {
    return fail(std::string(what) +
                ": must be an RFC 3339 date-time such as 2026-11-22T10:00:00+07:00, got '" +
                std::string(text) + "'");
  };
  if (!protocol::is_rfc3339(text)) {
    return bad();
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, 0, 4, year) || !read_digits(text, 5, 2, month) ||
      !read_digits(text, 8, 2, day) || !read_digits(text, 11, 2, hour) ||
      !read_digits(text, 14, 2, minute) || !read_digits(text, 17, 2, second)) {
    return bad();
  }
  std::size_t pos = 19;
  std::int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::int64_t scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  std::int64_t offset_ms = 0;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh = 0, om = 0;
    if (!read_digits(text, pos + 1, 2, oh) || !read_digits(text, pos + 4, 2, om)) {
      return bad();
    }
    offset_ms = (oh * 60LL + om) * 60'000 * (text[pos] == '-' ? -1 : 1);
  }
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return days * k_ms_per_day + hour * k_ms_per_hour + minute * 60'000LL + second * 1000LL + millis -
         offset_ms;
}

Result<UnixMs> parse_local_day(std::string_view text, std::string_view what) {
  int year = 0, month = 0, day = 0;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !read_digits(text, 0, 4, year) ||
      !read_digits(text, 5, 2, month) || !read_digits(text, 8, 2, day)) {
    return fail(std::string(what) + ": must be a date YYYY-MM-DD, got '" + std::string(text) + "'");
  }
  const std::string probe = std::string(text) + "T00:00:00+07:00";
  return parse_rfc3339(probe, what);
}

}  // namespace pos::simulator
