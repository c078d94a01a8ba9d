#pragma once
// The decision at the heart of exactly-once: what to do with a batch given its stream's marks.
// Pure, so the whole table is tested (tests/unit/collector/batch_classifier_test.cpp).

#include <cstdint>

namespace pos::collector {

/// What happens to an arriving batch.
enum class BatchVerdict {
  duplicate,  ///< every event at or below `submitted`: nothing is published
  gap,        ///< starts past submitted + 1: not published, not acked (the agent resends)
  busy,       ///< flow control: not published, not acked
  publish,    ///< publish the events from `first_new` on
};

/// A stream's positions: `committed` is the durable mark, `submitted` the highest seq handed to
/// the sink (never below `committed`).
struct StreamPositions {
  std::uint64_t committed = 0;
  std::uint64_t submitted = 0;
};

struct BatchClassification {
  BatchVerdict verdict = BatchVerdict::gap;
  /// duplicate: the batch is wholly at or below `committed`, so the mark can be acked now (else
  /// the ack of the batch still in flight will cover it).
  bool ack_now = false;
  std::uint64_t first_new = 0;  ///< publish: the first seq to publish
  std::uint64_t skipped = 0;    ///< publish: leading events already submitted (duplicates)
};

/// Classifies the batch [first_seq, first_seq + count - 1] (count >= 1) of a stream at `at`.
/// `busy`: the pipeline is over its pending limits. The checks run in this order: duplicate, gap,
/// busy, publish (a duplicate is answered even when busy). Never fails.
BatchClassification classify_batch(std::uint64_t first_seq, std::uint64_t count, StreamPositions at,
                                   bool busy) noexcept;

}  // namespace pos::collector
