// The card-number guard against a corpus: the brands' published test PANs in the forms a POS
// writes them (plain, grouped by spaces or dashes, inside text, nested fields), and near-misses
// that must pass (EAN-13/GTIN-14 product codes, phone numbers, order numbers, timestamps, numbers
// that fail Luhn or carry no brand prefix).

#include "pos/agent/card_numbers.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

namespace pos::agent {
namespace {

namespace json = boost::json;

// `prefix` followed by its Luhn check digit.
std::string with_luhn_digit(const std::string& prefix) {
  for (char d = '0'; d <= '9'; ++d) {
    if (luhn_valid(prefix + d)) {
      return prefix + d;
    }
  }
  return {};
}

// `prefix` (12 or 13 digits) followed by its GS1 check digit.
std::string with_gtin_digit(const std::string& prefix) {
  int sum = 0;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const int d = prefix[prefix.size() - 1 - i] - '0';
    sum += (i % 2 == 0) ? 3 * d : d;
  }
  return prefix + static_cast<char>('0' + (10 - sum % 10) % 10);
}

const std::vector<std::string>& test_pans() {
  static const std::vector<std::string> pans = {
      // Visa
      "4111111111111111", "4012888888881881", "4242424242424242", "4000056655665556",
      with_luhn_digit("411111111111111111"),  // 19 digits
      // Mastercard (51-55 and the 2-series)
      "5555555555554444", "5105105105105100", "2223003122003222", "5200828282828210",
      // American Express
      "378282246310005", "371449635398431", "378734493671000",
      // Discover
      "6011111111111117", "6011000990139424", with_luhn_digit("644000000000000"),
      // Diners Club (14 digits)
      "30569309025904", "38520000023237", "36227206271667",
      // JCB
      "3530111333300000", "3566002020360505",
      // UnionPay (16 and 19 digits)
      "6200000000000005", "6250941006528599", with_luhn_digit("620000000000000000"),
      // Maestro, Mir, RuPay
      "6759649826438453", with_luhn_digit("220000000000000"), with_luhn_digit("608000000000000")};
  return pans;
}

std::string grouped(const std::string& pan, char separator) {
  std::string out;
  for (std::size_t i = 0; i < pan.size(); ++i) {
    if (i > 0 && i % 4 == 0) {
      out.push_back(separator);
    }
    out.push_back(pan[i]);
  }
  return out;
}

TEST(CardNumbersTest, LuhnOfKnownNumbers) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_TRUE(luhn_valid("79927398713"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_FALSE(luhn_valid("79927398710"));
  EXPECT_FALSE(luhn_valid("4111 1111"));
  EXPECT_FALSE(luhn_valid("0"));
}

TEST(CardNumbersTest, EveryBrandsTestNumberIsFoundPlainGroupedAndInText) {
  for (const auto& pan : test_pans()) {
    ASSERT_TRUE(luhn_valid(pan)) << pan;
    for (const std::string& form : {pan, grouped(pan, ' '), grouped(pan, '-')}) {
      const std::string text = "paid with " + form + ", thank you";
      const auto found = find_card_numbers(text);
      ASSERT_EQ(found.size(), 1U) << form;
      EXPECT_EQ(text.substr(found[0].begin, found[0].end - found[0].begin), form);
    }
    EXPECT_EQ(find_card_numbers("x" + pan + "y").size(), 1U) << "glued to letters: " << pan;
  }
}

TEST(CardNumbersTest, ANumberFollowedByAnotherGroupIsStillFound) {
  const auto found = find_card_numbers("4111 1111 1111 1111 2 items");
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].end, std::string("4111 1111 1111 1111").size());
  EXPECT_EQ(find_card_numbers("4111111111111111 and 5555-5555-5555-4444").size(), 2U);
}

