#pragma once
// The CA's record of every certificate it issued (DIR/serials/index): one tab-separated line per
// certificate, readable with grep and awk. Pure text handling: no files, no OpenSSL.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::ctl {

/// What a certificate is for; decides its extended key usage and its CN/SAN rules.
enum class CertKind { till, collector, broker };

/// CRL reason codes posctl offers (RFC 5280 CRLReason values).
enum class RevocationReason {
  unspecified = 0,
  key_compromise = 1,
  superseded = 4,
  cessation_of_operation = 5,
};

std::string_view to_string(CertKind kind) noexcept;
/// "till" | "collector" | "broker"; fails naming the accepted values.
Result<CertKind> parse_cert_kind(std::string_view text);
/// RFC 5280 names: "unspecified", "keyCompromise", "superseded", "cessationOfOperation".
std::string_view to_string(RevocationReason reason) noexcept;
/// Parses the names above; fails naming the accepted values.
Result<RevocationReason> parse_revocation_reason(std::string_view text);

/// One issued certificate. Times are Unix seconds (UTC).
struct CertRecord {
  std::string serial;  ///< uppercase hex, no leading zeros
  CertKind kind = CertKind::till;
  std::string common_name;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::optional<std::int64_t> revoked_at;  ///< set once revoked
  RevocationReason reason = RevocationReason::unspecified;

  bool revoked() const noexcept { return revoked_at.has_value(); }
  /// Not revoked and not expired at `now`.
  bool valid_at(std::int64_t now) const noexcept { return !revoked() && now < not_after; }
};

/// Serialises records to the index format (a comment header, then one line per record).
std::string format_index(const std::vector<CertRecord>& records);
/// Parses the index format; fails naming the line and the field that is wrong. Lines starting
/// with '#' and empty lines are skipped.
Result<std::vector<CertRecord>> parse_index(std::string_view text);

/// Normalises an operator-typed serial ("0a:1b:...", "0A1B") to uppercase hex without leading
/// zeros or colons. Fails when it is empty, longer than 40 digits or not hex.
Result<std::string> normalise_serial(std::string_view text);

/// Seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ".
std::string format_utc(std::int64_t unix_seconds);
/// Parses "YYYY-MM-DDTHH:MM:SSZ" (the format above only).
std::optional<std::int64_t> parse_utc(std::string_view text);

/// True for a DNS name posctl puts into a broker certificate: labels of [A-Za-z0-9-] (not
/// starting or ending with '-'), 1-63 characters each, at most 253 in total; a leading "*." is
/// allowed.
bool is_valid_dns_name(std::string_view name) noexcept;
/// True for an IPv4 or IPv6 address in text form.
bool is_valid_ip_address(const std::string& address) noexcept;
/// True for a collector id: [A-Za-z0-9_-]{1,32}, like store and till ids.
bool is_valid_collector_id(std::string_view id) noexcept;

}  // namespace pos::ctl
