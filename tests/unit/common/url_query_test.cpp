#include "pos/common/url_query.hpp"

#include <gtest/gtest.h>

namespace pos::common {
namespace {

TEST(UrlQuery, SplitsAndDecodesEveryParameterInOrder) {
  EXPECT_EQ(query_of("/v1/fleet?store=S07&q=a+b"), "store=S07&q=a+b");
  EXPECT_EQ(query_of("/v1/fleet"), "");
  const auto parameters = parse_query("till=S07%2FT1&&q=a+b&flag&x=%e2%82%AC").value();
  ASSERT_EQ(parameters.size(), 4U);
  EXPECT_EQ(parameters[0].name, "till");
  EXPECT_EQ(parameters[0].value, "S07/T1");
  EXPECT_EQ(parameters[1].value, "a b");
  EXPECT_EQ(parameters[2].name, "flag");
  EXPECT_EQ(parameters[2].value, "");
  EXPECT_EQ(parameters[3].value, "\xe2\x82\xac");
  EXPECT_TRUE(parse_query("").value().empty());
}

TEST(UrlQuery, BadEscapesAndTooManyParametersNameWhatIsWrong) {
  EXPECT_EQ(parse_query("store=S0%7").error().message, "store: bad percent-encoding");
  EXPECT_EQ(parse_query("store=%zz").error().message, "store: bad percent-encoding");
  EXPECT_EQ(parse_query("st%r=1").error().message, "parameter name: bad percent-encoding");
  std::string many;
  for (std::size_t i = 0; i <= max_query_parameters; ++i) {
    many += "a=1&";
  }
  EXPECT_EQ(parse_query(many).error().message, "query: more than 64 parameters");
}

}  // namespace
}  // namespace pos::common
