#pragma once
// The POS event model of SPEC.md: validation of `sale`, `return` and `stock_change`, the agent's
// stamped payload line, and canonical JSON.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::protocol {

enum class EventType { sale, return_event, stock_change };

/// "sale", "return" or "stock_change".
std::string_view to_string(EventType type) noexcept;

/// The per-event size limit of the whole system, its one source: the canonical JSON of one POS
/// event (as the agent stores and forwards it, before its stamp) is at most this many bytes. The
/// collector accepts payload lines up to max_event_bytes + max_stamp_bytes; the agent refuses a
/// larger event at ingest in every body form (check_event_size), so that an accepted event is
/// never too large to publish. An agent may be configured lower, never higher.
inline constexpr std::size_t max_event_bytes = std::size_t{1024} * 1024;

/// Room for the agent's stamp (`event_id`, `seq`, `store_id`, `till_id`, `received_at`) in a
/// payload line on top of max_event_bytes. With ids of at most 32 bytes the stamp takes at most
/// about 280 bytes.
inline constexpr std::size_t max_stamp_bytes = 512;

/// Nesting of objects/arrays in one event, the same on both sides.
inline constexpr std::size_t max_event_depth = 16;

/// Limits applied while parsing untrusted event text. Defaults suit SPEC's 4 MiB requests.
struct EventLimits {
  std::size_t max_bytes = max_event_bytes;  ///< one event's JSON text (see max_event_bytes)
  std::size_t max_depth = max_event_depth;  ///< nesting of objects/arrays (unknown fields included)
  std::size_t max_lines = 500;              ///< SPEC: 1 to 500 lines
  std::size_t max_string_bytes = 1024;      ///< any known string field (skus, categories, ids)
};

/// Who may send events: an event carrying `store_id`/`till_id` different from these is rejected.
/// Empty strings disable the check (used by tools that only validate shape).
struct EventOwner {
  std::string_view store_id;
  std::string_view till_id;
};

/// A POS event that passed validation. Keeps the JSON object as received, unknown fields included,
/// in their original order. Immutable; safe to share between threads once built.
class PosEvent {
 public:
  EventType type() const noexcept { return m_type; }
  const std::string& pos_event_id() const noexcept { return m_pos_event_id; }
  const boost::json::object& fields() const noexcept { return m_fields; }

 private:
  friend Result<PosEvent> validate_pos_event(boost::json::object fields, const EventOwner& owner,
                                             const EventLimits& limits);
  PosEvent(EventType type, std::string pos_event_id, boost::json::object fields)
      : m_type(type), m_pos_event_id(std::move(pos_event_id)), m_fields(std::move(fields)) {}
  EventType m_type = EventType::sale;
  std::string m_pos_event_id;
  boost::json::object m_fields;
};

/// Validates one event object as the POS sends it (SPEC "POS events"). On failure the error message
/// is `<field path>: <rule>`, e.g. `lines[0].qty: must be an integer >= 1`, `customer.type: must be
/// one of new, returning, guest`, `store_id: does not match this agent (S07)`. The first violation
/// found is reported. Never throws for any input.
Result<PosEvent> validate_pos_event(boost::json::object fields, const EventOwner& owner = {},
                                    const EventLimits& limits = {});

/// Parses JSON text (size and depth bounded by `limits`) and validates it as above. Text that is
/// not one JSON object fails with `event: ...`.
Result<PosEvent> parse_pos_event(std::string_view text, const EventOwner& owner = {},
                                 const EventLimits& limits = {});

/// Size and nesting of a JSON value as the agent stores it.
struct JsonMeasure {
  std::size_t canonical_bytes = 0;  ///< to_canonical_json(value).size()
  std::size_t depth = 0;  ///< 0 for a scalar, 1 + the deepest element for an object or array
};

/// Measures `value` without building its canonical text. Never throws except std::bad_alloc.
JsonMeasure measure_json(const boost::json::value& value);

/// measure_json of an event's fields: `canonical_bytes` is a lower bound of its payload line's
/// size (the line adds the stamp). Never throws except std::bad_alloc.
JsonMeasure measure_event(const PosEvent& event);

/// Checks that an event fits `limits` as the agent will store it: its canonical JSON (the payload
/// line without the stamp) at most `limits.max_bytes` bytes and its nesting at most
/// `limits.max_depth` (the collector parses the line with the same limits). Errors:
/// `event: 1048600 bytes (as stored) is larger than the limit of 1048576 bytes per event`,
/// `event: nested deeper than 16 levels`. Never throws except std::bad_alloc.
Status check_event_size(const PosEvent& event, const EventLimits& limits);

/// The same check on a measure_event result (for callers that also use the size).
Status check_event_size(const JsonMeasure& measure, const EventLimits& limits);

/// A key given more than once in one JSON object. RFC 8259 leaves the meaning of such text to the
/// reader (Boost.JSON keeps the last value, other readers the first), so no text with one is
/// accepted: every parser of this library refuses it, at any depth.
struct DuplicateKey {
  std::size_t element = 0;  ///< index in the top-level array; 0 when the text is not an array
  std::string path;         ///< field path within that element, e.g. `store_id`, `lines[0].sku`
};

/// `<path>: duplicate key`, the rejection of an event holding `duplicate`.
std::string duplicate_key_error(const DuplicateKey& duplicate);

