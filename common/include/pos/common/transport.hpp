#pragma once
// Seam between our code and MQTT. The real implementation is PahoTransport (MQTT 5, QoS 1,
// mutual TLS, persistent session); unit tests use a fake.

#include <chrono>
#include <functional>
#include <string>

#include "pos/protocol/result.hpp"

namespace pos::common {

struct TransportMessage {
  std::string topic;
  std::string payload;
};

/// Every handler and completion runs on the executor given to the implementation (never on a
/// library thread), and must not throw. Methods are called from that executor only.
class Transport {
 public:
  struct Handlers {
    std::function<void()> on_connected;  ///< session up (subscriptions kept)
    std::function<void(const std::string& reason)> on_disconnected;  ///< connect failed or lost
    std::function<void(TransportMessage)> on_message;
  };

  virtual ~Transport() = default;

  virtual void set_handlers(Handlers handlers) = 0;

  /// Starts one connection attempt; the outcome arrives as on_connected or on_disconnected.
  /// Reconnecting (with backoff) is the caller's job.
  virtual void connect() = 0;

  /// Publishes at QoS 1; `done` runs when the broker acknowledged (PUBACK) or the publish failed.
  virtual void publish(std::string topic, std::string payload, bool retained,
                       std::function<void(Status)> done) = 0;

  /// Subscribes at QoS 1; `done` runs with the outcome.
  virtual void subscribe(std::string topic_filter, std::function<void(Status)> done) = 0;

  /// Disconnects cleanly (no last will), waiting at most `timeout`; `done` runs afterwards.
  virtual void disconnect(std::chrono::milliseconds timeout, std::function<void()> done) = 0;

  virtual bool is_connected() const = 0;

  /// The URI of the broker of the current connection (one of several the implementation may try,
  /// as given to it); empty while not connected.
  virtual std::string connected_uri() const = 0;
};

}  // namespace pos::common
