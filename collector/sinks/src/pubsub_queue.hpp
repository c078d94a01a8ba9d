#pragma once
// The queue layer of the Pub/Sub publisher stack: a queue per (destination, ordering key), cut
// into batches (pubsub_batching.hpp) and handed to the retry layer (a BatchPublisher), with one
// request in flight and a byte rate per ordering key. Like the ordering-key publishers of Google's
// client libraries, each key is independent: a key waiting for a slow or retried request, or
// failed by a permanent error, holds up no other key.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pos/collector/sink.hpp"
#include "pos/protocol/result.hpp"
#include "pubsub_batching.hpp"
#include "pubsub_retry.hpp"

namespace pos::collector::detail {

/// What the queues know of one publish() call: how many of its messages are not yet accepted,
/// and whether it already has its outcome (its messages not yet sent are then dropped unsent).
struct QueuedCall {
  std::size_t remaining = 0;
  bool finished = false;
  /// Runs once, from the queues, with ok when the last message was accepted or the first
  /// permanent error of any of its messages.
  std::function<void(Status)> on_outcome;
};

/// Marks `call` finished and runs its on_outcome with `status`; no-op when already finished.
void finish_queued_call(QueuedCall& call, const Status& status);

/// One encoded message (encode_message()) of a call.
struct QueuedMessage {
  std::string ordering_key;
  std::string json;
  std::size_t billing_bytes = 0;  ///< message_billing_bytes(), for pacing
  std::shared_ptr<QueuedCall> call;
};

struct QueueConfig {
  /// On: a queue per ordering key, one request in flight per key, paced. Off: a queue per
  /// destination, requests in parallel.
  bool ordering = true;
  BatchLimits limits;
  std::chrono::milliseconds batch_delay{5};  ///< how long a partial batch waits for more
  std::size_t key_bytes_per_second = 0;      ///< per key (ordering on); 0: no pacing
  std::size_t max_requests_in_flight = 16;   ///< over all queues, at least 1
};

/// Queues messages and sends them in batches through `publisher`:
/// - a batch goes when full (limits), when its first message has waited batch_delay, or at once
///   after drain();
/// - ordering on: a key has at most one request outstanding and waits pacing_interval() of the
///   billing bytes it sent before its next one; keys are sent in the order they became ready;
/// - an accepted request counts its messages off their calls (a call is ok at its last one);
/// - a permanent error fails every call of the request and, with ordering on, every call still
///   queued for that key (later messages of a key never overtake failed ones). Other keys go on;
///   a call published for the key afterwards is sent normally.
/// At most max_requests_in_flight requests are outstanding in all. All on one executor thread
/// (not thread-safe), except pending_bytes().
class KeyedQueues final : public std::enable_shared_from_this<KeyedQueues> {
 public:
  KeyedQueues(boost::asio::any_io_executor executor, QueueConfig config,
              std::shared_ptr<BatchPublisher> publisher);
  ~KeyedQueues();
  KeyedQueues(const KeyedQueues&) = delete;
  KeyedQueues& operator=(const KeyedQueues&) = delete;

  /// Appends `messages` (in order) to their queues and schedules them. With ordering off the key
  /// is ignored for queueing. No-op after shutdown().
  void enqueue(Destination destination, std::vector<QueuedMessage> messages);
  /// From now on partial batches go at once (stop() of the sink). Pacing still applies.
  void drain();
  /// Cancels timers, drops every queued message without running any on_outcome, and shuts down
  /// the publisher (outstanding requests are abandoned).
  void shutdown();

  /// Encoded bytes of the messages enqueued and not yet accepted, failed or dropped. Thread-safe.
  std::size_t pending_bytes() const noexcept { return m_pending_bytes.load(); }
  /// Requests handed to the publisher and not yet answered.
  std::size_t in_flight() const noexcept { return m_in_flight; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Queue;
  struct Batch;

  void schedule(Queue& queue);
  void arm(Queue& queue, Clock::time_point deadline);
  void pump();
  void send_batch(Queue& queue);
  void on_result(const std::shared_ptr<Batch>& batch, const Status& status);
  void drop(QueuedMessage& message);
  void release(Queue& queue);

  boost::asio::any_io_executor m_executor;
  QueueConfig m_config;
  std::shared_ptr<BatchPublisher> m_publisher;
  std::map<std::pair<Destination, std::string>, std::unique_ptr<Queue>> m_queues;
  std::deque<Queue*> m_ready;
  std::size_t m_in_flight = 0;
  std::atomic<std::size_t> m_pending_bytes{0};
  bool m_draining = false;
  bool m_shutdown = false;
};

}  // namespace pos::collector::detail
