// BatchProcessor design.
//
// Per stream (store, till, epoch): `committed` is the durable mark, `committing` the highest seq
// handed to the MarkStore, `submitted` the highest seq handed to the sink. Arrivals are classified
// against `submitted`: wholly at or below it is a duplicate (acked at once when also at or below
// `committed`, otherwise the pending ack covers it); starting past submitted + 1 is a gap (dropped,
// no ack); else the new tail is published. `pending` holds submitted batches in seq order; a batch
// is done when its sink calls (events and/or dead letters) completed. Done batches leave the front
// in order into MarkStore::commit, whose completions arrive in order and send the acks, so acks
// never skip ahead of a batch that is still in the sink. A permanent sink error drops the failed
// batch and every later one of the stream and resets `submitted` to what remains before it. The
// agent's go-back-N resends what was dropped.
//
// A commit error (disk full, I/O error) leaves batches published but not durable. Resetting the
// stream would publish every resend again, so instead the failed mark is kept (m_failed_commits)
// and committed again with backoff, and intake pauses: every batch is dropped (no publish, no
// ack) until a commit succeeds and no failed mark is left. The streams keep their `submitted`, so
// after the pause a resend of what was published is a duplicate.

#include "pos/collector/batch_processor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>
#include <exception>
#include <limits>
#include <tuple>

#include "pos/collector/batch_classifier.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::collector {

struct BatchProcessor::Pending {
  std::uint64_t id = 0;
  std::uint64_t through_seq = 0;
  int calls_left = 0;
  bool failed = false;
  std::string error;
  std::uint64_t published = 0;  ///< events in the events call
  std::uint64_t rejected = 0;   ///< events dead-lettered
  std::chrono::steady_clock::time_point started;
  /// The facts of the events call, for the observers once it succeeds; released then or when
  /// the batch is dropped.
  std::vector<std::optional<EventDigest>> digests;
  std::size_t digest_bytes = 0;
};

struct BatchProcessor::Stream {
  MarkKey key;
  std::string ordering_key;
  std::uint64_t committed = 0;
  std::uint64_t committing = 0;
  std::uint64_t submitted = 0;
  std::uint64_t acked = 0;
  std::size_t commits_outstanding = 0;
  std::deque<Pending> pending;
};

BatchProcessor::BatchProcessor(boost::asio::any_io_executor executor, Sink& sink, Marks& marks,
                               common::Transport& transport,
                               std::vector<PipelineObserver*> observers, const common::Clock& clock,
                               protocol::DictionaryLookup dictionaries,
                               BatchProcessorOptions options)
    : m_executor(std::move(executor)),
      m_sink(sink),
      m_marks(marks),
      m_transport(transport),
      m_observers(std::move(observers)),
      m_clock(clock),
      m_options(std::move(options)),
      m_decoder(m_options.limits, std::move(dictionaries)),
      m_ack_retry_timer(m_executor),
      m_commit_retry_timer(m_executor),
      m_commit_backoff(m_options.commit_retry_initial, m_options.commit_retry_max) {}

BatchProcessor::~BatchProcessor() {
  *m_alive = false;
}

template <class Call>
void BatchProcessor::notify(const Call& call) {
  for (PipelineObserver* observer : m_observers) {
    try {
      call(*observer);
    } catch (const std::exception& e) {
      ++m_stats.observer_errors;
      spdlog::error("pipeline observer failed: {}", e.what());
    }
  }
}

void BatchProcessor::record_reported_ack(const std::string& store_id, const std::string& till_id,
                                         std::uint64_t epoch, std::uint64_t acked_through) {
  std::string till;
  till.append(store_id).append("/").append(till_id);
  auto it = m_reported.find(till);
  if (it == m_reported.end()) {
    if (m_reported.size() >= m_options.max_streams) {
      return;
    }
    it = m_reported.emplace(std::move(till), ReportedAck{epoch, 0}).first;
  }
  ReportedAck& reported = it->second;
  if (reported.epoch != epoch) {
    reported = ReportedAck{epoch, 0};
  }
  // Statuses may arrive out of order (retained copy after a live one); acks only grow.
  reported.acked_through = std::max(reported.acked_through, acked_through);
}