/// Parses JSON text into a value with `limits` applied (size, depth). Used by the ingest API for
/// whole request bodies (`max_bytes` then is the request limit). The value is allocated from
/// `storage` (default: the heap; the ingest API uses one monotonic pool per request). Error:
/// `body: <reason>`. A duplicate key fails the parse (`body: [1].store_id: duplicate key`) unless
/// `duplicates` is given: then the parse goes on (the value keeps the last of the duplicated
/// values) and the first duplicate of each top-level array element (or of the whole text) is
/// appended to it, so that the caller rejects just those events.
Result<boost::json::value> parse_json_bounded(std::string_view text, const EventLimits& limits,
                                              boost::json::storage_ptr storage = {},
                                              std::vector<DuplicateKey>* duplicates = nullptr);

/// The fields the agent adds to an accepted event (SPEC batch payload line).
struct AgentStamp {
  std::string store_id;
  std::string till_id;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;    ///< >= 1
  std::string received_at;  ///< RFC 3339, UTC, millisecond precision
};

/// The payload line for a batch: the event's fields plus `event_id`, `seq`, `store_id`, `till_id`,
/// `received_at`, as canonical JSON (no newline).
std::string make_payload_line(const PosEvent& event, const AgentStamp& stamp);

/// A payload line serialized once, before its seq is known: the canonical text of the event with
/// `store_id`, `till_id` and `received_at`, and the two places where `event_id` and `seq` go.
/// render() splices them in without re-sorting or re-serializing the event. Immutable once built;
/// safe to move between threads.
class PayloadTemplate {
 public:
  PayloadTemplate() = default;

  /// Appends the payload line with these `event_id` and `seq` to `out`: byte for byte what
  /// make_payload_line returns for a stamp with the same ids, received_at, epoch and seq (the
  /// caller passes event_id = make_event_id(store_id, till_id, epoch, seq)).
  void render(std::string& out, std::string_view event_id, std::uint64_t seq) const;

  /// The length render() appends for an `event_id` and `seq` of these lengths (digits of seq).
  std::size_t rendered_size(std::size_t event_id_size, std::size_t seq_digits) const noexcept {
    return m_text.size() + k_event_id_overhead + event_id_size + k_seq_overhead + seq_digits;
  }

 private:
  friend PayloadTemplate make_payload_template(const PosEvent& event, std::string_view store_id,
                                               std::string_view till_id,
                                               std::string_view received_at);
  static constexpr std::size_t k_event_id_overhead = 13;  // "event_id":"" (the id has no escapes)
  static constexpr std::size_t k_seq_overhead = 6;        // "seq":
  std::string m_text;
  std::size_t m_event_id_at = 0;
  std::size_t m_seq_at = 0;
};

/// Serializes `event` (canonical JSON, keys sorted once) with the stamp fields that do not depend
/// on the seq. `store_id` and `till_id` must be valid ids ([A-Za-z0-9_-]); `received_at` RFC 3339.
PayloadTemplate make_payload_template(const PosEvent& event, std::string_view store_id,
                                      std::string_view till_id, std::string_view received_at);

/// An event as the collector sees it: a validated POS event plus the agent's stamp.
struct StampedEvent {
  PosEvent event;
  AgentStamp stamp;
  std::string event_id;
};

/// Parses and validates one batch payload line: all POS event rules plus the agent fields
/// (`event_id` must equal make_event_id(...), or make_legacy_event_id(...) as older agents wrote
/// it, `seq` an integer >= 1, ids valid, `received_at` RFC 3339). `owner` (from the MQTT topic)
/// must match the stamped store/till. The event's JSON is allocated from `storage` (default: the
/// heap), which must outlive the result; the collector passes a per-line pool on a stack buffer.
Result<StampedEvent> parse_payload_line(std::string_view line, const EventOwner& owner,
                                        const EventLimits& limits = {},
                                        boost::json::storage_ptr storage = {});

/// The Pub/Sub data of a validated payload line (SPEC "Pub/Sub output"): canonical JSON of the
/// event's fields, the agent's stamp, `collected_at` and `schema_version`: 1 (replacing fields of
/// the event with those names). Built from the validated values, never copied from the received
/// text, so that what is published is exactly what was checked.
std::string make_collected_line(const StampedEvent& event, std::string_view collected_at);

/// Canonical JSON: object keys sorted by byte value at every level, no insignificant whitespace,
/// strings escaped as Boost.JSON does. parse(canonical(v)) == v and canonical is idempotent.
std::string to_canonical_json(const boost::json::value& value);

/// Appends `s` to `out` as a JSON string: quoted, escaped as Boost.JSON's serializer does
/// (`"`, `\\`, \b \f \n \r \t by name, other control characters as \u00XX; UTF-8 as is).
void append_json_string(std::string& out, std::string_view s);

/// True for an RFC 3339 date-time with a `Z` or `±hh:mm` offset, checked field by field
/// (month 1-12, day valid for the month, hour 0-23, minute 0-59, second 0-60).
bool is_rfc3339(std::string_view text) noexcept;

/// The UNIX time in milliseconds of an RFC 3339 date-time (is_rfc3339), its offset applied and
/// fractions beyond milliseconds dropped; nullopt when `text` is not one. Never throws.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) noexcept;

/// Formats a UNIX time in milliseconds as RFC 3339 UTC with milliseconds: 2026-11-22T03:15:03.120Z.
std::string format_rfc3339_utc_ms(std::int64_t unix_ms);

}  // namespace pos::protocol
