#pragma once
// Card numbers (PANs) never leave the till: PCI DSS forbids storing a full primary account number
// unprotected, and the agent's SQLite buffer is storage. The ingest path checks every string of
// every event and, by configuration, rejects the event or masks the number to first 6 / last 4.

#include <boost/json/object.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::agent {

/// Where one card number sits in a string: bytes [begin, end), from its first to its last digit
/// (separators between them included).
struct CardNumberMatch {
  std::size_t begin = 0;
  std::size_t end = 0;
};

/// True when `digits` (ASCII digits only, at least 2) passes the Luhn check.
bool luhn_valid(std::string_view digits) noexcept;

/// The card numbers in `text`: maximal runs of 13 to 19 digits, where a single space or dash may
/// separate two digits, that pass the Luhn check and carry the prefix and length of a payment
/// brand (Visa, Mastercard, American Express, Discover, JCB, Diners Club, UnionPay, Maestro, Mir,
/// RuPay). A 13- or 14-digit run that is also a valid EAN-13/GTIN-14 code is taken for a product
/// code. Never throws; linear in the text.
std::vector<CardNumberMatch> find_card_numbers(std::string_view text);

/// `text` with the digits of each match replaced by '*' except its first 6 and last 4
/// (separators kept): "4111 11** **** 1111".
std::string mask_card_numbers(std::string_view text, const std::vector<CardNumberMatch>& matches);

/// What the agent does with an event that carries a card number.
enum class CardNumberPolicy {
  reject,  ///< the event is rejected (the default)
  mask,    ///< the number is masked in place and the event accepted
};

/// Checks every string value of `event`, at any depth. With `reject`, fails on the first card
/// number with `<path>: contains a card number (PCI DSS: ...)`; the message never quotes the
/// number. With `mask`, masks every one in place and returns how many it masked. An object key
/// that holds a card number always fails (a key cannot be masked without changing the schema).
Result<std::size_t> guard_card_numbers(boost::json::object& event, CardNumberPolicy policy);

}  // namespace pos::agent