void BatchProcessor::handle_message(common::TransportMessage message) {
  try {
    auto topic = protocol::parse_topic(m_options.topic_prefix, message.topic);
    if (!topic) {
      if (message.topic.ends_with("/status")) {
        ++m_stats.status_invalid;
        spdlog::debug("ignoring status on {}: {}", message.topic, topic.error().message);
        return;
      }
      ++m_stats.batches_received;
      if (m_intake_stopped) {
        ++m_stats.batches_dropped_stopping;
        return;
      }
      dead_letter_unackable("topic " + clip(message.topic, 256) + ": " + topic.error().message, "",
                            "", message.payload);
      return;
    }
    switch (topic->kind) {
      case protocol::TopicKind::batch:
        handle_batch(*topic, message.payload);
        return;
      case protocol::TopicKind::status:
        handle_status(*topic, message.payload);
        return;
      case protocol::TopicKind::ack:
      case protocol::TopicKind::replay:  // ReplayProcessor's (docs/replay.md)
      case protocol::TopicKind::cmd:
        return;
    }
  } catch (const std::exception& e) {
    ++m_stats.handler_errors;
    spdlog::error("unexpected error handling a message on {}: {}", message.topic, e.what());
  }
}

void BatchProcessor::handle_status(const protocol::TillTopic& topic, const std::string& payload) {
  if (payload.empty()) {
    return;  // a cleared retained status
  }
  auto status = protocol::parse_status(payload);
  if (!status) {
    ++m_stats.status_invalid;
    spdlog::debug("bad status from {}/{}: {}", topic.store_id, topic.till_id,
                  status.error().message);
    return;
  }
  ++m_stats.status_received;
  // The last will carries only the state: it reports no acknowledgement.
  const bool last_will =
      status->state == protocol::AgentState::offline && status->agent_version.empty();
  if (!last_will && status->epoch && status->acked_through) {
    record_reported_ack(topic.store_id, topic.till_id, *status->epoch, *status->acked_through);
  }
  const std::int64_t now_ms = m_clock.now_unix_ms();
  notify([&](PipelineObserver& o) { o.on_status(topic.store_id, topic.till_id, *status, now_ms); });
}

void BatchProcessor::dead_letter_unackable(const std::string& error, const std::string& store_id,
                                           const std::string& till_id, const std::string& payload) {
  ++m_stats.batches_invalid;
  spdlog::warn("dead-lettering a batch that cannot be acknowledged ({}/{}): {}", store_id, till_id,
               error);
  std::vector<OutMessage> messages;
  messages.push_back(
      unackable_dead_letter(error, store_id, till_id, payload, m_options.max_dead_letter_bytes));
  m_sink.publish(Destination::dead_letter, std::move(messages), [](const Status& status) {
    if (!status) {
      spdlog::error("dead letter not published: {}", status.error().message);
    }
  });
}

BatchProcessor::Stream& BatchProcessor::stream_for(const MarkKey& key) {
  auto it = m_streams.find(key);
  if (it == m_streams.end()) {
    trim_streams();
    auto stream = std::make_unique<Stream>();
    stream->key = key;
    stream->ordering_key = key.store_id + "/" + key.till_id;
    stream->committed = m_marks.mark(key);
    stream->committing = stream->committed;
    stream->submitted = stream->committed;
    stream->acked = 0;
    it = m_streams.emplace(key, std::move(stream)).first;
  }
  return *it->second;
}

void BatchProcessor::adopt_reported_mark(Stream& stream, std::uint64_t first_seq) {
  if (first_seq <= stream.submitted + 1 || !stream.pending.empty() ||
      stream.commits_outstanding != 0) {
    return;
  }
  const auto it = m_reported.find(stream.ordering_key);
  if (it == m_reported.end() || it->second.epoch != stream.key.epoch) {
    return;
  }
  const std::uint64_t reported = it->second.acked_through;
  if (reported <= stream.submitted || reported + 1 < first_seq) {
    return;
  }
  spdlog::warn(
      "{}/{} epoch {}: mark {} is behind the till's acknowledged seq {} (collector.db "
      "lost, restored from a backup, or written by another collector): adopting {}",
      stream.key.store_id, stream.key.till_id, protocol::format_epoch(stream.key.epoch),
      stream.submitted, reported, reported);
  ++m_stats.marks_adopted;
  stream.committed = stream.committing = stream.submitted = reported;
}

void BatchProcessor::trim_streams() {
  if (m_streams.size() < m_options.max_streams) {
    return;
  }
  std::erase_if(m_streams, [this](const auto& entry) {
    const Stream& s = *entry.second;
    return s.pending.empty() && s.commits_outstanding == 0 && !m_failed_commits.contains(s.key);
  });
}

std::vector<BatchProcessor::EpochUse>& BatchProcessor::epochs_of(const std::string& store_id,
                                                                 const std::string& till_id) {
  std::string till;
  till.append(store_id).append("/").append(till_id);
  auto [it, inserted] = m_till_epochs.try_emplace(std::move(till));
  if (inserted) {
    for (const EpochMark& mark : m_marks.epochs(store_id, till_id)) {
      it->second.push_back(EpochUse{mark.epoch, mark.updated_ms});
    }
  }
  return it->second;
}

