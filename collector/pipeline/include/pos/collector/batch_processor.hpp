#pragma once
// The collector's core: checks each batch from MQTT, drops duplicates by the durable mark,
// publishes events and dead letters through the Sink, commits the mark, then acks the agent.
// See docs/collector.md, "Processing order and guarantees".

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pos/collector/batch_messages.hpp"
#include "pos/collector/mark_store.hpp"
#include "pos/collector/ownership.hpp"
#include "pos/collector/pipeline_observer.hpp"
#include "pos/collector/sink.hpp"
#include "pos/common/backoff.hpp"
#include "pos/common/clock.hpp"
#include "pos/common/transport.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::collector {

struct BatchProcessorOptions {
  std::string topic_prefix = "pos/v1";
  protocol::DecodeLimits limits;  ///< max_encoded_bytes is also the MQTT payload limit
  protocol::EventLimits event_limits;
  /// Batches submitted to the sink and not yet acked; more: the incoming batch is dropped
  /// without ack (the agent resends after its ack timeout).
  std::size_t max_pending_batches = 1024;
  /// Sink::pending_bytes(), plus the event facts held for the observers, above this: incoming
  /// batches are dropped the same way.
  std::size_t max_pending_bytes = std::size_t{256} * 1024 * 1024;
  /// A dead-lettered batch's data is cut to this many bytes (Pub/Sub refuses messages > 10 MB).
  std::size_t max_dead_letter_bytes = std::size_t{1024} * 1024;
  /// Idle per-(store, till, epoch) states kept in memory; beyond it idle ones are dropped (they
  /// are rebuilt from the MarkStore).
  std::size_t max_streams = 50'000;
  /// After a failed mark commit, the failed marks are committed again after a delay that grows
  /// from `commit_retry_initial` to `commit_retry_max` (exponential, full jitter).
  std::chrono::milliseconds commit_retry_initial{100};
  std::chrono::milliseconds commit_retry_max{5000};
  /// Epochs (mark rows) kept per till; a batch of a further epoch first prunes the till's epochs
  /// idle past `epoch_retention` (least recently active first), else it is refused unacked.
  std::size_t max_epochs_per_till = 8;
  /// An epoch with no batch for this long is pruned (its mark deleted) by prune_idle_epochs(),
  /// except a till's newest epoch.
  std::chrono::milliseconds epoch_retention = std::chrono::hours(30 * 24);
  /// Several collectors: only batches of tills this collector owns now are taken (others are
  /// dropped unacked, counted in batches_not_owned), and a till taken over is started again from
  /// the shared marks. nullptr: one collector, every till is ours. Must outlive the processor.
  const Ownership* ownership = nullptr;
};

/// Upper bounds (seconds) of the publish latency histogram; the last bucket is +Inf.
inline constexpr std::array<double, 11> latency_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                           0.5,   1,    2.5,   5,    10};

/// Upper bounds of the events-per-batch histogram of accepted batches; the last bucket is +Inf.
inline constexpr std::array<std::uint32_t, 8> events_per_batch_buckets = {1,   10,  50,   100,
                                                                          250, 500, 1000, 5000};

