#include "pos/common/split.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace pos::common {
namespace {

using Parts = std::vector<std::string_view>;

TEST(SplitTest, KeepsEmptyPartsAndSplitsAtEverySeparator) {
  EXPECT_EQ(split("online,stale", ','), (Parts{"online", "stale"}));
  EXPECT_EQ(split("a,,b,", ','), (Parts{"a", "", "b", ""}));
  EXPECT_EQ(split(",", ','), (Parts{"", ""}));
  EXPECT_EQ(split("", ','), (Parts{""}));
  EXPECT_EQ(split("V\t01\ttill", '\t'), (Parts{"V", "01", "till"}));
}

}  // namespace
}  // namespace pos::common