bool BatchProcessor::epoch_busy(const MarkKey& key) const {
  if (m_failed_commits.contains(key)) {
    return true;
  }
  const auto it = m_streams.find(key);
  return it != m_streams.end() &&
         (!it->second->pending.empty() || it->second->commits_outstanding != 0);
}

void BatchProcessor::forget_epochs(std::vector<MarkKey> keys) {
  for (const auto& key : keys) {
    if (const std::uint64_t mark = m_marks.mark(key); mark != 0) {
      spdlog::info(
          "{}/{} epoch {}: mark {} deleted, no batch within the retention of {} h", key.store_id,
          key.till_id, protocol::format_epoch(key.epoch), mark,
          std::chrono::duration_cast<std::chrono::hours>(m_options.epoch_retention).count());
    } else {
      spdlog::debug("{}/{} epoch {}: forgotten (never committed)", key.store_id, key.till_id,
                    protocol::format_epoch(key.epoch));
    }
    m_streams.erase(key);
    auto& uses = epochs_of(key.store_id, key.till_id);
    std::erase_if(uses, [&](const EpochUse& use) { return use.epoch == key.epoch; });
  }
  m_stats.epochs_pruned += keys.size();
  std::erase_if(keys, [this](const MarkKey& key) { return m_marks.mark(key) == 0; });
  if (!keys.empty()) {
    m_marks.forget(std::move(keys));
  }
}

bool BatchProcessor::admit_epoch(const protocol::TillTopic& topic, std::uint64_t epoch,
                                 std::int64_t now_ms) {
  auto& uses = epochs_of(topic.store_id, topic.till_id);
  for (auto& use : uses) {
    if (use.epoch == epoch) {
      use.last_ms = std::max(use.last_ms, now_ms);
      return true;
    }
  }
  if (uses.size() >= m_options.max_epochs_per_till) {
    // Make room: first epochs that never got a mark (nothing of them is in Pub/Sub unacked: they
    // hold no state worth keeping), then the least recently active ones idle past the retention.
    const std::int64_t cutoff =
        now_ms -
        std::chrono::duration_cast<std::chrono::milliseconds>(m_options.epoch_retention).count();
    std::vector<std::pair<bool, EpochUse>> idle;  // (has a mark, use)
    for (const auto& use : uses) {
      const MarkKey key{topic.store_id, topic.till_id, use.epoch};
      const bool marked = m_marks.mark(key) != 0;
      if ((!marked || use.last_ms < cutoff) && !epoch_busy(key)) {
        idle.emplace_back(marked, use);
      }
    }
    std::ranges::sort(idle, [](const auto& x, const auto& y) {
      return std::tie(x.first, x.second.last_ms) < std::tie(y.first, y.second.last_ms);
    });
    const std::size_t excess = uses.size() - m_options.max_epochs_per_till + 1;
    std::vector<MarkKey> prune;
    for (std::size_t i = 0; i < idle.size() && i < excess; ++i) {
      prune.push_back(MarkKey{topic.store_id, topic.till_id, idle[i].second.epoch});
    }
    forget_epochs(std::move(prune));
  }
  auto& room = epochs_of(topic.store_id, topic.till_id);
  if (room.size() >= m_options.max_epochs_per_till) {
    ++m_stats.batches_epoch_refused;
    notify([&](PipelineObserver& o) { o.on_epoch_refused(topic.store_id, topic.till_id); });
    if (now_ms - m_last_refusal_log_ms >= 60'000) {
      m_last_refusal_log_ms = now_ms;
      spdlog::warn(
          "{}/{}: refusing a batch of a new epoch {} (not published, not acknowledged): the till "
          "has {} epochs (marks.max_epochs_per_till) and none idle for longer than the "
          "retention; {} refused in all",
          topic.store_id, topic.till_id, protocol::format_epoch(epoch), room.size(),
          m_stats.batches_epoch_refused);
    }
    return false;
  }
  room.push_back(EpochUse{epoch, now_ms});
  ++m_stats.new_epochs;
  notify(
      [&](PipelineObserver& o) { o.on_new_epoch(topic.store_id, topic.till_id, epoch, now_ms); });
  if (room.size() > 1) {
    spdlog::warn(
        "{}/{}: new epoch {} ({} epochs kept for this till): a new database on the till "
        "(reinstalled, or a restored disk detected by the agent)",
        topic.store_id, topic.till_id, protocol::format_epoch(epoch), room.size());
  }
  return true;
}

