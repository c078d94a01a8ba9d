#include "pos/ctl/cert_index.hpp"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <charconv>
#include <ctime>

#include "pos/common/split.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::ctl {
namespace {

constexpr std::string_view index_header =
    "# posctl certificate index: status(V valid, R revoked) serial kind not_before not_after "
    "revoked_at reason common_name, tab-separated\n";

bool two_digits(std::string_view text, std::size_t pos, int& out) {
  const auto* first = text.data() + pos;
  const auto [ptr, ec] = std::from_chars(first, first + 2, out);
  return ec == std::errc{} && ptr == first + 2;
}

}  // namespace

std::string_view to_string(CertKind kind) noexcept {
  switch (kind) {
    case CertKind::till:
      return "till";
    case CertKind::collector:
      return "collector";
    case CertKind::broker:
      return "broker";
  }
  return "till";
}

Result<CertKind> parse_cert_kind(std::string_view text) {
  for (const auto kind : {CertKind::till, CertKind::collector, CertKind::broker}) {
    if (text == to_string(kind)) {
      return kind;
    }
  }
  return fail("kind \"" + std::string(text) + "\": must be till, collector or broker");
}

std::string_view to_string(RevocationReason reason) noexcept {
  switch (reason) {
    case RevocationReason::unspecified:
      return "unspecified";
    case RevocationReason::key_compromise:
      return "keyCompromise";
    case RevocationReason::superseded:
      return "superseded";
    case RevocationReason::cessation_of_operation:
      return "cessationOfOperation";
  }
  return "unspecified";
}

Result<RevocationReason> parse_revocation_reason(std::string_view text) {
  for (const auto reason :
       {RevocationReason::unspecified, RevocationReason::key_compromise,
        RevocationReason::superseded, RevocationReason::cessation_of_operation}) {
    if (text == to_string(reason)) {
      return reason;
    }
  }
  return fail("reason \"" + std::string(text) +
              "\": must be keyCompromise, superseded, cessationOfOperation or unspecified");
}

std::string format_index(const std::vector<CertRecord>& records) {
  std::string out(index_header);
  for (const auto& r : records) {
    out += r.revoked() ? "R" : "V";
    out += '\t' + r.serial + '\t' + std::string(to_string(r.kind)) + '\t' +
           format_utc(r.not_before) + '\t' + format_utc(r.not_after) + '\t' +
           (r.revoked() ? format_utc(*r.revoked_at) : std::string("-")) + '\t' +
           (r.revoked() ? std::string(to_string(r.reason)) : std::string("-")) + '\t' +
           r.common_name + '\n';
  }
  return out;
}

Result<std::vector<CertRecord>> parse_index(std::string_view text) {
  std::vector<CertRecord> records;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const std::string where = "index line " + std::to_string(line_no) + ": ";
    const auto f = common::split(line, '\t');
    if (f.size() != 8) {
      return fail(where + "expected 8 tab-separated fields, found " + std::to_string(f.size()));
    }
    CertRecord r;
    if (f[0] != "V" && f[0] != "R") {
      return fail(where + "status must be V or R");
    }
    auto serial = normalise_serial(f[1]);
    if (!serial || *serial != f[1]) {
      return fail(where + "serial: not normalised uppercase hex");
    }
    r.serial = std::move(*serial);
    auto kind = parse_cert_kind(f[2]);
    if (!kind) {
      return fail(where + kind.error().message);
    }
    r.kind = *kind;
    const auto nb = parse_utc(f[3]);
    const auto na = parse_utc(f[4]);
    if (!nb || !na) {
      return fail(where + "not_before/not_after: expected YYYY-MM-DDTHH:MM:SSZ");
    }
    r.not_before = *nb;
    r.not_after = *na;
    if (f[0] == "R") {
      const auto at = parse_utc(f[5]);
      if (!at) {
        return fail(where + "revoked_at: expected YYYY-MM-DDTHH:MM:SSZ");
      }
      r.revoked_at = *at;
      auto reason = parse_revocation_reason(f[6]);
      if (!reason) {
        return fail(where + reason.error().message);
      }
      r.reason = *reason;
    } else if (f[5] != "-" || f[6] != "-") {
      return fail(where + "a valid certificate has no revoked_at or reason");
    }
    if (f[7].empty()) {
      return fail(where + "common_name is empty");
    }
    r.common_name = std::string(f[7]);
    records.push_back(std::move(r));
  }
  return records;
}

Result<std::string> normalise_serial(std::string_view text) {
  std::string hex;
  for (const char c : text) {
    if (c == ':') {
      continue;
    }
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      return fail("serial \"" + std::string(text) + "\": not hex");
    }
    hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  const auto first = hex.find_first_not_of('0');
  hex = first == std::string::npos ? std::string() : hex.substr(first);
  if (hex.empty()) {
    return fail("serial \"" + std::string(text) + "\": must not be empty or zero");
  }
  if (hex.size() > 40) {
    return fail("serial \"" + std::string(text) + "\": longer than 20 bytes");
  }
  return hex;
}

std::string format_utc(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return {buf.data(), n};
}

std::optional<std::int64_t> parse_utc(std::string_view text) {
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return std::nullopt;
  }
  int year = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + 4, year);
  if (ec != std::errc{} || ptr != text.data() + 4) {
    return std::nullopt;
  }
  int month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!two_digits(text, 5, month) || !two_digits(text, 8, day) || !two_digits(text, 11, hour) ||
      !two_digits(text, 14, minute) || !two_digits(text, 17, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(timegm(&tm));
}

bool is_valid_dns_name(std::string_view name) noexcept {
  if (name.starts_with("*.")) {
    name.remove_prefix(2);
  }
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  char previous = '.';
  for (const char c : name) {
    if (c == '.') {
      if (label == 0 || previous == '-') {
        return false;
      }
      label = 0;
    } else {
      const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
      if (!ok || (label == 0 && c == '-') || ++label > 63) {
        return false;
      }
    }
    previous = c;
  }
  return label > 0 && previous != '-';
}

bool is_valid_ip_address(const std::string& address) noexcept {
  unsigned char buf[16];
  return inet_pton(AF_INET, address.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

bool is_valid_collector_id(std::string_view id) noexcept {
  return protocol::is_valid_id(id);
}

}  // namespace pos::ctl