/// Global counters (io thread).
struct BatchStats {
  std::uint64_t batches_received = 0;
  std::uint64_t batches_acked = 0;         ///< batches whose publish, commit and ack completed
  std::uint64_t batches_duplicate = 0;     ///< every event at or below the mark
  std::uint64_t batches_gap = 0;           ///< started past mark + 1: not published, not acked
  std::uint64_t batches_dropped_busy = 0;  ///< flow control: not published, not acked
  std::uint64_t batches_dropped_stopping = 0;
  /// Not published, not acked: a mark commit failed and none has succeeded since.
  std::uint64_t batches_dropped_paused = 0;
  std::uint64_t batches_dead_lettered = 0;  ///< whole batch dead-lettered (then acked)
  std::uint64_t batches_invalid = 0;        ///< bad topic or header: dead-lettered, no ack possible
  /// Several collectors: batches of tills another collector owns (or nobody yet): not published,
  /// not acked.
  std::uint64_t batches_not_owned = 0;
  /// Mark commits refused because the till's lease was lost meanwhile: not acked (the new owner
  /// publishes the batches again: counted duplicates downstream).
  std::uint64_t commits_fenced = 0;
  std::uint64_t resends_requested = 0;  ///< acks with resend sent to tills taken over
  /// Streams whose mark was raised to the acked_through reported in the till's status (the
  /// mark was missing or behind: see docs/collector.md, "Recovering a mark from the till").
  std::uint64_t marks_adopted = 0;
  std::uint64_t events_published = 0;
  std::uint64_t events_dead_lettered = 0;  ///< single events that failed validation
  std::uint64_t events_duplicate = 0;
  /// Batches accepted for publishing (decoded): their MQTT message bytes, their raw_len (NDJSON
  /// before compression), and how many events they held.
  std::uint64_t bytes_encoded = 0;
  std::uint64_t bytes_raw = 0;
  std::uint64_t batch_events = 0;
  std::array<std::uint64_t, events_per_batch_buckets.size() + 1> events_per_batch_counts{};
  std::uint64_t acks_sent = 0;
  std::uint64_t ack_failures = 0;
  std::uint64_t sink_failures = 0;    ///< permanent sink errors (the batches were not acked)
  std::uint64_t commit_failures = 0;  ///< MarkStore errors (the batches were not acked)
  std::uint64_t commit_retries = 0;   ///< failed marks committed again
  std::uint64_t new_epochs = 0;       ///< epochs a till started (no mark yet), admitted
  /// Batches of a new epoch refused (not published, not acked): the till is at
  /// max_epochs_per_till with none idle past the retention.
  std::uint64_t batches_epoch_refused = 0;
  std::uint64_t epochs_pruned = 0;  ///< marks deleted: idle past the retention
  std::uint64_t prune_passes = 0;   ///< prune_idle_epochs() calls
  std::uint64_t status_received = 0;
  std::uint64_t status_invalid = 0;
  std::uint64_t handler_errors = 0;   ///< unexpected exceptions caught in handlers
  std::uint64_t observer_errors = 0;  ///< exceptions thrown by a PipelineObserver (caught)
  std::array<std::uint64_t, latency_buckets.size() + 1> latency_counts{};  ///< not cumulative
  double latency_sum_s = 0;
  std::uint64_t latency_count = 0;
};

/// Processes MQTT messages on the io executor: batches (`{prefix}/+/+/batch`) and agent status
/// (`{prefix}/+/+/status`). Per (store, till, epoch) stream it keeps the committed mark and the
/// seq submitted through; batches of a till may be in the sink at the same time, but marks are
/// committed and acks sent strictly in seq order. Not thread-safe: every call and every
/// completion runs on the io executor. Never throws. What it does is told to `observers` (the
/// fleet view, the live sales view), which the pipeline does not otherwise know.
class BatchProcessor {
 public:
  /// `sink`, `marks`, `transport`, `clock` and every observer must outlive the processor.
  BatchProcessor(boost::asio::any_io_executor executor, Sink& sink, Marks& marks,
                 common::Transport& transport, std::vector<PipelineObserver*> observers,
                 const common::Clock& clock, protocol::DictionaryLookup dictionaries,
                 BatchProcessorOptions options);
  ~BatchProcessor();
  BatchProcessor(const BatchProcessor&) = delete;
  BatchProcessor& operator=(const BatchProcessor&) = delete;

  /// Handles one MQTT message (batch or status; anything else is logged and ignored).
  void handle_message(common::TransportMessage message);

  /// From now on batches are ignored (not acked); status messages are still recorded.
  void stop_intake();

  /// Runs `done` (posted on the executor) once no batch is in the sink, in a commit or waiting
  /// for its ack's PUBACK. At once when idle.
  void when_idle(std::function<void()> done);

