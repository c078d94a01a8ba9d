#pragma once
// Real batches for emulated tills: a pool of realistic Fastyle POS events (simulator::EventMix,
// validated once at start), stamped per till and seq exactly as the agent stamps them,
// zstd-encoded (optionally with a trained dictionary) by protocol::BatchEncoder.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/batch.hpp"
#include "pos/protocol/dictionary.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/result.hpp"

namespace pos::fleetemu {

/// Builds batch messages for any till. Owns the event pool and one zstd context: use one per
/// thread. The pool is shared by every till (each till starts at its own offset), so a till's
/// pos_event_ids repeat after pool_size events; the collector keys on event_id, which never does.
class BatchSource {
 public:
  /// Builds and validates `pool_size` events from simulator::EventMix(seed). Fails when an event
  /// does not validate (a bug) or `dictionary_file` cannot be loaded.
  static Result<BatchSource> create(std::uint64_t seed, std::size_t pool_size,
                                    const std::string& dictionary_file);

  /// The payload lines of seqs [first_seq, first_seq + count) of this till and epoch, stamped
  /// with `received_at` (RFC 3339). `offset` picks the till's place in the pool.
  std::vector<std::string> lines(std::string_view store_id, std::string_view till_id,
                                 std::uint64_t epoch, std::uint64_t first_seq, std::uint32_t count,
                                 std::uint64_t offset, const std::string& received_at) const;

  /// The encoded batch of those lines (codec zstd, or zstd-dict with a dictionary).
  Result<std::string> batch(std::string_view store_id, std::string_view till_id,
                            std::uint64_t epoch, std::uint64_t first_seq, std::uint32_t count,
                            std::uint64_t offset, const std::string& received_at);

  /// The dictionary's id, 0 without one.
  std::uint32_t dictionary_id() const noexcept;

 private:
  BatchSource(std::vector<protocol::PosEvent> pool, protocol::BatchEncoder encoder,
              std::shared_ptr<const protocol::Dictionary> dictionary);
  std::vector<protocol::PosEvent> m_pool;
  protocol::BatchEncoder m_encoder;
  std::shared_ptr<const protocol::Dictionary> m_dictionary;
};

}  // namespace pos::fleetemu
