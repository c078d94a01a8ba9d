// The end-to-end promise as a check: what possim was told `accepted` against what the Pub/Sub
// subscription received.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "support/pubsub_emulator.hpp"

namespace pos::test {

// One line of possim's --accepted-log: an event the agent answered `accepted` or `duplicate`.
struct AcceptedEvent {
  std::string store_id;
  std::string till_id;
  std::string pos_event_id;
  std::string event_id;
  std::string status;         // "accepted" | "duplicate"
  boost::json::object event;  // exactly what possim sent
};

// Reads an accepted log (NDJSON, in per-till acceptance order). A last line without its newline
// (the writer was killed while writing it) is left out. Throws std::runtime_error naming the file
// and line when a line is not such a record. A missing file is an error too.
std::vector<AcceptedEvent> read_accepted_log(const std::filesystem::path& path);

// Pulls and acknowledges messages until no message arrived for `quiet`, or `timeout` passed.
// Returns them in delivery order (redeliveries included). Throws like the emulator's REST calls.
std::vector<PubSubMessage> drain_subscription(PubSubEmulator& emulator, std::string_view project,
                                              std::string_view subscription,
                                              std::chrono::milliseconds quiet,
                                              std::chrono::milliseconds timeout);

// A kind of finding: how often it happened and the first few cases, for the failure message.
struct Findings {
  std::size_t count = 0;
  std::vector<std::string> first;
  void add(std::string what);
};

// The result of check_delivery(). Not thread-safe; a plain value.
struct DeliveryReport {
  std::size_t accepted = 0;      // distinct events possim was answered accepted/duplicate for
  std::size_t messages = 0;      // messages pulled from the subscription
  std::size_t published = 0;     // distinct event_ids among them
  std::size_t duplicates = 0;    // further publishes of an event_id (new message_id)
  std::size_t redeliveries = 0;  // the same message_id delivered again (subscriber side)
  std::size_t unanswered = 0;    // published, never answered to possim (last request at SIGTERM)
  Findings missing;              // accepted but never published
  Findings duplicated;           // published more than once (only allowed around collector crashes)
  Findings out_of_order;         // seq gaps/reorders per till, or acceptance order != seq order
  Findings content;              // data or attributes differ from what the POS sent
  Findings unexpected;           // published events possim never sent, or bad messages

  // True when nothing is missing, out of order, different or unexpected, and (unless
  // allow_duplicates) nothing is duplicated.
  bool ok(bool allow_duplicates) const;
  // One line with the counts.
  std::string counts() const;
  // Every kind of finding with its count and first cases; empty when there are none.
  std::string findings() const;
};

// Checks the pulled messages against the accepted log:
// - every accepted event is published, with the event_id the agent answered;
// - per till and epoch, first deliveries carry seq 1, 2, 3 ... in delivery order, and the accepted
//   log's order of a till is seq order (the POS's order is the order downstream sees);
// - the data minus the agent and collector fields (event_id, seq, store_id, till_id, received_at,
//   collected_at, schema_version) equals the event possim sent (parsed JSON), store_id/till_id
//   are the till's, schema_version is 1; attributes event_id, event_type, store_id, till_id,
//   schema_version and the ordering key {store}/{till} match the data;
// - a duplicate's data equals the first delivery's (collected_at aside);
// - an event possim never had answered is allowed only after the last accepted one of its till.
DeliveryReport check_delivery(const std::vector<AcceptedEvent>& accepted,
                              const std::vector<PubSubMessage>& messages);

}  // namespace pos::test
