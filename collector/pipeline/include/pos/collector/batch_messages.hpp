#pragma once
// Building what the BatchProcessor publishes for a batch: one event message per valid line (with
// the facts the observers get), a dead letter per invalid line, or one dead letter for the whole
// batch. Pure functions of their inputs: no state, no I/O.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/collector/event_facts.hpp"
#include "pos/collector/sink.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"

namespace pos::collector {

/// Longest attribute value the collector sends (Pub/Sub allows 1024 bytes per value).
inline constexpr std::size_t max_attribute_bytes = 1000;

/// Who a batch belongs to and where it starts, as written into every message built for it.
struct BatchOrigin {
  std::string store_id;
  std::string till_id;
  std::uint64_t epoch = 0;
  std::uint64_t first_seq = 0;
  std::string ordering_key;  ///< "{store}/{till}"
};

/// The messages of one batch: `digests[i]` belongs to `events[i]`.
struct BatchMessages {
  std::vector<OutMessage> events;
  std::vector<std::optional<EventDigest>> digests;
  std::vector<OutMessage> dead_letters;
};

/// Validates lines `skip`.. of `decoded` (seq, epoch and the event itself against `limits`) and
/// builds their messages; `collected_at` is stamped into each published event. A line that fails
/// becomes a dead letter naming the reason and its seq. Throws only std::bad_alloc.
BatchMessages build_batch_messages(const BatchOrigin& origin, const protocol::DecodedBatch& decoded,
                                   std::size_t skip, const protocol::EventLimits& limits,
                                   const std::string& collected_at);

/// A dead letter for `data` (a line or a whole batch) of `origin`, with `error` as its reason.
OutMessage batch_dead_letter(const BatchOrigin& origin, std::string data, std::string_view error);

/// A dead letter for a whole batch message that cannot be acknowledged (bad topic or header):
/// the payload cut to `max_bytes`, store and till when known (empty otherwise).
OutMessage unackable_dead_letter(std::string_view error, const std::string& store_id,
                                 const std::string& till_id, const std::string& payload,
                                 std::size_t max_bytes);

/// A dead letter for a whole batch of `origin` whose payload cannot be used (`error`), cut to
/// `max_bytes`.
OutMessage poisoned_batch_dead_letter(const BatchOrigin& origin, const std::string& payload,
                                      std::string_view error, std::size_t max_bytes);

/// `text` cut to `limit` bytes.
std::string clip(std::string_view text, std::size_t limit = max_attribute_bytes);

}  // namespace pos::collector
