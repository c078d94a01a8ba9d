#include "pos/simulator/time.hpp"

#include <charconv>

#include "pos/protocol/event.hpp"

namespace pos::simulator {

namespace {

// Howard Hinnant's civil_from_days (proleptic Gregorian calendar).
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
  const auto ms = protocol::parse_rfc3339_ms(text);
  if (!ms) {
    return bad();
  }
  return *ms;
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