  /// True from a failed mark commit until a commit succeeds with no failed mark left: meanwhile
  /// every batch is dropped (not published, not acked) and the failed marks are retried.
  bool commits_paused() const noexcept { return m_commits_paused; }

  /// Deletes the marks of epochs that had no batch for longer than `epoch_retention`, except each
  /// till's newest epoch and epochs with batches in flight. Returns how many were deleted.
  std::size_t prune_idle_epochs();

  /// Batches submitted to the sink and not yet acked (or failed).
  std::size_t pending_batches() const noexcept { return m_pending_total; }

  /// True while a till of `partition` has batches in the sink, commits outstanding or a failed
  /// commit (its lease must not be handed back yet).
  bool partition_busy(std::uint32_t partition) const;

  /// Asks the till of `mark` (just taken over) to resend everything after the mark now, instead
  /// of after its ack timeout: an ack of the mark with "resend": true.
  void request_resend(const StoredMark& mark);
  const BatchStats& stats() const noexcept { return m_stats; }

 private:
  struct Pending;
  struct Stream;

  void handle_batch(const protocol::TillTopic& topic, const std::string& payload);
  /// Validates and publishes the new events of a decoded batch (`skipped` leading ones were
  /// already submitted).
  void publish_decoded(Stream& stream, const BatchOrigin& origin,
                       const protocol::DecodedBatch& decoded, std::uint64_t skipped,
                       std::size_t encoded_bytes, std::int64_t now_ms);
  void handle_status(const protocol::TillTopic& topic, const std::string& payload);
  /// Records that the till reported `acked_through` of `epoch` acknowledged (its status). Every
  /// seq at or below it has been published (an ack is only sent after the publish and the
  /// mark's commit), so a stream whose mark is behind adopts it rather than wait forever for a
  /// gap to close. Acks only grow within an epoch; another epoch replaces the till's entry. At
  /// most max_streams tills are tracked.
  void record_reported_ack(const std::string& store_id, const std::string& till_id,
                           std::uint64_t epoch, std::uint64_t acked_through);
  void dead_letter_unackable(const std::string& error, const std::string& store_id,
                             const std::string& till_id, const std::string& payload);
  /// Calls `call(observer)` on every observer; an exception is logged and counted.
  template <class Call>
  void notify(const Call& call);
  Stream& stream_for(const MarkKey& key);
  void submit(Stream& stream, std::uint64_t through_seq, BatchMessages messages,
              std::uint64_t rejected_events);
  /// A sink call of batch `id` completed; `events_call`: the call of its events (else of its
  /// dead letters).
  void on_published(const MarkKey& key, std::uint64_t id, bool events_call, const Status& status);
  /// Releases the digests a batch held for the observers.
  void release_digests(Pending& pending);
  void advance(Stream& stream);
  /// Hands one mark to the MarkStore; `retry`: a failed mark committed again (its counts are kept
  /// in m_failed_commits until a commit covers it).
  void start_commit(const MarkKey& key, std::uint64_t through_seq, std::uint64_t published,
                    std::uint64_t rejected, bool retry);
  void on_committed(const MarkKey& key, std::uint64_t through_seq, std::uint64_t published,
                    std::uint64_t rejected, bool retry, const Status& status);
  /// A mark whose commit failed: published, not durable, not acked. Committed again (with
  /// backoff) until it succeeds; meanwhile intake is paused (commits_paused()).
  struct FailedCommit {
    std::uint64_t through_seq = 0;
    std::uint64_t published = 0;
    std::uint64_t rejected = 0;
    bool retrying = false;
  };
  void retry_commits_later();
  /// Ends the pause of intake once no failed mark is left.
  void resume_if_no_failed_commit();
  /// Several collectors: the till's lease is gone, or is a newer one than its streams'.
  bool lost_lease(const MarkKey& key) const;
  /// A commit refused because the lease was lost: the stream is dropped (not acked, not retried).
  void drop_lost_stream(const MarkKey& key, std::uint64_t through_seq, const Status& status);
  /// A till's epochs: each with the time of its last batch (or commit, for epochs read from the
  /// MarkStore). Built from the MarkStore at a till's first batch, then kept here.
  struct EpochUse {
    std::uint64_t epoch = 0;
    std::int64_t last_ms = 0;
  };
  std::vector<EpochUse>& epochs_of(const std::string& store_id, const std::string& till_id);
  /// False when a batch of this epoch must be refused (a new epoch of a till at the cap).
  bool admit_epoch(const protocol::TillTopic& topic, std::uint64_t epoch, std::int64_t now_ms);
  /// A stream with batches in the sink, commits outstanding or a failed commit: not prunable.
  bool epoch_busy(const MarkKey& key) const;
  void forget_epochs(std::vector<MarkKey> keys);
  /// Acks are cumulative, so they are coalesced: per stream only the newest mark is sent, one
  /// publish in flight per stream and at most `max_acks_in_flight` in all (brokers cap QoS 1
  /// messages in flight per client; mosquitto's receive maximum is 20). A failed ack is retried.
  struct AckState {
    std::uint64_t wanted = 0;
    std::uint64_t delivered = 0;
    bool in_flight = false;
    bool queued = false;
  };
  void send_ack(const MarkKey& key, std::uint64_t through_seq);
  void pump_acks();
  void retry_acks_later();
  void observe_latency(std::chrono::steady_clock::duration elapsed);
  void check_idle();
  void trim_streams();
  /// A batch past the mark: raises an idle stream's mark to what the till reported acknowledged,
  /// when that closes the gap. Safe because every acked seq is in Pub/Sub.
  void adopt_reported_mark(Stream& stream, std::uint64_t first_seq);

