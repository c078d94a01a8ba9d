#pragma once
// Replaying a range the till still holds (docs/replay.md): a command from the collector on
// `{prefix}/{store}/{till}/cmd` makes the agent re-send acknowledged events, in order, as batches
// on `{prefix}/{store}/{till}/replay`; the collector publishes them again (attribute
// replay="true"), without touching its marks, and answers each with a replay ack.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "pos/agent/outbox.hpp"
#include "pos/agent/till_batch_options.hpp"
#include "pos/agent/transport.hpp"
#include "pos/agent/upload_limiter.hpp"
#include "pos/common/clock.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/messages.hpp"
#include "pos/protocol/replay.hpp"

namespace pos::agent {

/// TillBatchOptions, and:
struct ReplayerOptions : TillBatchOptions {
  /// A replay batch not acknowledged this long after it was sent is sent again.
  std::chrono::milliseconds ack_timeout{10'000};
  /// Where the replays seen (their ids and outcome) are kept across restarts, so that a command
  /// delivered again (it is retained) does not replay again.
  std::filesystem::path state_file;
  std::size_t max_remembered = 32;  ///< replays kept in state_file, newest first
};

/// Counters for metrics.
struct ReplayerStats {
  std::uint64_t commands = 0;  ///< commands received (repeated ones included)
  std::uint64_t commands_invalid = 0;
  std::uint64_t refused = 0;
  std::uint64_t completed = 0;
  std::uint64_t batches_sent = 0;     ///< resent ones included
  std::uint64_t events_replayed = 0;  ///< acknowledged by the collector
};

/// One replay at a time, one batch in flight, paced by the same upload cap as the live stream
/// (they share the uplink). Runs on the agent's io executor: every method but
/// progress() and stats() (thread-safe) must be called there. The Forwarder, which owns the
/// connection, calls on_connected / on_disconnected / on_command / on_ack. Never throws after
/// construction.
class Replayer {
 public:
  /// Reads state_file (a missing file is an empty history; a damaged one is logged and
  /// replaced). A replay left `running` resumes after its last acknowledged batch. `limiter`
  /// (may be null: no cap) is the Forwarder's, so that both are charged to one budget.
  Replayer(boost::asio::any_io_executor executor, Outbox& outbox, Transport& transport,
           const common::Clock& clock, UploadLimiter* limiter, protocol::BatchEncoder encoder,
           ReplayerOptions options);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  /// `{prefix}/{store}/{till}/cmd`, which the Forwarder subscribes to.
  const std::string& command_topic() const noexcept { return m_command_topic; }
  /// Called (on the executor) when the progress changed enough to tell the collector: a replay
  /// started, was refused, finished, or a batch was acknowledged.
  void set_progress_listener(std::function<void()> listener);
  void on_connected();
  void on_disconnected();
  /// A command message (parsed and checked here; a bad one is logged and counted).
  void on_command(const std::string& payload);
  /// An ack with the replay flag.
  void on_ack(const protocol::Ack& ack);
  /// The latest replay (running, done or refused), for the status message.
  std::optional<protocol::ReplayProgress> progress() const;
  ReplayerStats stats() const;

 private:
  struct InFlight {
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
  };
  /// A batch encoded and waiting for the upload cap.
  struct Waiting {
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    std::string data;
  };
  void start(const protocol::ReplayCommand& command);
  /// Resolves the command's range to held, acknowledged seqs, or says why it cannot be replayed.
  Result<std::pair<std::uint64_t, std::uint64_t>> resolve(const protocol::ReplayCommand& command);
  /// The first held seq whose received_at is >= ms (lo..hi), or hi + 1.
  Result<std::uint64_t> first_received_at_or_after(std::int64_t ms, std::uint64_t lo,
                                                   std::uint64_t hi);
  void refuse(const std::string& id, const std::string& why);
  void pump();
  /// pump() again after `delay` (the upload cap, a read retry), unless the connection changes.
  void pump_after(std::chrono::milliseconds delay);
  /// Reads and encodes the batch starting at `next`; nullopt when it cannot (a retry is
  /// scheduled, or the replay was stopped).
  std::optional<Waiting> next_batch(const protocol::ReplayProgress& p, std::uint64_t next);
  /// The running replay (`id`) cannot go on: it ends refused with `why`.
  void stop_running(const std::string& id, const std::string& why);
  void on_published(std::uint64_t generation, const Status& status);
  void on_ack_timeout();
  void finish_if_complete();
  void changed(bool persist);
  void save();
  void load();
  template <class F>
  auto guarded(F f);

  boost::asio::any_io_executor m_executor;
  Outbox& m_outbox;
  Transport& m_transport;
  const common::Clock& m_clock;
  UploadLimiter* m_limiter;
  protocol::BatchEncoder m_encoder;
  ReplayerOptions m_options;
  std::string m_command_topic;
  std::string m_replay_topic;
  std::function<void()> m_listener;
  bool m_online = false;
  std::uint64_t m_generation = 0;  ///< connection and send generation: stale callbacks ignored
  std::optional<InFlight> m_in_flight;
  std::optional<Waiting> m_waiting;
  boost::asio::steady_timer m_ack_timer;
  mutable std::mutex m_mutex;  ///< guards m_history and m_stats (read by progress(), stats())
  std::deque<protocol::ReplayProgress> m_history;  ///< newest first; front may be running
  ReplayerStats m_stats;
  std::shared_ptr<int> m_alive = std::make_shared<int>(0);
};

}  // namespace pos::agent
