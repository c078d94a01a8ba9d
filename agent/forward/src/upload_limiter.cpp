#include "pos/agent/upload_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

namespace pos::agent {
namespace {

bool parse_two_digits(std::string_view text, int& out) {
  if (text.size() != 2 || text[0] < '0' || text[0] > '9' || text[1] < '0' || text[1] > '9') {
    return false;
  }
  out = (text[0] - '0') * 10 + (text[1] - '0');
  return true;
}

Result<int> parse_hh_mm(std::string_view text, bool is_end) {
  int hour = 0;
  int minute = 0;
  if (text.size() != 5 || text[2] != ':' || !parse_two_digits(text.substr(0, 2), hour) ||
      !parse_two_digits(text.substr(3, 2), minute)) {
    return fail("times must be HH:MM-HH:MM");
  }
  if (is_end && hour == 24 && minute == 0) {
    return 24 * 60;
  }
  if (hour > 23) {
    return fail(is_end ? "hour must be 00-23 (or 24:00 as the end)" : "hour must be 00-23");
  }
  if (minute > 59) {
    return fail("minute must be 00-59");
  }
  return hour * 60 + minute;
}

}  // namespace

bool DailyWindow::contains(int minute_of_day) const noexcept {
  if (start_minute < end_minute) {
    return minute_of_day >= start_minute && minute_of_day < end_minute;
  }
  if (start_minute == end_minute) {
    return true;
  }
  return minute_of_day >= start_minute || minute_of_day < end_minute;
}

Result<DailyWindow> parse_daily_window(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    return fail("times must be HH:MM-HH:MM");
  }
  auto start = parse_hh_mm(text.substr(0, dash), false);
  if (!start) {
    return Failure{start.error()};
  }
  auto end = parse_hh_mm(text.substr(dash + 1), true);
  if (!end) {
    return Failure{end.error()};
  }
  return DailyWindow{*start, *end};
}

Result<std::vector<DailyWindow>> parse_schedule(std::span<const std::string> entries) {
  std::vector<DailyWindow> windows;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto window = parse_daily_window(entries[i]);
    if (!window) {
      return fail("schedule[" + std::to_string(i) + "] \"" + entries[i] +
                  "\": " + window.error().message);
    }
    windows.push_back(*window);
  }
  return windows;
}

int local_minute_of_day(std::int64_t unix_ms) {
  const auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm local{};
  if (localtime_r(&seconds, &local) == nullptr) {
    return 0;
  }
  return local.tm_hour * 60 + local.tm_min;
}

UploadLimiter::UploadLimiter(UploadLimiterOptions options)
    : m_rate_kbit_s(options.rate_kbit_s),
      m_bytes_per_s(static_cast<double>(options.rate_kbit_s) * 1000.0 / 8.0),
      m_schedule(std::move(options.schedule)),
      m_capacity(std::max(static_cast<std::size_t>(m_bytes_per_s), options.min_burst_bytes)),
      m_tokens(static_cast<double>(m_capacity)) {}

void UploadLimiter::reconfigure(UploadLimiterOptions options) {
  m_rate_kbit_s = options.rate_kbit_s;
  m_bytes_per_s = static_cast<double>(options.rate_kbit_s) * 1000.0 / 8.0;
  m_schedule = std::move(options.schedule);
  m_capacity = std::max(static_cast<std::size_t>(m_bytes_per_s), options.min_burst_bytes);
  m_tokens = std::min(m_tokens, static_cast<double>(m_capacity));
}

bool UploadLimiter::active_at(int minute_of_day) const noexcept {
  if (!enabled()) {
    return false;
  }
  if (m_schedule.empty()) {
    return true;
  }
  return std::any_of(m_schedule.begin(), m_schedule.end(),
                     [&](const DailyWindow& w) { return w.contains(minute_of_day); });
}

void UploadLimiter::refill(TimePoint now) {
  if (!m_started) {
    m_started = true;
    m_last = now;
    return;
  }
  if (now <= m_last) {
    return;
  }
  const double seconds = std::chrono::duration<double>(now - m_last).count();
  m_tokens = std::min(static_cast<double>(m_capacity), m_tokens + seconds * m_bytes_per_s);
  m_last = now;
}

std::chrono::milliseconds UploadLimiter::delay_for(std::size_t bytes, TimePoint now,
                                                   int minute_of_day) {
  if (!enabled()) {
    return std::chrono::milliseconds(0);
  }
  refill(now);
  if (!active_at(minute_of_day)) {
    return std::chrono::milliseconds(0);
  }
  const auto need = static_cast<double>(std::min(bytes, m_capacity));
  if (m_tokens >= need) {
    m_tokens -= static_cast<double>(bytes);
    return std::chrono::milliseconds(0);
  }
  const double wait_ms = std::ceil((need - m_tokens) * 1000.0 / m_bytes_per_s);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(wait_ms)));
}

}  // namespace pos::agent
