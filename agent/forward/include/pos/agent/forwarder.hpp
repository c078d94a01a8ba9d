#pragma once
// The forwarding state machine: reads the outbox in seq order, sends zstd batches over the
// transport with a window of unacknowledged batches, frees them on cumulative acks and resends
// from the first unacknowledged seq (go-back-N) on ack timeout, reconnect or a resend request.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "pos/agent/ack_timeout.hpp"
#include "pos/agent/outbox.hpp"
#include "pos/agent/replayer.hpp"
#include "pos/agent/till_batch_options.hpp"
#include "pos/agent/transport.hpp"
#include "pos/agent/upload_limiter.hpp"
#include "pos/common/backoff.hpp"
#include "pos/common/clock.hpp"
#include "pos/protocol/batch.hpp"

namespace pos::agent {

/// TillBatchOptions, and:
struct ForwarderOptions : TillBatchOptions {
  /// A batch that is not full waits for more events only while its oldest event is younger.
  std::chrono::milliseconds batch_delay{20};
  std::size_t window_batches = 8;  ///< batches sent but not yet acknowledged, at most
  /// Time after the broker accepted (PUBACK) the oldest unacknowledged batch, or after the last
  /// ack progress, before go-back-N. The floor: the forwarder raises it while acks come slower
  /// (AckTimeout), never above ack_timeout_max.
  std::chrono::milliseconds ack_timeout{10'000};
  std::chrono::milliseconds ack_timeout_max{120'000};
  std::chrono::milliseconds heartbeat{30'000};
  /// Time the offline status, and then the clean disconnect, may each take at stop().
  std::chrono::milliseconds disconnect_timeout{2'000};
  /// Status JSON (state online), published retained on connect and every heartbeat.
  std::function<std::string()> status_payload;
  /// Status JSON (state offline), published retained on clean shutdown.
  std::function<std::string()> offline_payload;
};

/// Counters for status and metrics.
struct ForwarderStats {
  bool connected = false;
  /// The URI of the broker of the current connection (Transport::connected_uri); empty while
  /// not connected.
  std::string broker;
  std::uint64_t batches_sent = 0;     ///< resent batches included
  std::uint64_t events_sent = 0;      ///< resent events included
  std::uint64_t bytes_sent = 0;       ///< encoded (compressed) batch bytes
  std::uint64_t raw_bytes_sent = 0;   ///< payload bytes before compression
  std::uint64_t resends = 0;          ///< go-back-N rewinds
  std::uint64_t resend_requests = 0;  ///< acks with the resend flag that made the forwarder rewind
  std::uint64_t acks_received = 0;    ///< acks that advanced the mark
  std::uint64_t acks_ignored = 0;     ///< duplicate, out-of-order, other-epoch, bad or beyond-sent
  std::uint64_t reconnects = 0;       ///< successful connects after the first
  /// Moves to a new epoch because the collector acknowledged seqs this database does not hold.
  std::uint64_t epoch_renewals = 0;
  /// True once this connection learned that the collector's mark is not ahead of the database.
  bool mark_checked = false;
  std::uint64_t connect_failures = 0;
  std::uint64_t acked_through = 0;
  std::uint64_t inflight_batches = 0;
  std::int64_t ack_timeout_ms = 0;  ///< the adapted ack timeout now in force
  std::optional<std::int64_t> last_ack_unix_ms;
  /// Runs of the sender, each of which sends a batch or finds a reason not to (window full, batch
  /// delay, upload limit, nothing to send, offline). A test waits for one before asserting that
  /// nothing was sent.
  std::uint64_t send_passes = 0;
};

/// Runs on one executor (the agent's io_context); every method must be called from it, except
/// stats(), which is thread-safe. An ack is applied only when it is for our epoch, above the acked
/// mark and not beyond the highest seq sent (events stored before start() count as sent: the
/// previous run may have sent them); anything else is ignored. An ack of our epoch, not beyond
/// the highest seq sent, with the resend flag (protocol::Ack::resend) is applied as usual, and
/// then, while online, the forwarder goes back to the first unacknowledged seq at once (as the
/// ack timeout would) and resets the adapted ack timeout to its floor; this holds also when its
/// through_seq is at or below the acked mark.
///
/// Restored or rolled-back databases: after each connect the forwarder sends nothing above L, the
/// highest seq the collector can legitimately hold (stored before start() or sent since), until an
/// ack for its epoch tells it the collector's mark. It re-sends the unacknowledged events up to L,
/// or, when there are none, the last acknowledged event as a probe. An ack beyond L means the
/// collector published seqs this database lost: the outbox renews its epoch
/// (Outbox::renew_epoch(L)) before any later event can be taken for one the collector has. The
/// transport must start each connection clean, so that every ack answers a batch of this
/// connection. The referenced objects must outlive the Forwarder; the Forwarder must outlive the
/// transport's and outbox's pending callbacks or be stopped first (callbacks that arrive after
/// destruction are ignored).
class Forwarder {
 public:
  /// `limiter` may be null (no upload cap). Throws std::invalid_argument for invalid ids, prefix,
  /// zero limits or ack_timeout > ack_timeout_max.
  Forwarder(boost::asio::any_io_executor executor, Outbox& outbox, Transport& transport,
            common::Backoff& backoff, const common::Clock& clock, UploadLimiter* limiter,
            protocol::BatchEncoder encoder, ForwarderOptions options);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  /// Installs the transport handlers and the outbox commit listener, then connects. Once only.
  void start();

  /// Stops sending new batches, waits up to `drain_timeout` for the outstanding acks, publishes
  /// the offline status retained (when connected), disconnects cleanly and then posts `done`.
  /// Takes at most drain_timeout + 2 * disconnect_timeout (plus the transport's own bound).
  void stop(std::chrono::milliseconds drain_timeout, std::function<void()> done);

  /// Starts a new connection now (the TLS files changed: a renewed certificate): online, it
  /// disconnects cleanly (no last will; the retained status stays online) and connects again at
  /// once, then resends what is unacknowledged (go-back-N, as after any reconnect: the collector
  /// drops what it already has); waiting to retry, it connects at once. While connecting, the
  /// new connection follows the attempt in flight. Does nothing while stopping or stopped.
  void renew_connection(const std::string& reason);

  /// Hands replay commands and replay acks to `replayer` and tells it of each connection; its
  /// progress is published with the status. Before start(); `replayer` must outlive the
  /// Forwarder.
  void set_replayer(Replayer& replayer);

  /// The upload limiter's settings changed (a configuration reload, UploadLimiter::reconfigure):
  /// a wait the old settings imposed ends now and the next batch asks the limiter again. Call on
  /// the executor.
  void upload_limit_changed();

  ForwarderStats stats() const;

  const std::string& batch_topic() const noexcept { return m_batch_topic; }
  const std::string& ack_topic() const noexcept { return m_ack_topic; }
  const std::string& status_topic() const noexcept { return m_status_topic; }

 private:
  enum class State {
    idle,
    connecting,
    waiting_retry,
    online,
    renewing,  ///< renew_connection: disconnecting in order to connect again at once
    stopping,
    disconnecting,
    stopped
  };
  struct InFlight {
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    std::uint64_t id = 0;
    bool resent = false;  ///< its seqs were published before in this run (no timing sample)
    std::optional<std::chrono::steady_clock::time_point> accepted_at;  ///< PUBACK or failure
  };
  struct Pending {
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
    std::size_t raw_bytes = 0;
    std::string data;
  };
  struct Timer {
    explicit Timer(const boost::asio::any_io_executor& executor) : timer(executor) {}
    boost::asio::steady_timer timer;
    std::uint64_t token = 0;
    bool armed = false;
  };

  template <class F>
  auto guarded(F f);
  void arm(Timer& timer, std::chrono::steady_clock::duration after, void (Forwarder::*fn)());
  void disarm(Timer& timer);

  void connect();
  /// The connection ended (lost or renewed): callbacks of it are ignored from now on, the batch
  /// being built and the timers that belong to a connection are dropped.
  void drop_connection_state();
  void on_connected();
  void on_disconnected(const std::string& reason);
  void on_message(TransportMessage message);
  void on_ack(const std::string& payload);
  void resend_requested(std::uint64_t through);
  void on_commit(std::uint64_t last_seq);
  bool build_probe();
  void renew_epoch(const std::string& why);
  void on_epoch_renewed(const Result<std::uint64_t>& renewed);
  void on_published(std::uint64_t generation, std::uint64_t id, const Status& status);

  void pump();
  bool build_pending();
  void publish_pending();
  void go_back_n(const char* reason);
  void arm_ack_timer();
  void on_ack_timer();
  void on_batch_timer();
  void on_limiter_timer();
  void on_retry_timer();
  void on_read_retry_timer();
  void on_heartbeat();
  void on_stop_timer();
  void publish_status();
  void finish_stop();
  void disconnect_now();
  void schedule_pump();
  template <class F>
  void with_stats(F f);
  void sync_stats();

  boost::asio::any_io_executor m_executor;
  Outbox& m_outbox;
  Transport& m_transport;
  common::Backoff& m_backoff;
  const common::Clock& m_clock;
  UploadLimiter* m_limiter;
  Replayer* m_replayer = nullptr;
  protocol::BatchEncoder m_encoder;
  ForwarderOptions m_options;
  std::string m_batch_topic;
  std::string m_ack_topic;
  std::string m_status_topic;
  std::uint64_t m_epoch = 0;

  State m_state = State::idle;
  bool m_ever_connected = false;
  bool m_other_epoch_logged = false;
  std::uint64_t m_acked_through = 0;
  std::uint64_t m_next_seq = 1;
  std::uint64_t m_highest_sent = 0;
  std::uint64_t m_highest_published = 0;  ///< by this run (m_highest_sent also counts earlier runs)
  std::uint64_t m_known_last = 0;
  std::uint64_t m_delay_expired_seq = 0;
  /// See the class comment: whether this connection knows the collector's mark is not ahead of
  /// the database, the last seq stored at connect, whether the probe is out, and whether an
  /// epoch renewal is running (nothing is sent meanwhile).
  bool m_mark_checked = false;
  std::uint64_t m_check_limit = 0;
  bool m_probe_sent = false;
  bool m_renewing = false;
  std::uint64_t m_generation = 0;
  /// renew_connection while connecting: the reason, to renew once connected.
  std::optional<std::string> m_renew_after_connect;
  std::uint64_t m_next_id = 0;
  bool m_pump_posted = false;
  std::chrono::steady_clock::time_point m_last_progress{};
  AckTimeout m_ack_timeout;
  std::deque<InFlight> m_inflight;
  std::optional<Pending> m_pending;
  std::function<void()> m_stop_done;

  Timer m_retry_timer;
  Timer m_batch_timer;
  Timer m_limiter_timer;
  Timer m_ack_timer;
  Timer m_read_retry_timer;
  Timer m_heartbeat_timer;
  Timer m_stop_timer;

  mutable std::mutex m_stats_mutex;
  ForwarderStats m_stats;
  std::shared_ptr<int> m_alive = std::make_shared<int>(0);
};

}  // namespace pos::agent
