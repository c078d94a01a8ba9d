#include "pos/protocol/ids.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pos::protocol {
namespace {

TEST(Ids, ValidIds) {
  for (std::string_view id :
       {"S07", "T1", "a", "store_01-x", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", "0", "-", "_"}) {
    EXPECT_TRUE(is_valid_id(id)) << id;
    EXPECT_TRUE(check_id("store_id", id).has_value()) << id;
  }
}

TEST(Ids, InvalidIds) {
  for (std::string_view id : {"", "S 7", "S/7", "S+7", "S#7", "S.7", "S:7", "é", "$SYS",
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"}) {
    EXPECT_FALSE(is_valid_id(id)) << id;
  }
  EXPECT_FALSE(is_valid_id(std::string_view("S\0", 2)));
  const Status status = check_id("till_id", "T/1");
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().message, "till_id: must match [A-Za-z0-9_-]{1,32}");
}

TEST(Ids, FormatEpoch) {
  EXPECT_EQ(format_epoch(0), "0000000000000000");
  EXPECT_EQ(format_epoch(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(format_epoch(~0ULL), "ffffffffffffffff");
}

TEST(Ids, ParseEpoch) {
  EXPECT_EQ(parse_epoch("0123456789abcdef").value(), 0x0123456789abcdefULL);
  EXPECT_EQ(parse_epoch("0123456789ABCDEF").value(), 0x0123456789abcdefULL);
  EXPECT_EQ(parse_epoch("ffffffffffffffff").value(), ~0ULL);
  for (std::uint64_t e : {0ULL, 1ULL, 0x8000000000000000ULL, 0xdeadbeefcafef00dULL}) {
    EXPECT_EQ(parse_epoch(format_epoch(e)).value(), e);
  }
  for (std::string_view bad : {"", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg",
                               "0x23456789abcdef", " 123456789abcdef", "-123456789abcdef"}) {
    const auto epoch = parse_epoch(bad);
    ASSERT_FALSE(epoch.has_value()) << bad;
    EXPECT_EQ(epoch.error().message, "epoch: must be 16 hex digits");
  }
}

TEST(Ids, MakeEventId) {
  EXPECT_EQ(make_event_id("S07", "T1", 0x0123456789abcdefULL, 42), "S07-T1-0123456789abcdef-42");
  EXPECT_EQ(make_event_id("S-07", "WH_1", 0, 1), "S-07-WH_1-0000000000000000-1");
  EXPECT_EQ(make_event_id("S", "T", ~0ULL, ~0ULL), "S-T-ffffffffffffffff-18446744073709551615");
}

}  // namespace
}  // namespace pos::protocol
