#pragma once
// The retry layer of the Pub/Sub publisher stack: one publish request is sent until Pub/Sub
// accepts it or answers with a permanent error, with exponential backoff and full jitter between
// attempts. Below it: an HttpSender (the auth layer over the HTTP client). Above it: the
// per-ordering-key queues (pubsub_queue.hpp), through the BatchPublisher seam.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "pos/collector/sink.hpp"
#include "pos/common/backoff.hpp"
#include "pos/protocol/result.hpp"
#include "pubsub_http.hpp"

namespace pos::collector::detail {

/// Publishes whole request bodies: the seam between the queues and the retry layer.
class BatchPublisher {
 public:
  using Done = std::function<void(Status)>;
  virtual ~BatchPublisher() = default;
  /// Publishes `body` ({"messages":[...]} with `count` messages) to `destination`'s topic.
  /// `done` runs exactly once, later, on the executor (never inline): ok when Pub/Sub accepted
  /// every message, an error (naming the topic) only for a permanent failure. Transient failures
  /// are the implementation's to retry. Never runs after shutdown(). Not thread-safe.
  virtual void publish(Destination destination, std::string body, std::size_t count, Done done) = 0;
  /// Abandons outstanding requests (their `done` never runs) and shuts down the layer below.
  virtual void shutdown() = 0;
};

/// Makes the backoff of one request (a fresh one per request, so a key's retries start small).
using BackoffFactory = std::function<std::unique_ptr<common::Backoff>()>;

/// Counters of the retry layer, read on the executor.
struct RetryStats {
  std::uint64_t attempts = 0;  ///< requests handed to the sender (retries included)
  std::uint64_t accepted = 0;
  std::uint64_t retried = 0;  ///< attempts that failed transiently (each is retried)
  std::uint64_t messages_accepted = 0;
  std::uint64_t permanent_errors = 0;
};

/// Retries 401, 408, 409, 429, 499, 5xx (classify_status), sender errors (transport, timeout,
/// auth) and answers without one message id per message, forever or until shutdown(), each
/// after the next delay of the request's backoff; a retry resends the same body. Other statuses
/// fail the request with publish_error()'s text. Each request is independent: a request waiting
/// to be retried holds up nobody else (the queues keep a key's order by having one request of a
/// key outstanding). Not thread-safe: one executor thread, except healthy().
class PublishRetrier final : public BatchPublisher,
                             public std::enable_shared_from_this<PublishRetrier> {
 public:
  /// `topic_path(destination)` gives "projects/p/topics/t"; requests go to
  /// "/v1/{topic path}:publish".
  PublishRetrier(boost::asio::any_io_executor executor, std::shared_ptr<HttpSender> sender,
                 std::function<std::string(Destination)> topic_path, BackoffFactory backoff);

  void publish(Destination destination, std::string body, std::size_t count, Done done) override;
  void shutdown() override;

  /// False from a transient failure until the next accepted request. Thread-safe.
  bool healthy() const noexcept { return m_healthy.load(); }
  const RetryStats& stats() const noexcept { return m_stats; }

 private:
  struct Request;
  void attempt(const std::shared_ptr<Request>& request);
  void on_reply(const std::shared_ptr<Request>& request, Result<HttpReply> reply);
  void retry_later(const std::shared_ptr<Request>& request, const std::string& why);
  void finish(const std::shared_ptr<Request>& request, Status status);

  boost::asio::any_io_executor m_executor;
  std::shared_ptr<HttpSender> m_sender;
  std::function<std::string(Destination)> m_topic_path;
  BackoffFactory m_backoff;
  std::map<std::uint64_t, std::shared_ptr<Request>> m_requests;
  std::uint64_t m_next_id = 1;
  RetryStats m_stats;
  std::atomic<bool> m_healthy{true};
  bool m_shutdown = false;
};

}  // namespace pos::collector::detail