bool BatchProcessor::admit_owner(const protocol::TillTopic& topic) {
  const auto fence = m_options.ownership->fence_for(topic.store_id, topic.till_id);
  if (!fence) {
    ++m_stats.batches_not_owned;
    return false;
  }
  std::string till;
  till.append(topic.store_id).append("/").append(topic.till_id);
  const auto it = m_tenure.find(till);
  if (it != m_tenure.end() && it->second == fence->token) {
    return true;
  }
  // The first batch under this lease: what is held of the till may be stale (another collector
  // may have published and committed since), so its streams start again from the marks, which
  // the LeaseManager refreshed from the shared database before it admitted the partition. Work
  // still in flight from an earlier lease must finish first.
  const auto of_till = [&](const MarkKey& key) {
    return key.store_id == topic.store_id && key.till_id == topic.till_id;
  };
  for (const auto& [key, stream] : m_streams) {
    if (of_till(key) && epoch_busy(key)) {
      ++m_stats.batches_dropped_busy;
      return false;
    }
  }
  std::erase_if(m_streams, [&](const auto& entry) { return of_till(entry.first); });
  m_till_epochs.erase(till);
  if (it == m_tenure.end() && m_tenure.size() >= m_options.max_streams) {
    m_tenure.clear();  // every till starts again from the marks at its next batch
  }
  m_tenure[till] = fence->token;
  return true;
}

bool BatchProcessor::partition_busy(std::uint32_t partition) const {
  for (const auto& [key, stream] : m_streams) {
    if ((!stream->pending.empty() || stream->commits_outstanding != 0) &&
        partition_of(key.store_id, key.till_id) == partition) {
      return true;
    }
  }
  return std::ranges::any_of(m_failed_commits, [partition](const auto& entry) {
    return partition_of(entry.first.store_id, entry.first.till_id) == partition;
  });
}

void BatchProcessor::request_resend(const StoredMark& mark) {
  auto topic = protocol::make_topic(m_options.topic_prefix, mark.key.store_id, mark.key.till_id,
                                    protocol::TopicKind::ack);
  if (!topic) {
    return;
  }
  ++m_stats.resends_requested;
  protocol::Ack ack{mark.key.epoch, mark.through_seq};
  ack.resend = true;
  m_transport.publish(std::move(*topic), protocol::encode_ack(ack), false,
                      [store = mark.key.store_id, till = mark.key.till_id](const Status& status) {
                        if (!status) {
                          spdlog::debug("resend request to {}/{} not delivered: {}", store, till,
                                        status.error().message);
                        }
                      });
}

std::size_t BatchProcessor::prune_idle_epochs() {
  ++m_stats.prune_passes;
  const std::int64_t now_ms = m_clock.now_unix_ms();
  const std::int64_t cutoff =
      now_ms -
      std::chrono::duration_cast<std::chrono::milliseconds>(m_options.epoch_retention).count();
  std::vector<MarkKey> prune;
  for (auto& key : m_marks.committed_before(cutoff)) {
    if (epoch_busy(key) || (m_options.ownership != nullptr &&
                            !m_options.ownership->fence_for(key.store_id, key.till_id))) {
      continue;  // in use, or another collector's till
    }
    const auto& uses = epochs_of(key.store_id, key.till_id);
    const auto self = std::ranges::find(uses, key.epoch, &EpochUse::epoch);
    const auto newest = std::ranges::max_element(uses, {}, &EpochUse::last_ms);
    if (self == uses.end() || self->last_ms >= cutoff || self == newest) {
      continue;  // used since its last commit, or the till's newest epoch
    }
    prune.push_back(std::move(key));
  }
  const std::size_t pruned = prune.size();
  forget_epochs(std::move(prune));
  return pruned;
}