TEST(CardNumbersTest, NearMissesPass) {
  std::vector<std::string> near_misses = {
      // EAN-13 / GTIN-14 product codes, including ones that also pass Luhn under a brand prefix
      "8991002101104", with_gtin_digit("899100210110"), with_gtin_digit("501800000000"),
      with_gtin_digit("3600000000000"),
      // phone numbers
      "+62 812-3456-7890", "0812 3456 7890", "+62 21 5550 1234", "+44 20 7946 0958",
      "+1-202-555-0142",
      // order and receipt numbers, timestamps
      "ORD-2026-12-04-000123", "INV/2026/000000012345", "2026-11-22T10:15:03.120+07:00",
      "S07-T1-00000000000012345",
      // fails Luhn; passes Luhn without a brand prefix; too long or too short
      "4111111111111112", "1234567812345670", "41111111111111111111", "411111111111",
      "0000000000000000"};
  // Search for product codes that pass both checks under a brand prefix: they must still pass.
  for (int middle = 0; middle < 1000; ++middle) {
    const std::string code = with_gtin_digit("5018" + std::to_string(100000000 + middle));
    if (luhn_valid(code)) {
      near_misses.push_back(code);
      break;
    }
  }
  ASSERT_TRUE(luhn_valid("1234567812345670"));
  for (const auto& text : near_misses) {
    EXPECT_TRUE(find_card_numbers(text).empty()) << text;
  }
}

TEST(CardNumbersTest, MaskKeepsFirstSixLastFourAndSeparators) {
  const std::string text = "card 4111 1111 1111 1111 ok, amex 378282246310005";
  EXPECT_EQ(mask_card_numbers(text, find_card_numbers(text)),
            "card 4111 11** **** 1111 ok, amex 378282*****0005");
}

json::object event_with(const std::string& note) {
  json::object event;
  event["type"] = "sale";
  event["pos_event_id"] = "R-1";
  event["payment"] = json::object{{"method", "card"}, {"note", note}};
  event["lines"] = json::array{json::object{{"sku", "SKU-1"}, {"tags", json::array{"a", note}}}};
  return event;
}

TEST(CardNumbersTest, RejectNamesTheFieldAndNeverTheNumber) {
  auto event = event_with("4242-4242-4242-4242");
  const auto guarded = guard_card_numbers(event, CardNumberPolicy::reject);
  ASSERT_FALSE(guarded);
  EXPECT_EQ(guarded.error().message.rfind("payment.note: contains a card number", 0), 0U)
      << guarded.error().message;
  EXPECT_EQ(guarded.error().message.find("4242"), std::string::npos);

  json::object nested;
  nested["lines"] = json::array{json::object{{"tags", json::array{"x", "5555555555554444"}}}};
  const auto in_array = guard_card_numbers(nested, CardNumberPolicy::reject);
  ASSERT_FALSE(in_array);
  EXPECT_EQ(in_array.error().message.rfind("lines[0].tags[1]:", 0), 0U) << in_array.error().message;

  json::object key;
  key["4111111111111111"] = 1;
  EXPECT_FALSE(guard_card_numbers(key, CardNumberPolicy::mask));
}

TEST(CardNumbersTest, MaskRewritesEveryStringInPlace) {
  auto event = event_with("4242 4242 4242 4242");
  const auto guarded = guard_card_numbers(event, CardNumberPolicy::mask);
  ASSERT_TRUE(guarded) << guarded.error().message;
  EXPECT_EQ(*guarded, 2U);
  EXPECT_EQ(event.at("payment").at("note").as_string(), "4242 42** **** 4242");
  EXPECT_EQ(event.at("lines").at(0).at("tags").at(1).as_string(), "4242 42** **** 4242");

  auto clean = event_with("thank you");
  const auto untouched = clean;
  ASSERT_TRUE(guard_card_numbers(clean, CardNumberPolicy::mask));
  EXPECT_EQ(clean, untouched);
}

TEST(CardNumbersTest, ManyShortGroupsStayLinear) {
  std::string text;
  for (int i = 0; i < 100'000; ++i) {
    text += "1 ";
  }
  EXPECT_TRUE(find_card_numbers(text).empty());
}

}  // namespace
}  // namespace pos::agent
