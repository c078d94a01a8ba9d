#pragma once
// Replayed batches (topic `{prefix}/{store}/{till}/replay`, docs/replay.md): each event is
// published again with the attribute replay="true", whatever the dedup marks say, and the batch is
// answered with a replay ack. Marks are never read or moved here, and the observers (fleet, KPIs,
// stock) are not told: a replay adds no sale and no stock movement.

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "pos/collector/batch_messages.hpp"
#include "pos/collector/ownership.hpp"
#include "pos/collector/sink.hpp"
#include "pos/common/clock.hpp"
#include "pos/common/transport.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::collector {

struct ReplayProcessorOptions {
  std::string topic_prefix = "pos/v1";
  protocol::DecodeLimits limits;
  protocol::EventLimits event_limits;
  /// Replayed batches in the sink at once; more are dropped unacked (the till sends again after
  /// its ack timeout). Replays yield to live traffic: also dropped while the sink holds more
  /// than max_pending_bytes.
  std::size_t max_pending_batches = 16;
  std::size_t max_pending_bytes = std::size_t{64} * 1024 * 1024;
  std::size_t max_dead_letter_bytes = std::size_t{1024} * 1024;
  /// Several collectors: only the till's owner publishes its replay. nullptr: every till.
  const Ownership* ownership = nullptr;
};

struct ReplayStats {
  std::uint64_t batches_received = 0;
  std::uint64_t batches_acked = 0;
  std::uint64_t batches_dropped_busy = 0;
  std::uint64_t batches_not_owned = 0;
  std::uint64_t batches_dead_lettered = 0;  ///< whole batch (poisoned payload)
  std::uint64_t events_published = 0;
  std::uint64_t events_dead_lettered = 0;
  std::uint64_t sink_failures = 0;
  std::uint64_t ack_failures = 0;
};

/// Io executor only; never throws (an unexpected exception is logged and the batch dropped).
class ReplayProcessor {
 public:
  /// `sink`, `transport`, `clock` and the ownership must outlive the processor.
  ReplayProcessor(boost::asio::any_io_executor executor, Sink& sink, common::Transport& transport,
                  const common::Clock& clock, protocol::DictionaryLookup dictionaries,
                  ReplayProcessorOptions options);
  ~ReplayProcessor();
  ReplayProcessor(const ReplayProcessor&) = delete;
  ReplayProcessor& operator=(const ReplayProcessor&) = delete;

  /// One message on a `replay` topic of `topic`'s till.
  void handle_batch(const protocol::TillTopic& topic, const std::string& payload);
  /// Batches in the sink now.
  std::size_t pending_batches() const noexcept { return m_pending; }
  const ReplayStats& stats() const noexcept { return m_stats; }

 private:
  void publish(const BatchOrigin& origin, std::uint64_t through_seq, BatchMessages messages);
  void send_ack(const BatchOrigin& origin, std::uint64_t through_seq);

  boost::asio::any_io_executor m_executor;
  Sink& m_sink;
  common::Transport& m_transport;
  const common::Clock& m_clock;
  ReplayProcessorOptions m_options;
  protocol::BatchDecoder m_decoder;
  std::size_t m_pending = 0;
  ReplayStats m_stats;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace pos::collector
