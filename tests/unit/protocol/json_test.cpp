// Canonical JSON, bounded parsing and RFC 3339 helpers.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "pos/protocol/event.hpp"

namespace pos::protocol {
namespace {

namespace json = boost::json;

json::value parse_ok(std::string_view text) {
  auto v = parse_json_bounded(text, EventLimits{});
  if (!v) {
    ADD_FAILURE() << v.error().message;
  }
  return std::move(v).value();
}

TEST(CanonicalJson, SortsKeysRecursivelyAndIsCompact) {
  const json::value v = parse_ok(R"( { "b" : 1, "a" : { "z" : [ { "y":1, "x":2 } ], "B" : null },
                                       "aa": true, "\u00e9": "x", "A": false } )");
  EXPECT_EQ(to_canonical_json(v),
            R"({"A":false,"a":{"B":null,"z":[{"x":2,"y":1}]},"aa":true,"b":1,"é":"x"})");
}

TEST(CanonicalJson, ScalarsAndEmptyContainers) {
  EXPECT_EQ(to_canonical_json(json::value(nullptr)), "null");
  EXPECT_EQ(to_canonical_json(json::value(true)), "true");
  EXPECT_EQ(to_canonical_json(json::object{}), "{}");
  EXPECT_EQ(to_canonical_json(json::array{}), "[]");
  EXPECT_EQ(to_canonical_json(json::value(std::numeric_limits<std::int64_t>::min())),
            "-9223372036854775808");
  EXPECT_EQ(to_canonical_json(json::value(std::numeric_limits<std::uint64_t>::max())),
            "18446744073709551615");
  EXPECT_EQ(to_canonical_json(json::value(1.0)), "1E0");
  EXPECT_EQ(to_canonical_json(json::value(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(to_canonical_json(json::value(std::nan(""))), "null");
}

TEST(CanonicalJson, StringEscapingMatchesBoost) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  const std::string utf8 = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x91\x97 / \\ \"";
  for (int c = 0; c < 128; ++c) {
    const std::string s(1, static_cast<char>(c));
    EXPECT_EQ(to_canonical_json(json::value(s)), json::serialize(json::value(s))) << c;
  }
  EXPECT_EQ(to_canonical_json(json::value(utf8)), json::serialize(json::value(utf8)));
  EXPECT_EQ(to_canonical_json(json::value(all.substr(0, 128))),
            json::serialize(json::value(all.substr(0, 128))));
  const json::value escaped = parse_ok(R"("\u00e9\ud83d\udc57\u0001\n\/")");
  EXPECT_EQ(to_canonical_json(escaped), "\"\xc3\xa9\xf0\x9f\x91\x97\\u0001\\n/\"");
}

// The escape scan works eight bytes at a time: every byte that needs escaping (and the bytes
// around the boundaries, 0x1f/0x20, '"' +-1, '\\' +-1, 0x7f, 0x80, 0xff) at every position of
// strings of 0-24 bytes.
TEST(CanonicalJson, StringEscapingAtEveryPositionOfAWord) {
  const unsigned char specials[] = {0x00, 0x01, 0x0a, 0x1f, 0x20, '!',  '"', '#',
                                    '[',  '\\', ']',  0x7f, 0x80, 0xc3, 0xff};
  for (std::size_t length = 0; length <= 24; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      for (const unsigned char special : specials) {
        std::string s(length, 'a');
        s[at] = static_cast<char>(special);
        EXPECT_EQ(to_canonical_json(json::value(s)), json::serialize(json::value(s)))
            << "length " << length << " at " << at << " byte " << int{special};
      }
    }
  }
}

void expect_round_trip(const json::value& v) {
  const std::string canonical = to_canonical_json(v);
  const json::value back = parse_ok(canonical);
  EXPECT_EQ(back, v) << canonical;
  EXPECT_EQ(to_canonical_json(back), canonical);
}

TEST(CanonicalJson, RoundTripAndIdempotent) {
  expect_round_trip(parse_ok(R"({"type":"sale","lines":[{"qty":2,"x":[1,-2,3.25,"\u0000"]}],
      "nested":{"deep":{"deeper":[[],{},null,false]}},"big":18446744073709551615,
      "neg":-9223372036854775808,"d":[0.1,1e-300,-0.0,1.7976931348623157e308,5e-324]})"));
  expect_round_trip(json::value("\x7f\xc3\xa9\t"));
}

TEST(CanonicalJson, DoublesRoundTripExactly) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> money(0, 1e6);
  for (int i = 0; i < 20000; ++i) {
    double d = 0;
    if (i % 2 == 0) {
      const std::uint64_t bits = rng();
      std::memcpy(&d, &bits, sizeof d);
      if (!std::isfinite(d)) {
        continue;
      }
    } else {
      d = money(rng);
    }
    const std::string text = to_canonical_json(json::value(d));
    const json::value back = parse_ok(text);
    ASSERT_TRUE(back.is_double()) << text;
    ASSERT_EQ(back.get_double(), d) << text;
    ASSERT_EQ(to_canonical_json(back), text);
  }
  EXPECT_EQ(parse_ok("0.30000000000000004").get_double(), 0.1 + 0.2);
  EXPECT_EQ(parse_ok("1e-400").get_double(), 0.0);
}

TEST(CanonicalJson, IntegersStayIntegers) {
  EXPECT_TRUE(parse_ok(to_canonical_json(json::value(std::uint64_t{5}))).is_int64());
  EXPECT_TRUE(parse_ok("1.0").is_double());
  EXPECT_TRUE(parse_ok("1e3").is_double());
}

// measure_json must agree with the canonical text byte for byte: the agent's per-event limit
// (check_event_size) is what the collector later parses.
TEST(MeasureJson, MatchesTheCanonicalTextAndTheParseDepth) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  const std::string utf8_all = "caf\xc3\xa9 \xe2\x82\xac" + all.substr(0, 128);
  const std::vector<json::value> values = {
      json::value(nullptr),
      json::value(true),
      json::value(false),
      json::value(0),
      json::value(-1),
      json::value(std::numeric_limits<std::int64_t>::min()),
      json::value(std::numeric_limits<std::uint64_t>::max()),
      json::value(1.5),
      json::value(1e-300),
      json::value(std::numeric_limits<double>::infinity()),
      json::value(utf8_all),
      json::object{},
      json::array{},
      parse_ok(R"({"b":1,"a":{"z":[{"y":1,"x":2.25}],"B":null},"k\"\u0001":"v\n\t"})"),
      parse_ok(R"([[[[1]]],{"x":[]},"",-0.0])")};
  for (const auto& v : values) {
    const auto measure = measure_json(v);
    EXPECT_EQ(measure.canonical_bytes, to_canonical_json(v).size()) << json::serialize(v);
  }
  for (std::size_t length = 0; length <= 24; ++length) {
    for (const unsigned char special : {0x00, 0x08, 0x1f, 0x22, 0x5c, 0x7f, 0xc3}) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string s(length, 'a');
        s[at] = static_cast<char>(special);
        EXPECT_EQ(measure_json(json::value(s)).canonical_bytes,
                  to_canonical_json(json::value(s)).size());
      }
    }
  }
  EXPECT_EQ(measure_json(json::value(1)).depth, 0U);
  EXPECT_EQ(measure_json(json::object{}).depth, 1U);
  EXPECT_EQ(measure_json(parse_ok(R"({"a":[{"b":[]}]})")).depth, 4U);
  // The same depth the parser counts: 4 levels pass a limit of 4 and fail one of 3.
  EventLimits limits;
  limits.max_depth = 3;
  EXPECT_FALSE(parse_json_bounded(R"({"a":[{"b":[]}]})", limits));
  limits.max_depth = 4;
  EXPECT_TRUE(parse_json_bounded(R"({"a":[{"b":[]}]})", limits));
}

