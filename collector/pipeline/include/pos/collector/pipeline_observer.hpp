#pragma once
// The pipeline's observer seam: what the batch processor tells the rest of the collector (the
// fleet view, the live sales view) as it works. The pipeline never depends on its observers;
// they depend on this header. See docs/architecture.md, "Code layout".

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "pos/collector/event_facts.hpp"
#include "pos/protocol/messages.hpp"

namespace pos::collector {

/// Event counts of one batch outcome of a till.
struct TillCounts {
  std::uint64_t published = 0;   ///< events published and acknowledged
  std::uint64_t duplicates = 0;  ///< events at or below the mark
  std::uint64_t rejected = 0;    ///< events dead-lettered
  std::uint64_t gaps = 0;        ///< batches refused for a gap
};

/// Receives what the BatchProcessor did, on its executor, in the order it happened. Every member
/// has an empty default, so an observer overrides what it needs. An exception from an observer is
/// caught, logged and counted by the processor (BatchStats::observer_errors); the pipeline goes on.
class PipelineObserver {
 public:
  virtual ~PipelineObserver() = default;

  /// A till's status message, parsed, received at `now_ms`.
  virtual void on_status(const std::string& /*store_id*/, const std::string& /*till_id*/,
                         const protocol::AgentStatus& /*status*/, std::int64_t /*now_ms*/) {}
  /// A batch message from the till arrived at `now_ms` (before any check).
  virtual void on_batch(const std::string& /*store_id*/, const std::string& /*till_id*/,
                        std::int64_t /*now_ms*/) {}
  /// Event counts of a batch outcome (published ones once their mark is committed).
  virtual void on_counts(const std::string& /*store_id*/, const std::string& /*till_id*/,
                         const TillCounts& /*counts*/) {}
  /// The till started a new epoch (a batch of an epoch without a mark), admitted at `now_ms`.
  virtual void on_new_epoch(const std::string& /*store_id*/, const std::string& /*till_id*/,
                            std::uint64_t /*epoch*/, std::int64_t /*now_ms*/) {}
  /// A batch of a new epoch was refused: the till is at max_epochs_per_till.
  virtual void on_epoch_refused(const std::string& /*store_id*/, const std::string& /*till_id*/) {}
  /// An ack to the till was queued at `now_ms`.
  virtual void on_ack(const std::string& /*store_id*/, const std::string& /*till_id*/,
                      std::int64_t /*now_ms*/) {}
  /// The sink accepted one call of events (Pub/Sub returned their ids), given in publish order
  /// with what the pipeline read of each while validating it; nullopt for an event whose facts
  /// could not be read. Called before the batch's mark is committed.
  virtual void on_events_published(std::span<const std::optional<EventDigest>> /*digests*/) {}
};

}  // namespace pos::collector
