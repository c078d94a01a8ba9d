#include "pos/collector/batch_classifier.hpp"

namespace pos::collector {

BatchClassification classify_batch(std::uint64_t first_seq, std::uint64_t count, StreamPositions at,
                                   bool busy) noexcept {
  const std::uint64_t last_seq = first_seq + count - 1;
  if (last_seq <= at.submitted) {
    return {.verdict = BatchVerdict::duplicate, .ack_now = last_seq <= at.committed};
  }
  if (first_seq > at.submitted + 1) {
    return {.verdict = BatchVerdict::gap};
  }
  if (busy) {
    return {.verdict = BatchVerdict::busy};
  }
  const std::uint64_t first_new = at.submitted + 1;
  return {
      .verdict = BatchVerdict::publish, .first_new = first_new, .skipped = first_new - first_seq};
}

}  // namespace pos::collector
