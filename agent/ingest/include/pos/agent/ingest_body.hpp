#pragma once
// Turns an ingest request body (SPEC "Agent ingest API") or a spool file into validated events.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pos/agent/card_numbers.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/result.hpp"

namespace pos::agent {

/// Limits for one request body (SPEC: 1000 events, 4 MiB) or one spool file.
struct IngestBodyLimits {
  std::size_t max_events = 1000;
  std::size_t max_bytes = 4 * 1024 * 1024;
  /// Per event, in every body form: `event.max_bytes` bounds one NDJSON line as sent and every
  /// event as stored (protocol::check_event_size); it must not exceed protocol::max_event_bytes.
  protocol::EventLimits event;
  /// The buffer's size (buffer.max_bytes): a body whose valid events take more than this as
  /// stored could never be stored (the buffer would answer `full` forever) and fails whole with
  /// 413. 0: not checked.
  std::uint64_t max_stored_bytes = 0;
  /// A card number in any string of an event (card_numbers.hpp): the event is rejected naming
  /// the field, or the number is masked before validation and storage.
  CardNumberPolicy card_numbers = CardNumberPolicy::reject;
};

enum class BodyFormat { json, ndjson };

/// A failure of the whole body: nothing in it is stored. `status` is the HTTP status to answer
/// (400 unparseable, 413 too large or too many events, 415 content type).
struct BodyError {
  int status = 400;
  std::string message;
};

/// One event of a body, by position. `line` is the 1-based line where it starts (NDJSON: its
/// line; JSON: 0, positions are array indices). `event` is the validated event or the rejection
/// (`lines[0].qty: must be an integer >= 1`).
struct BodyItem {
  std::size_t line = 0;
  Result<protocol::PosEvent> event;
};

/// Maps a Content-Type header value to a format: `application/json` (optionally with
/// `charset=utf-8`) is JSON, `application/x-ndjson` is NDJSON; anything else, absent included
/// (what a browser's cross-site `no-cors` POST may send), fails with 415.
Result<BodyFormat, BodyError> body_format(std::string_view content_type);

/// Parses and validates a request body. JSON: one object or an array (an element that is not an
/// object, or an event over the per-event limits, is a per-item rejection). Valid events that
/// together exceed `limits.max_stored_bytes` fail the whole body (413). NDJSON: one JSON value
/// per non-empty line, `\r\n` tolerated; a line that is not JSON fails the whole body ("body:
/// invalid JSON at line 3: ..."). Events are checked against `owner`. Never throws except
/// std::bad_alloc.
Result<std::vector<BodyItem>, BodyError> parse_ingest_body(std::string_view content_type,
                                                           std::string_view body,
                                                           const protocol::EventOwner& owner,
                                                           const IngestBodyLimits& limits);

/// NDJSON as for parse_ingest_body, except that a line that is not JSON is reported as an item
/// (so that a spool file's error report lists every bad line). Whole-body failures: too large,
/// more than `limits.max_events` events, or more than `limits.max_stored_bytes` as stored (413).
Result<std::vector<BodyItem>, BodyError> parse_ndjson_items(std::string_view text,
                                                            const protocol::EventOwner& owner,
                                                            const IngestBodyLimits& limits);

}  // namespace pos::agent
