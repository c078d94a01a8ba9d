#pragma once
// The collector's output seam: where accepted events (and dead letters) go. Implementations:
// PubSubSink (production) and FileSink (local use, benchmarks).

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::collector {

/// Which output a message goes to: the events topic, the dead-letter topic, or the health topic
/// (alert transitions, when one is configured).
enum class Destination { events, dead_letter, health };

/// "events", "dead_letter" or "health".
std::string_view to_string(Destination destination) noexcept;

/// One message to publish. `ordering_key` groups messages whose completions (and, with ordering
/// on, whose delivery) keep call order; it is sent to Pub/Sub only when ordering is on.
struct OutMessage {
  std::string data;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string ordering_key;
};

/// Where published messages go. All members are called on the executor given to the
/// implementation at construction (not thread-safe), except pending_bytes() and healthy(), which
/// may be called from any thread.
class Sink {
 public:
  using Done = std::function<void(Status)>;

  virtual ~Sink() = default;

  /// Publishes `messages`. `done` runs later on the sink's executor, exactly once, unless stop()
  /// ended the sink first:
  /// - ok only when every message of the call has been accepted (Pub/Sub returned its id);
  /// - an error only for a permanent failure (bad request, missing topic, no permission, a
  ///   message over the size limit); transient failures are retried internally, with backoff and
  ///   full jitter, until they succeed or stop() is called.
  /// Calls whose first message has the same ordering key complete in call order.
  virtual void publish(Destination destination, std::vector<OutMessage> messages, Done done) = 0;

  /// Bytes accepted by publish() and not yet completed. The caller bounds memory by pausing
  /// intake (e.g. not taking new MQTT batches) while this is over its limit.
  virtual std::size_t pending_bytes() const = 0;

  /// False while the output is failing (last attempt hit a transient error, or auth failed).
  virtual bool healthy() const = 0;

  /// Stops: flushes what is queued, waits up to `drain_timeout` for outstanding calls, then
  /// abandons the rest (their `done` is never called) and runs `stopped` on the executor.
  /// publish() after stop() fails the call at once with "sink stopped".
  virtual void stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped) = 0;
};

}  // namespace pos::collector
