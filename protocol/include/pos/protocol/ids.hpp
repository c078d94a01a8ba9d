#pragma once
// Identifiers shared by agent and collector: store/till ids, epochs and event ids.

#include <cstdint>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::protocol {

/// True when `id` matches [A-Za-z0-9_-]{1,32}: the rule for store and till ids. Such ids can never
/// contain the MQTT wildcards `+`, `#` or the level separator `/`.
bool is_valid_id(std::string_view id) noexcept;

/// Checks a store or till id; the error names `what` ("store_id: must match [A-Za-z0-9_-]{1,32}").
Status check_id(std::string_view what, std::string_view id);

/// Formats an epoch as exactly 16 lowercase hex digits.
std::string format_epoch(std::uint64_t epoch);

/// Parses exactly 16 hex digits (either case). Fails with a message naming the rule.
Result<std::uint64_t> parse_epoch(std::string_view text);

/// The stable event id `{store}-{till}-{epoch as 16 hex}-{seq}`.
std::string make_event_id(std::string_view store_id, std::string_view till_id, std::uint64_t epoch,
                          std::uint64_t seq);

}  // namespace pos::protocol
