#include "pos/collector/batch_messages.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <cstddef>

#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"

namespace pos::collector {
namespace {

/// The published data: the line exactly as validated (it parsed with no duplicate key at any
/// depth, so every reader sees the values that were checked) with `collected_at` and
/// `schema_version` appended. When the event itself names one of the two (read from the parsed
/// event, so an escaped spelling counts too), it is rebuilt from the validated values instead.
std::string event_data(const protocol::StampedEvent& event, std::string_view line,
                       const std::string& collected_at) {
  const auto& fields = event.event.fields();
  const auto brace = line.find_last_of('}');
  if (fields.contains("collected_at") || fields.contains("schema_version") ||
      brace == std::string_view::npos) {
    return protocol::make_collected_line(event, collected_at);
  }
  std::string out;
  out.reserve(line.size() + collected_at.size() + 48);
  out.append(line.substr(0, brace));
  out.append(R"(,"collected_at":")").append(collected_at).append(R"(","schema_version":1)");
  out.append(line.substr(brace));
  return out;
}

/// Why line `index` (seq `seq`) of the batch cannot be published; empty when it can.
std::string line_error(const Result<protocol::StampedEvent>& parsed, const BatchOrigin& origin,
                       std::uint64_t seq, std::size_t index) {
  if (!parsed) {
    return parsed.error().message;
  }
  if (parsed->stamp.seq != seq) {
    return "seq: is " + std::to_string(parsed->stamp.seq) + ", expected " + std::to_string(seq) +
           " (line " + std::to_string(index) + " of the batch)";
  }
  if (parsed->stamp.epoch != origin.epoch) {
    return "epoch: is " + protocol::format_epoch(parsed->stamp.epoch) + ", the batch's is " +
           protocol::format_epoch(origin.epoch);
  }
  return {};
}

/// A dead letter whose data is a whole batch message of `payload_bytes`, perhaps cut: says so.
OutMessage with_payload_size(OutMessage message, std::size_t payload_bytes) {
  message.attributes.emplace_back("payload_bytes", std::to_string(payload_bytes));
  if (message.data.size() < payload_bytes) {
    message.attributes.emplace_back("data_truncated", "true");
  }
  return message;
}

}  // namespace

std::string clip(std::string_view text, std::size_t limit) {
  return std::string(text.substr(0, limit));
}

OutMessage batch_dead_letter(const BatchOrigin& origin, std::string data, std::string_view error) {
  OutMessage message;
  message.data = std::move(data);
  message.attributes = {{"error", clip(error)},
                        {"store_id", origin.store_id},
                        {"till_id", origin.till_id},
                        {"epoch", protocol::format_epoch(origin.epoch)},
                        {"first_seq", std::to_string(origin.first_seq)}};
  message.ordering_key = origin.ordering_key;
  return message;
}

OutMessage unackable_dead_letter(std::string_view error, const std::string& store_id,
                                 const std::string& till_id, const std::string& payload,
                                 std::size_t max_bytes) {
  OutMessage message;
  message.data = payload.substr(0, max_bytes);
  message.attributes = {{"error", clip(error)},
                        {"store_id", store_id},
                        {"till_id", till_id},
                        {"epoch", ""},
                        {"first_seq", ""}};
  if (!store_id.empty()) {
    message.ordering_key = store_id + "/" + till_id;
  }
  return with_payload_size(std::move(message), payload.size());
}

OutMessage poisoned_batch_dead_letter(const BatchOrigin& origin, const std::string& payload,
                                      std::string_view error, std::size_t max_bytes) {
  return with_payload_size(batch_dead_letter(origin, payload.substr(0, max_bytes), error),
                           payload.size());
}

BatchMessages build_batch_messages(const BatchOrigin& origin, const protocol::DecodedBatch& decoded,
                                   std::size_t skip, const protocol::EventLimits& limits,
                                   const std::string& collected_at) {
  const protocol::EventOwner owner{origin.store_id, origin.till_id};
  BatchMessages out;
  const std::size_t count = decoded.lines.size() > skip ? decoded.lines.size() - skip : 0;
  out.events.reserve(count);
  out.digests.reserve(count);
  // Each line's JSON tree lives in a pool on this stack buffer (the heap only for big lines): it
  // is only read here, then dropped with the pool.
  alignas(std::max_align_t) unsigned char scratch[16 * 1024];
  std::vector<SaleLineFacts> fact_lines;
  for (std::size_t i = skip; i < decoded.lines.size(); ++i) {
    const std::string_view line = decoded.lines[i];
    const std::uint64_t seq = decoded.header.first_seq + i;
    boost::json::monotonic_resource pool(scratch, sizeof scratch);
    auto parsed = protocol::parse_payload_line(line, owner, limits, &pool);
    if (std::string error = line_error(parsed, origin, seq, i); !error.empty()) {
      auto message = batch_dead_letter(origin, std::string(line), error);
      message.attributes.emplace_back("seq", std::to_string(seq));
      out.dead_letters.push_back(std::move(message));
      continue;
    }
    OutMessage message;
    message.data = event_data(*parsed, line, collected_at);
    message.attributes = {{"event_id", parsed->event_id},
                          {"event_type", std::string(protocol::to_string(parsed->event.type()))},
                          {"store_id", origin.store_id},
                          {"till_id", origin.till_id},
                          {"schema_version", "1"}};
    message.ordering_key = origin.ordering_key;
    out.events.push_back(std::move(message));
    // The observers' facts, from the tree parsed above (an event they cannot be taken from goes
    // without one: the live view counts it as malformed).
    auto facts = extract_event_facts(parsed->event.fields(), fact_lines,
                                     StampFacts{parsed->event_id, parsed->stamp.store_id,
                                                parsed->stamp.till_id, parsed->stamp.received_at});
    out.digests.push_back(facts ? std::optional<EventDigest>(std::in_place, *facts) : std::nullopt);
  }
  return out;
}

}  // namespace pos::collector
