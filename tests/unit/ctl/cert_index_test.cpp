#include "pos/ctl/cert_index.hpp"

#include <gtest/gtest.h>

namespace pos::ctl {
namespace {

TEST(CertIndex, RoundTripsValidAndRevokedRecords) {
  std::vector<CertRecord> records = {
      {"7B0E65F9", CertKind::till, "S07/T1", 1'700'000'000, 1'771'000'000, std::nullopt,
       RevocationReason::unspecified},
      {"A1", CertKind::broker, "mqtt.example", 1'700'000'000, 1'771'000'000, 1'700'100'000,
       RevocationReason::key_compromise},
      {"B2", CertKind::collector, "collector-1", 1'700'000'000, 1'771'000'000, 1'700'200'000,
       RevocationReason::unspecified},
  };
  const auto text = format_index(records);
  const auto parsed = parse_index(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 3U);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& a = records[i];
    const auto& b = (*parsed)[i];
    EXPECT_EQ(a.serial, b.serial);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.common_name, b.common_name);
    EXPECT_EQ(a.not_before, b.not_before);
    EXPECT_EQ(a.not_after, b.not_after);
    EXPECT_EQ(a.revoked_at, b.revoked_at);
    EXPECT_EQ(a.reason, b.reason);
  }
  EXPECT_NE(text.find("V\t7B0E65F9\ttill\t2023-11-14T22:13:20Z\t"), std::string::npos) << text;
}

TEST(CertIndex, ParseErrorsNameLineAndField) {
  const auto expect_error = [](const std::string& text, const std::string& needle) {
    const auto r = parse_index(text);
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  const std::string good = "V\tA1\ttill\t2026-01-01T00:00:00Z\t2027-01-01T00:00:00Z\t-\t-\tS1/T1\n";
  ASSERT_TRUE(parse_index("# comment\n\n" + good));
  expect_error(
      "# c\n" + good + "X\tA1\ttill\t2026-01-01T00:00:00Z\t2027-01-01T00:00:00Z\t-\t-\tS\n",
      "index line 3: status");
  expect_error("V\ta1\ttill\t2026-01-01T00:00:00Z\t2027-01-01T00:00:00Z\t-\t-\tS1/T1\n", "serial");
  expect_error("V\tA1\tpos\t2026-01-01T00:00:00Z\t2027-01-01T00:00:00Z\t-\t-\tS1/T1\n", "kind");
  expect_error("V\tA1\ttill\t2026-01-01\t2027-01-01T00:00:00Z\t-\t-\tS1/T1\n", "not_before");
  expect_error("R\tA1\ttill\t2026-01-01T00:00:00Z\t2027-01-01T00:00:00Z\t-\t-\tS1/T1\n",
               "revoked_at");
  expect_error("V\tA1\ttill\n", "expected 8 tab-separated fields, found 3");
}

TEST(CertIndex, SerialsAreNormalised) {
  EXPECT_EQ(*normalise_serial("00:7b:0e:65"), "7B0E65");
  EXPECT_EQ(*normalise_serial("7B0E65"), "7B0E65");
  EXPECT_FALSE(normalise_serial("xyz"));
  EXPECT_FALSE(normalise_serial("000"));
  EXPECT_FALSE(normalise_serial(std::string(41, 'A')));
}

TEST(CertIndex, ReasonsAndKindsParseTheirNames) {
  EXPECT_EQ(*parse_revocation_reason("keyCompromise"), RevocationReason::key_compromise);
  EXPECT_EQ(*parse_revocation_reason("superseded"), RevocationReason::superseded);
  EXPECT_EQ(*parse_revocation_reason("cessationOfOperation"),
            RevocationReason::cessation_of_operation);
  const auto bad = parse_revocation_reason("stolen");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("keyCompromise"), std::string::npos);
  EXPECT_EQ(*parse_cert_kind("collector"), CertKind::collector);
  EXPECT_FALSE(parse_cert_kind("ca"));
}

TEST(CertIndex, UtcTimesRoundTrip) {
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(parse_utc("2026-11-22T05:48:50Z"), 1'795'326'530);
  EXPECT_EQ(format_utc(1'795'326'530), "2026-11-22T05:48:50Z");
  EXPECT_FALSE(parse_utc("2026-11-22 05:48:50Z"));
  EXPECT_FALSE(parse_utc("2026-13-22T05:48:50Z"));
}

TEST(CertIndex, NameChecks) {
  EXPECT_TRUE(is_valid_dns_name("mqtt.fastyle.example"));
  EXPECT_TRUE(is_valid_dns_name("localhost"));
  EXPECT_FALSE(is_valid_dns_name("a..b"));
  EXPECT_FALSE(is_valid_dns_name("a-.b"));
  EXPECT_FALSE(is_valid_dns_name("a,DNS:evil"));
  EXPECT_FALSE(is_valid_dns_name(std::string(64, 'a') + ".b"));
  EXPECT_TRUE(is_valid_ip_address("10.1.2.3"));
  EXPECT_TRUE(is_valid_ip_address("fd00::1"));
  EXPECT_FALSE(is_valid_ip_address("10.1.2"));
  EXPECT_TRUE(is_valid_collector_id("collector-1"));
  EXPECT_FALSE(is_valid_collector_id("collector 1"));
}

}  // namespace
}  // namespace pos::ctl