void BatchProcessor::handle_batch(const protocol::TillTopic& topic, const std::string& payload) {
  ++m_stats.batches_received;
  if (m_intake_stopped) {
    ++m_stats.batches_dropped_stopping;
    return;
  }
  if (m_options.ownership != nullptr && !admit_owner(topic)) {
    return;
  }
  const std::int64_t now_ms = m_clock.now_unix_ms();
  notify([&](PipelineObserver& o) { o.on_batch(topic.store_id, topic.till_id, now_ms); });
  if (m_commits_paused) {
    ++m_stats.batches_dropped_paused;
    return;
  }
  const auto bytes =
      std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());

  // A header that is well formed but over a size limit still names its seqs: such a batch is
  // dead-lettered and acked like a corrupt one. The count limit is never relaxed: acking an
  // absurd seq range would make a broken till's later events look like duplicates.
  std::optional<std::string> poison;
  auto header = protocol::decode_batch_header(bytes, m_options.limits);
  if (!header) {
    protocol::DecodeLimits relaxed = m_options.limits;
    relaxed.max_encoded_bytes = std::numeric_limits<std::size_t>::max();
    relaxed.max_raw_bytes = std::numeric_limits<std::size_t>::max();
    auto salvaged = protocol::decode_batch_header(
        bytes.first(std::min(bytes.size(), protocol::batch_header_size)), relaxed);
    if (!salvaged || payload.size() < protocol::batch_header_size) {
      dead_letter_unackable(header.error().message, topic.store_id, topic.till_id, payload);
      return;
    }
    poison = header.error().message;
    header = std::move(salvaged);
  }
  const protocol::BatchHeader& h = *header;
  if (!admit_epoch(topic, h.epoch, now_ms)) {
    return;
  }
  const std::uint64_t last_seq = h.first_seq + h.count - 1;
  Stream& stream = stream_for(MarkKey{topic.store_id, topic.till_id, h.epoch});
  adopt_reported_mark(stream, h.first_seq);

  const bool busy = m_pending_total >= m_options.max_pending_batches ||
                    m_sink.pending_bytes() + m_digest_bytes > m_options.max_pending_bytes;
  const BatchClassification verdict =
      classify_batch(h.first_seq, h.count, {stream.committed, stream.submitted}, busy);
  switch (verdict.verdict) {
    case BatchVerdict::duplicate:
      ++m_stats.batches_duplicate;
      m_stats.events_duplicate += h.count;
      notify([&](PipelineObserver& o) {
        o.on_counts(topic.store_id, topic.till_id, TillCounts{.duplicates = h.count});
      });
      if (verdict.ack_now) {
        send_ack(stream.key, stream.committed);
      }
      return;
    case BatchVerdict::gap:
      ++m_stats.batches_gap;
      notify([&](PipelineObserver& o) {
        o.on_counts(topic.store_id, topic.till_id, TillCounts{.gaps = 1});
      });
      spdlog::info("gap from {}/{} epoch {}: batch starts at {}, have through {}", topic.store_id,
                   topic.till_id, protocol::format_epoch(h.epoch), h.first_seq, stream.submitted);
      return;
    case BatchVerdict::busy:
      ++m_stats.batches_dropped_busy;
      return;
    case BatchVerdict::publish:
      break;
  }
  if (verdict.skipped > 0) {
    m_stats.events_duplicate += verdict.skipped;
    notify([&](PipelineObserver& o) {
      o.on_counts(topic.store_id, topic.till_id, TillCounts{.duplicates = verdict.skipped});
    });
  }
  const BatchOrigin origin{topic.store_id, topic.till_id, h.epoch, h.first_seq,
                           stream.ordering_key};
  if (!poison) {
    auto decoded = m_decoder.decode(bytes);
    if (decoded) {
      publish_decoded(stream, origin, *decoded, verdict.skipped, payload.size(), now_ms);
      return;
    }
    poison = decoded.error().message;
  }
  ++m_stats.batches_dead_lettered;
  spdlog::warn("{}/{} epoch {}: dead-lettering the batch at {} ({} events): {}", topic.store_id,
               topic.till_id, protocol::format_epoch(h.epoch), h.first_seq, h.count, *poison);
  BatchMessages messages;
  messages.dead_letters.push_back(
      poisoned_batch_dead_letter(origin, payload, *poison, m_options.max_dead_letter_bytes));
  submit(stream, last_seq, std::move(messages), last_seq - verdict.first_new + 1);
}

void BatchProcessor::publish_decoded(Stream& stream, const BatchOrigin& origin,
                                     const protocol::DecodedBatch& decoded, std::uint64_t skipped,
                                     std::size_t encoded_bytes, std::int64_t now_ms) {
  const protocol::BatchHeader& h = decoded.header;
  m_stats.bytes_encoded += encoded_bytes;
  m_stats.bytes_raw += h.raw_len;
  m_stats.batch_events += h.count;
  ++m_stats.events_per_batch_counts[static_cast<std::size_t>(
      std::ranges::lower_bound(events_per_batch_buckets, h.count) -
      events_per_batch_buckets.begin())];
  BatchMessages messages = build_batch_messages(origin, decoded, skipped, m_options.event_limits,
                                                protocol::format_rfc3339_utc_ms(now_ms));
  const std::uint64_t rejected = messages.dead_letters.size();
  if (rejected > 0) {
    spdlog::warn("{}/{} epoch {}: {} event(s) of the batch at {} dead-lettered (first: {})",
                 origin.store_id, origin.till_id, protocol::format_epoch(h.epoch), rejected,
                 h.first_seq, messages.dead_letters.front().attributes.front().second);
  }
  submit(stream, h.first_seq + h.count - 1, std::move(messages), rejected);
}

