#pragma once
// What the Forwarder (the live stream) and the Replayer (replays) both send batches with.

#include <cstddef>
#include <string>

namespace pos::agent {

/// The till a batch comes from, the topic prefix it is sent under and the size of a batch.
struct TillBatchOptions {
  std::string store_id;
  std::string till_id;
  std::string topic_prefix = "pos/v1";
  std::size_t batch_max_events = 1000;
  std::size_t batch_max_bytes = std::size_t{1024} * 1024;  ///< raw payload bytes per batch
};

}  // namespace pos::agent
