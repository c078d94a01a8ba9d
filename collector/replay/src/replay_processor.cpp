#include "pos/collector/replay_processor.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <span>

#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"

namespace pos::collector {
namespace {

void mark_replayed(std::vector<OutMessage>& messages) {
  for (auto& m : messages) {
    m.attributes.emplace_back("replay", "true");
  }
}

std::span<const std::uint8_t> bytes_of(const std::string& payload) {
  return {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()};
}

}  // namespace

ReplayProcessor::ReplayProcessor(boost::asio::any_io_executor executor, Sink& sink,
                                 common::Transport& transport, const common::Clock& clock,
                                 protocol::DictionaryLookup dictionaries,
                                 ReplayProcessorOptions options)
    : m_executor(std::move(executor)),
      m_sink(sink),
      m_transport(transport),
      m_clock(clock),
      m_options(std::move(options)),
      m_decoder(m_options.limits, std::move(dictionaries)) {}

ReplayProcessor::~ReplayProcessor() {
  *m_alive = false;
}

void ReplayProcessor::handle_batch(const protocol::TillTopic& topic, const std::string& payload) {
  try {
    ++m_stats.batches_received;
    if (m_options.ownership != nullptr &&
        !m_options.ownership->fence_for(topic.store_id, topic.till_id)) {
      ++m_stats.batches_not_owned;
      return;
    }
    if (m_pending >= m_options.max_pending_batches ||
        m_sink.pending_bytes() > m_options.max_pending_bytes) {
      ++m_stats.batches_dropped_busy;
      return;
    }
    auto header = protocol::decode_batch_header(bytes_of(payload), m_options.limits);
    if (!header) {
      // Without a header there is nothing to acknowledge: the till sends it again and again,
      // which the dead-letter topic shows.
      ++m_stats.batches_dead_lettered;
      spdlog::warn("replay from {}/{}: bad batch: {}", topic.store_id, topic.till_id,
                   header.error().message);
      BatchMessages messages;
      messages.dead_letters.push_back(unackable_dead_letter(header.error().message, topic.store_id,
                                                            topic.till_id, payload,
                                                            m_options.max_dead_letter_bytes));
      mark_replayed(messages.dead_letters);
      m_sink.publish(Destination::dead_letter, std::move(messages.dead_letters),
                     [](const Status&) {});
      return;
    }
    const BatchOrigin origin{topic.store_id, topic.till_id, header->epoch, header->first_seq,
                             topic.store_id + '/' + topic.till_id};
    const std::uint64_t through_seq = header->first_seq + header->count - 1;
    BatchMessages messages;
    auto decoded = m_decoder.decode(payload);
    if (decoded) {
      messages = build_batch_messages(origin, *decoded, 0, m_options.event_limits,
                                      protocol::format_rfc3339_utc_ms(m_clock.now_unix_ms()));
    } else {
      ++m_stats.batches_dead_lettered;
      spdlog::warn("replay from {}/{}: dead-lettering the batch at {}: {}", topic.store_id,
                   topic.till_id, header->first_seq, decoded.error().message);
      messages.dead_letters.push_back(poisoned_batch_dead_letter(
          origin, payload, decoded.error().message, m_options.max_dead_letter_bytes));
    }
    messages.digests.clear();
    mark_replayed(messages.events);
    mark_replayed(messages.dead_letters);
    publish(origin, through_seq, std::move(messages));
  } catch (const std::exception& e) {
    spdlog::error("replay from {}/{}: dropped: {}", topic.store_id, topic.till_id, e.what());
  }
}

void ReplayProcessor::publish(const BatchOrigin& origin, std::uint64_t through_seq,
                              BatchMessages messages) {
  ++m_pending;
  const std::uint64_t events = messages.events.size();
  const std::uint64_t dead = messages.dead_letters.size();
  auto dead_letters = std::make_shared<std::vector<OutMessage>>(std::move(messages.dead_letters));
  auto after_events = [this, alive = std::weak_ptr<bool>(m_alive), origin, through_seq, events,
                       dead, dead_letters](const Status& status) {
    if (!alive.lock()) {
      return;
    }
    if (!status) {
      --m_pending;
      ++m_stats.sink_failures;
      spdlog::error("replay from {}/{}: publish failed: {}", origin.store_id, origin.till_id,
                    status.error().message);
      return;
    }
    m_stats.events_published += events;
    auto finish = [this, alive, origin, through_seq, dead](const Status& s) {
      if (!alive.lock()) {
        return;
      }
      --m_pending;
      if (!s) {
        ++m_stats.sink_failures;
        spdlog::error("replay from {}/{}: dead letters failed: {}", origin.store_id, origin.till_id,
                      s.error().message);
        return;
      }
      m_stats.events_dead_lettered += dead;
      send_ack(origin, through_seq);
    };
    if (dead_letters->empty()) {
      finish(Status{});
    } else {
      m_sink.publish(Destination::dead_letter, std::move(*dead_letters), finish);
    }
  };
  if (messages.events.empty()) {
    after_events(Status{});
  } else {
    m_sink.publish(Destination::events, std::move(messages.events), after_events);
  }
}

void ReplayProcessor::send_ack(const BatchOrigin& origin, std::uint64_t through_seq) {
  auto topic = protocol::make_topic(m_options.topic_prefix, origin.store_id, origin.till_id,
                                    protocol::TopicKind::ack);
  if (!topic) {
    return;
  }
  protocol::Ack ack{origin.epoch, through_seq};
  ack.replay = true;
  ++m_stats.batches_acked;
  m_transport.publish(std::move(*topic), protocol::encode_ack(ack), false,
                      [this, alive = std::weak_ptr<bool>(m_alive)](const Status& status) {
                        if (alive.lock() && !status) {
                          ++m_stats.ack_failures;
                        }
                      });
}

}  // namespace pos::collector