void BatchProcessor::submit(Stream& stream, std::uint64_t through_seq, BatchMessages messages,
                            std::uint64_t rejected_events) {
  auto& events = messages.events;
  auto& dead_letters = messages.dead_letters;
  Pending pending;
  pending.id = m_next_id++;
  pending.through_seq = through_seq;
  pending.published = events.size();
  pending.rejected = rejected_events;
  pending.started = m_clock.now_steady();
  pending.calls_left = (events.empty() ? 0 : 1) + (dead_letters.empty() ? 0 : 1);
  for (const auto& digest : messages.digests) {
    pending.digest_bytes += digest ? digest->bytes() : sizeof(digest);
  }
  pending.digests = std::move(messages.digests);
  m_digest_bytes += pending.digest_bytes;
  const std::uint64_t id = pending.id;
  const bool nothing_to_publish = pending.calls_left == 0;
  stream.submitted = through_seq;
  stream.pending.push_back(std::move(pending));
  ++m_pending_total;

  const MarkKey key = stream.key;
  auto completion = [this, alive = std::weak_ptr<bool>(m_alive), key, id](bool events_call) {
    return [this, alive, key, id, events_call](const Status& status) {
      if (alive.expired()) {
        return;
      }
      try {
        on_published(key, id, events_call, status);
      } catch (const std::exception& e) {
        ++m_stats.handler_errors;
        spdlog::error("unexpected error after a publish: {}", e.what());
      }
    };
  };
  if (nothing_to_publish) {
    boost::asio::post(m_executor, [done = completion(false)] { done(Status{}); });
    return;
  }
  // Dead letters first: when they fail permanently, the events are not acked either.
  if (!dead_letters.empty()) {
    m_sink.publish(Destination::dead_letter, std::move(dead_letters), completion(false));
  }
  if (!events.empty()) {
    m_sink.publish(Destination::events, std::move(events), completion(true));
  }
}

void BatchProcessor::release_digests(Pending& pending) {
  m_digest_bytes -= pending.digest_bytes;
  pending.digest_bytes = 0;
  pending.digests = {};
}

void BatchProcessor::on_published(const MarkKey& key, std::uint64_t id, bool events_call,
                                  const Status& status) {
  auto it = m_streams.find(key);
  if (it == m_streams.end()) {
    return;
  }
  Stream& stream = *it->second;
  auto pending = std::find_if(stream.pending.begin(), stream.pending.end(),
                              [id](const Pending& p) { return p.id == id; });
  if (pending == stream.pending.end()) {
    return;  // dropped by an earlier failure
  }
  if (status && events_call) {
    notify([&](PipelineObserver& o) { o.on_events_published(pending->digests); });
    release_digests(*pending);
  }
  if (pending->calls_left > 0) {
    --pending->calls_left;
  }
  if (!status) {
    ++m_stats.sink_failures;
    const std::uint64_t reset_to =
        pending == stream.pending.begin() ? stream.committing : std::prev(pending)->through_seq;
    const auto dropped = static_cast<std::size_t>(std::distance(pending, stream.pending.end()));
    spdlog::error(
        "{}/{} epoch {}: publish failed, not acknowledging seqs {}..{} ({} batch(es)); the agent "
        "will resend: {}",
        key.store_id, key.till_id, protocol::format_epoch(key.epoch), reset_to + 1,
        stream.pending.back().through_seq, dropped, status.error().message);
    for (auto dropping = pending; dropping != stream.pending.end(); ++dropping) {
      release_digests(*dropping);
    }
    stream.pending.erase(pending, stream.pending.end());
    m_pending_total -= dropped;
    stream.submitted = reset_to;
    check_idle();
    return;
  }
  if (pending->calls_left == 0) {
    observe_latency(m_clock.now_steady() - pending->started);
  }
  advance(stream);
}

void BatchProcessor::advance(Stream& stream) {
  while (!stream.pending.empty() && stream.pending.front().calls_left == 0) {
    Pending done = std::move(stream.pending.front());
    release_digests(done);
    stream.pending.pop_front();
    --m_pending_total;
    stream.committing = std::max(stream.committing, done.through_seq);
    start_commit(stream.key, done.through_seq, done.published, done.rejected, false);
  }
  check_idle();
}