TEST(ParseJsonBounded, Limits) {
  EventLimits limits;
  limits.max_bytes = 10;
  limits.max_depth = 2;
  EXPECT_TRUE(parse_json_bounded("[[1]]", limits).has_value());
  EXPECT_TRUE(parse_json_bounded(std::string(10, ' ').replace(0, 1, "1"), limits).has_value());
  auto v = parse_json_bounded("[[[1]]]", limits);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().message, "body: nested deeper than 2 levels");
  v = parse_json_bounded("12345678901", limits);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().message, "body: larger than the limit of 10 bytes");
  v = parse_json_bounded("[1,]", limits);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().message, "body: invalid JSON (syntax error) at offset 3");
  v = parse_json_bounded("[1] [2]", limits);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().message, "body: invalid JSON (extra data) at offset 4");
  EXPECT_TRUE(parse_json_bounded("[{},{}]", limits).value().is_array());
}

TEST(Rfc3339, Valid) {
  for (std::string_view s :
       {"2026-11-22T10:15:03.120+07:00", "2026-11-22T03:15:03Z", "2024-02-29T00:00:00Z",
        "2000-02-29T23:59:59.123456789-05:30", "1999-12-31T23:59:60Z", "2026-01-31T00:00:00+00:00",
        "2026-04-30T12:00:00.1-23:59", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z"}) {
    EXPECT_TRUE(is_rfc3339(s)) << s;
  }
}

TEST(Rfc3339, Invalid) {
  for (std::string_view s : {"2026-02-29T00:00:00Z",
                             "1900-02-29T00:00:00Z",
                             "2026-11-22T10:15:03",
                             "2026-11-22 10:15:03Z",
                             "2026-13-01T00:00:00Z",
                             "2026-00-10T00:00:00Z",
                             "2026-04-31T00:00:00Z",
                             "2026-11-00T00:00:00Z",
                             "2026-11-22T24:00:00Z",
                             "2026-11-22T23:60:00Z",
                             "2026-11-22T23:59:61Z",
                             "2026-11-22T10:15:03.Z",
                             "2026-11-22T10:15:03.1234567890Z",
                             "2026-11-22T10:15:03+0700",
                             "2026-11-22T10:15:03+24:00",
                             "2026-11-22T10:15:03+07:60",
                             "2026-11-22T10:15:03Zjunk",
                             "26-11-22T10:15:03Z",
                             "",
                             "2026-11-22t10:15:03z",
                             "2026-11-22T10:15:03+07:00 ",
                             "2026-11-22T10:15:03+07",
                             "2026-11-22T1:15:03Z",
                             "2026/11/22T10:15:03Z",
                             "2026-11-22",
                             "+2026-11-22T10:15:03Z",
                             "2026-11-22T10:15:03,5Z",
                             "2026-11-22T10:15:03.5"}) {
    EXPECT_FALSE(is_rfc3339(s)) << s;
  }
}

TEST(Rfc3339, ParsesToUnixMillisecondsWithTheOffsetApplied) {
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T07:00:01.250+07:00"), 1250);
  EXPECT_EQ(parse_rfc3339_ms("1969-12-31T19:00:00-05:00"), 0);
  EXPECT_EQ(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-22T10:15:03.1205Z"), 1'795'342'503'120);  // sub-ms dropped
  EXPECT_EQ(parse_rfc3339_ms("2026-11-22T17:15:03.12+07:00"), 1'795'342'503'120);
  EXPECT_EQ(parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1'709'164'800'000);
  EXPECT_EQ(parse_rfc3339_ms("0001-01-01T00:00:00Z"), -62'135'596'800'000);
  for (const std::int64_t t : {std::int64_t{0}, std::int64_t{1'795'342'503'120},
                               std::int64_t{-86'400'001}, std::int64_t{253'402'300'799'999}}) {
    EXPECT_EQ(parse_rfc3339_ms(format_rfc3339_utc_ms(t)), t) << t;
  }
  for (std::string_view bad : {"yesterday", "2026-02-29T00:00:00Z", "2026-11-22T10:15:03",
                               "2026-11-22T10:15:03Zjunk", ""}) {
    EXPECT_FALSE(parse_rfc3339_ms(bad)) << bad;
  }
}

TEST(Rfc3339, FormatUtcMs) {
  const std::pair<std::int64_t, std::string_view> cases[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {1795317303120, "2026-11-22T03:15:03.120Z"},
      {951782400000, "2000-02-29T00:00:00.000Z"},
      {4102444799999, "2099-12-31T23:59:59.999Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {-2203891200000, "1900-03-01T00:00:00.000Z"},
      {1709164800000 - 1, "2024-02-28T23:59:59.999Z"},
  };
  for (const auto& [ms, text] : cases) {
    EXPECT_EQ(format_rfc3339_utc_ms(ms), text) << ms;
    EXPECT_TRUE(is_rfc3339(format_rfc3339_utc_ms(ms)));
  }
}

}  // namespace
}  // namespace pos::protocol
