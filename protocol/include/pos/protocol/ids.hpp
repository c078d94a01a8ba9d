#pragma once
// Identifiers shared by agent and collector: store/till ids, epochs and event ids.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::protocol {

/// The longest store or till id.
inline constexpr std::size_t max_id_length = 32;

/// True when `id` matches [A-Za-z0-9_-]{1,max_length}; with the default, the rule for store and
/// till ids. Such ids can never contain the MQTT wildcards `+`, `#` or the level separator `/`.
bool is_valid_id(std::string_view id, std::size_t max_length = max_id_length) noexcept;

/// A till's name "{store}/{till}" (its certificate's CN, `--till S07/T1`) split in two.
struct TillName {
  std::string store_id;
  std::string till_id;
};

/// Splits "{store}/{till}"; fails ("must be STORE/TILL, each [A-Za-z0-9_-]{1,32}") unless both
/// parts are valid ids.
Result<TillName> parse_till_name(std::string_view text);

/// Checks a store or till id; the error names `what` ("store_id: must match [A-Za-z0-9_-]{1,32}").
Status check_id(std::string_view what, std::string_view id);

/// Formats an epoch as exactly 16 lowercase hex digits.
std::string format_epoch(std::uint64_t epoch);

/// The value of one hex digit (either case), or -1 for any other character.
int hex_digit_value(char c) noexcept;

/// Parses exactly 16 hex digits (either case). Fails with a message naming the rule.
Result<std::uint64_t> parse_epoch(std::string_view text);

/// FNV-1a, 64 bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3) of the bytes of `data`.
/// Fixed forever: values derived from it (till_hash) must not change across releases.
std::uint64_t fnv1a_64(std::string_view data) noexcept;

/// A till's stable hash: fnv1a_64 of `{store_id}/{till_id}` (the two ids joined by one '/').
/// The same on every platform and in every release. An agent with several brokers starts at
/// broker `till_hash % count` of its list (common::till_broker_order), so that a fleet's tills
/// spread over the brokers; a collector can compute where a till starts with it.
std::uint64_t till_hash(std::string_view store_id, std::string_view till_id) noexcept;

/// "{store}-{till}" with every '-' of the store id written as '.' (ids never contain '.'): the
/// first '-' always ends the store part, so different (store, till) pairs always give different
/// keys ("A-B"/"C" gives "A.B-C", "A"/"B-C" gives "A-B-C"). For a store id without '-' it is
/// exactly "{store}-{till}". The till part of event ids and posctl's certificate file names.
std::string till_key(std::string_view store_id, std::string_view till_id);

/// The stable event id `{till_key}-{epoch as 16 lowercase hex}-{seq in decimal}`, i.e.
/// `{store}-{till}-{epoch}-{seq}` with a '-' of the store id written '.'. Unchanged from earlier
/// versions when the store id has no '-'. Different (store, till, epoch, seq) always give different
/// ids, and parse_event_id() gives the parts back.
std::string make_event_id(std::string_view store_id, std::string_view till_id, std::uint64_t epoch,
                          std::uint64_t seq);

/// The event id as agents before the till_key() encoding made it: the store id as it is. Equal to
/// make_event_id() unless the store id has a '-'; then ambiguous ("A-B"/"C" and "A"/"B-C" give the
/// same id). Never made for new events; only recognised by is_event_id_of().
std::string make_legacy_event_id(std::string_view store_id, std::string_view till_id,
                                 std::uint64_t epoch, std::uint64_t seq);

/// True when `event_id` is make_event_id() or make_legacy_event_id() of these parts: what a
/// collector accepts in a payload line, so that events stored by an older agent stay valid.
bool is_event_id_of(std::string_view event_id, std::string_view store_id, std::string_view till_id,
                    std::uint64_t epoch, std::uint64_t seq);

/// The parts of an event id.
struct EventIdParts {
  std::string store_id;
  std::string till_id;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
};

/// Splits an id exactly as make_event_id() makes it: the store part ends at the first '-' ('.'
/// read back as '-'), the seq follows the last '-', the 16 lowercase hex digits of the epoch the
/// one before; both ids must be valid and the seq has no leading zeros. Anything else fails with
/// "event_id: must be {store}-{till}-{epoch}-{seq} (a '-' in the store id written '.')". A legacy
/// id of a store with '-' parses as the split make_event_id() would give it ("A-B-C-..." as store
/// "A", till "B-C").
Result<EventIdParts> parse_event_id(std::string_view event_id);

}  // namespace pos::protocol