void BatchProcessor::start_commit(const MarkKey& key, std::uint64_t through_seq,
                                  std::uint64_t published, std::uint64_t rejected, bool retry) {
  if (auto it = m_streams.find(key); it != m_streams.end()) {
    ++it->second->commits_outstanding;
  }
  ++m_commits_outstanding;
  m_marks.commit(key, through_seq,
                 [this, alive = std::weak_ptr<bool>(m_alive), key, through_seq, published, rejected,
                  retry](const Status& status) {
                   if (alive.expired()) {
                     return;
                   }
                   try {
                     on_committed(key, through_seq, published, rejected, retry, status);
                   } catch (const std::exception& e) {
                     ++m_stats.handler_errors;
                     spdlog::error("unexpected error after a commit: {}", e.what());
                   }
                 });
}

void BatchProcessor::on_committed(const MarkKey& key, std::uint64_t through_seq,
                                  std::uint64_t published, std::uint64_t rejected, bool retry,
                                  const Status& status) {
  --m_commits_outstanding;
  auto it = m_streams.find(key);
  Stream* stream = it == m_streams.end() ? nullptr : it->second.get();
  if (stream != nullptr) {
    --stream->commits_outstanding;
  }
  if (!status && lost_lease(key)) {
    // A failed mark of a till that is no longer ours is not retried: its new owner publishes
    // what the agent resends. If it was the last one, intake resumes.
    drop_lost_stream(key, through_seq, status);
    resume_if_no_failed_commit();
    check_idle();
    return;
  }
  if (!status) {
    ++m_stats.commit_failures;
    auto& failed = m_failed_commits[key];
    failed.through_seq = std::max(failed.through_seq, through_seq);
    failed.published += published;
    failed.rejected += rejected;
    if (retry) {
      failed.retrying = false;
    }
    if (!m_commits_paused) {
      m_commits_paused = true;
      m_paused_since = m_clock.now_steady();
      spdlog::error(
          "{}/{} epoch {}: mark commit failed, not acknowledging through {}: {}; pausing intake "
          "(no batch is published or acknowledged) until the mark store commits again",
          key.store_id, key.till_id, protocol::format_epoch(key.epoch), through_seq,
          status.error().message);
    } else {
      spdlog::debug("{}/{} epoch {}: mark commit through {} failed again: {}", key.store_id,
                    key.till_id, protocol::format_epoch(key.epoch), through_seq,
                    status.error().message);
    }
    retry_commits_later();
    check_idle();
    return;
  }
  if (stream != nullptr) {
    stream->committed = std::max(stream->committed, through_seq);
    stream->committing = std::max(stream->committing, stream->committed);
    stream->submitted = std::max(stream->submitted, stream->committed);
  }
  if (auto failed = m_failed_commits.find(key);
      failed != m_failed_commits.end() && failed->second.through_seq <= through_seq) {
    // This commit covers the failed mark: what it published is acked now.
    published += failed->second.published;
    rejected += failed->second.rejected;
    m_failed_commits.erase(failed);
  }
  ++m_stats.batches_acked;
  m_stats.events_published += published;
  m_stats.events_dead_lettered += rejected;
  notify([&](PipelineObserver& o) {
    o.on_counts(key.store_id, key.till_id,
                TillCounts{.published = published, .rejected = rejected});
  });
  send_ack(key, through_seq);
  resume_if_no_failed_commit();
  check_idle();
}

void BatchProcessor::resume_if_no_failed_commit() {
  if (m_commits_paused && m_failed_commits.empty()) {
    m_commits_paused = false;
    m_commit_backoff.reset();
    spdlog::warn(
        "mark store commits again after {} ms: resuming intake",
        std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.now_steady() - m_paused_since)
            .count());
  }
}

bool BatchProcessor::lost_lease(const MarkKey& key) const {
  if (m_options.ownership == nullptr) {
    return false;
  }
  const auto fence = m_options.ownership->fence_for(key.store_id, key.till_id);
  const auto tenure = m_tenure.find(key.store_id + "/" + key.till_id);
  return !fence || tenure == m_tenure.end() || tenure->second != fence->token;
}

void BatchProcessor::drop_lost_stream(const MarkKey& key, std::uint64_t through_seq,
                                      const Status& status) {
  ++m_stats.commits_fenced;
  spdlog::warn(
      "{}/{} epoch {}: not acknowledging through {}: this collector no longer owns the till ({}); "
      "its new owner publishes what the agent resends",
      key.store_id, key.till_id, protocol::format_epoch(key.epoch), through_seq,
      status.error().message);
  m_failed_commits.erase(key);
  if (auto it = m_streams.find(key); it != m_streams.end()) {
    for (auto& pending : it->second->pending) {
      release_digests(pending);
    }
    m_pending_total -= it->second->pending.size();
    m_streams.erase(it);
  }
  m_tenure.erase(key.store_id + "/" + key.till_id);
}

