#include "pos/fleetemu/batch_source.hpp"

#include <utility>

#include "pos/protocol/ids.hpp"
#include "pos/simulator/event_mix.hpp"

namespace pos::fleetemu {

BatchSource::BatchSource(std::vector<protocol::PosEvent> pool, protocol::BatchEncoder encoder,
                         std::shared_ptr<const protocol::Dictionary> dictionary)
    : m_pool(std::move(pool)), m_encoder(std::move(encoder)), m_dictionary(std::move(dictionary)) {}

Result<BatchSource> BatchSource::create(std::uint64_t seed, std::size_t pool_size,
                                        const std::string& dictionary_file) {
  std::shared_ptr<const protocol::Dictionary> dictionary;
  if (!dictionary_file.empty()) {
    auto loaded = protocol::Dictionary::load_file(dictionary_file);
    if (!loaded) {
      return fail("--dictionary: " + loaded.error().message);
    }
    dictionary = std::move(*loaded);
  }
  simulator::EventMix mix(seed);
  std::vector<protocol::PosEvent> pool;
  pool.reserve(pool_size == 0 ? 1 : pool_size);
  for (std::size_t i = 0; i < std::max<std::size_t>(pool_size, 1); ++i) {
    const auto text = mix.next_event();
    auto event = protocol::parse_pos_event(text);
    if (!event) {
      return fail("event mix: " + event.error().message + ": " + text);
    }
    pool.push_back(std::move(*event));
  }
  return BatchSource(std::move(pool), protocol::BatchEncoder(3, dictionary), dictionary);
}

std::vector<std::string> BatchSource::lines(std::string_view store_id, std::string_view till_id,
                                            std::uint64_t epoch, std::uint64_t first_seq,
                                            std::uint32_t count, std::uint64_t offset,
                                            const std::string& received_at) const {
  std::vector<std::string> out;
  out.reserve(count);
  protocol::AgentStamp stamp{std::string(store_id), std::string(till_id), epoch, 0, received_at};
  for (std::uint32_t i = 0; i < count; ++i) {
    stamp.seq = first_seq + i;
    const auto& event = m_pool[(offset + stamp.seq) % m_pool.size()];
    out.push_back(protocol::make_payload_line(event, stamp));
  }
  return out;
}

Result<std::string> BatchSource::batch(std::string_view store_id, std::string_view till_id,
                                       std::uint64_t epoch, std::uint64_t first_seq,
                                       std::uint32_t count, std::uint64_t offset,
                                       const std::string& received_at) {
  const auto payload = lines(store_id, till_id, epoch, first_seq, count, offset, received_at);
  return m_encoder.encode(epoch, first_seq, payload);
}

std::uint32_t BatchSource::dictionary_id() const noexcept {
  return m_dictionary ? m_dictionary->id() : 0;
}

}  // namespace pos::fleetemu