  boost::asio::any_io_executor m_executor;
  Sink& m_sink;
  Marks& m_marks;
  common::Transport& m_transport;
  std::vector<PipelineObserver*> m_observers;
  const common::Clock& m_clock;
  BatchProcessorOptions m_options;
  protocol::BatchDecoder m_decoder;
  std::unordered_map<MarkKey, std::unique_ptr<Stream>, MarkKeyHash> m_streams;
  std::uint64_t m_next_id = 1;
  std::size_t m_pending_total = 0;
  std::size_t m_commits_outstanding = 0;
  std::size_t m_acks_outstanding = 0;
  std::unordered_map<MarkKey, AckState, MarkKeyHash> m_acks;
  std::deque<MarkKey> m_ack_queue;
  boost::asio::steady_timer m_ack_retry_timer;
  bool m_ack_retry_armed = false;
  std::unordered_map<MarkKey, FailedCommit, MarkKeyHash> m_failed_commits;
  boost::asio::steady_timer m_commit_retry_timer;
  bool m_commit_retry_armed = false;
  common::ExponentialBackoff m_commit_backoff;
  std::chrono::steady_clock::time_point m_paused_since;
  std::unordered_map<std::string, std::vector<EpochUse>> m_till_epochs;
  struct ReportedAck {
    std::uint64_t epoch = 0;
    std::uint64_t acked_through = 0;
  };
  std::unordered_map<std::string, ReportedAck> m_reported;  ///< by "{store}/{till}"
  /// Several collectors: the lease token under which each till's streams were built, by
  /// "{store}/{till}". A batch under another token starts the till again from the marks.
  std::unordered_map<std::string, std::uint64_t> m_tenure;
  /// False when the batch must be dropped: the till is not ours, or was taken over and still has
  /// work in flight from before.
  bool admit_owner(const protocol::TillTopic& topic);
  std::size_t m_digest_bytes = 0;  ///< held by pending batches for the observers
  std::int64_t m_last_refusal_log_ms = 0;
  bool m_intake_stopped = false;
  bool m_commits_paused = false;
  std::vector<std::function<void()>> m_idle_waiters;
  BatchStats m_stats;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace pos::collector