void BatchProcessor::retry_commits_later() {
  if (m_commit_retry_armed) {
    return;
  }
  m_commit_retry_armed = true;
  m_commit_retry_timer.expires_after(m_commit_backoff.next_delay());
  m_commit_retry_timer.async_wait(
      [this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
        if (ec || alive.expired()) {
          return;
        }
        m_commit_retry_armed = false;
        try {
          for (auto& [key, failed] : m_failed_commits) {
            if (failed.retrying) {
              continue;
            }
            failed.retrying = true;
            ++m_stats.commit_retries;
            start_commit(key, failed.through_seq, 0, 0, true);
          }
        } catch (const std::exception& e) {
          ++m_stats.handler_errors;
          spdlog::error("unexpected error retrying mark commits: {}", e.what());
        }
      });
}

void BatchProcessor::send_ack(const MarkKey& key, std::uint64_t through_seq) {
  const std::int64_t now_ms = m_clock.now_unix_ms();
  notify([&](PipelineObserver& o) { o.on_ack(key.store_id, key.till_id, now_ms); });
  auto& state = m_acks[key];
  state.wanted = std::max(state.wanted, through_seq);
  if (!state.in_flight && !state.queued) {
    state.queued = true;
    m_ack_queue.push_back(key);
  }
  pump_acks();
}

void BatchProcessor::pump_acks() {
  constexpr std::size_t max_acks_in_flight = 8;
  while (m_acks_outstanding < max_acks_in_flight && !m_ack_queue.empty()) {
    MarkKey key = std::move(m_ack_queue.front());
    m_ack_queue.pop_front();
    auto it = m_acks.find(key);
    if (it == m_acks.end()) {
      continue;
    }
    auto& state = it->second;
    state.queued = false;
    if (state.wanted <= state.delivered) {
      m_acks.erase(it);
      continue;
    }
    auto topic = protocol::make_topic(m_options.topic_prefix, key.store_id, key.till_id,
                                      protocol::TopicKind::ack);
    if (!topic) {
      ++m_stats.ack_failures;
      m_acks.erase(it);
      continue;
    }
    const std::uint64_t through_seq = state.wanted;
    state.in_flight = true;
    ++m_acks_outstanding;
    m_transport.publish(
        std::move(*topic), protocol::encode_ack({key.epoch, through_seq}), false,
        [this, alive = std::weak_ptr<bool>(m_alive), key, through_seq](const Status& status) {
          if (alive.expired()) {
            return;
          }
          --m_acks_outstanding;
          auto& state = m_acks[key];
          state.in_flight = false;
          if (status) {
            ++m_stats.acks_sent;
            state.delivered = std::max(state.delivered, through_seq);
          } else {
            ++m_stats.ack_failures;
            spdlog::debug("ack {}/{} through {} not delivered, will retry: {}", key.store_id,
                          key.till_id, through_seq, status.error().message);
          }
          if (state.wanted > state.delivered) {
            if (status) {
              state.queued = true;
              m_ack_queue.push_back(key);
            } else {
              retry_acks_later();
            }
          } else {
            m_acks.erase(key);
          }
          pump_acks();
          check_idle();
        });
  }
}

void BatchProcessor::retry_acks_later() {
  if (m_ack_retry_armed) {
    return;
  }
  m_ack_retry_armed = true;
  m_ack_retry_timer.expires_after(std::chrono::milliseconds(250));
  m_ack_retry_timer.async_wait(
      [this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
        if (ec || alive.expired()) {
          return;
        }
        m_ack_retry_armed = false;
        for (auto& [key, state] : m_acks) {
          if (!state.in_flight && !state.queued && state.wanted > state.delivered) {
            state.queued = true;
            m_ack_queue.push_back(key);
          }
        }
        pump_acks();
        check_idle();
      });
}

void BatchProcessor::observe_latency(std::chrono::steady_clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::size_t bucket = 0;
  while (bucket < latency_buckets.size() && seconds > latency_buckets[bucket]) {
    ++bucket;
  }
  ++m_stats.latency_counts[bucket];
  m_stats.latency_sum_s += seconds;
  ++m_stats.latency_count;
}

void BatchProcessor::stop_intake() {
  m_intake_stopped = true;
}

void BatchProcessor::when_idle(std::function<void()> done) {
  m_idle_waiters.push_back(std::move(done));
  check_idle();
}

void BatchProcessor::check_idle() {
  if (m_idle_waiters.empty() || m_pending_total > 0 || m_commits_outstanding > 0 ||
      m_acks_outstanding > 0 || !m_ack_queue.empty() || m_ack_retry_armed) {
    return;
  }
  for (auto& waiter : std::exchange(m_idle_waiters, {})) {
    boost::asio::post(m_executor, std::move(waiter));
  }
}

}  // namespace pos::collector
