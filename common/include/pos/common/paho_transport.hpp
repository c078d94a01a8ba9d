#pragma once
// The MQTT transport on Eclipse Paho MQTT C++: MQTT 5, QoS 1, mutual TLS (server verified against a
// configured CA, host name checked, TLS 1.2 or newer), persistent session, retained last will.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "pos/common/mqtt_settings.hpp"
#include "pos/common/transport.hpp"

namespace pos::common {

struct PahoTransportOptions {
  /// The brokers, our identity and the session's timing (topic_prefix unused). With more than
  /// one URI, each connect() is a round through them in the order given: the first broker that
  /// accepts wins (each attempt bounded by connect_timeout), a refusal moves on to the next at
  /// once, and on_disconnected reports only when every one failed (naming each). The next
  /// round starts at the first again. The caller puts them in its order (the agent:
  /// till_broker_order). One Paho client per broker, all with the same client id.
  MqttSettings mqtt;
  /// Discard the broker's session at each connect (MQTT 5 clean start): nothing queued while
  /// offline is delivered. The agent uses it so that every ack answers this connection's batches.
  bool clean_start = false;
  std::string will_topic;  ///< empty: no last will; else retained, QoS 1
  std::string will_payload;
};

/// Transport over Paho's async_client. No automatic reconnect: the caller drives reconnects.
/// Paho callbacks only copy their data and post it onto the executor; handlers and completions
/// run there. Methods must be called from that executor. Completions still pending at
/// destruction are dropped.
class PahoTransport final : public Transport {
 public:
  /// Throws StartupError for a bad uri list (check_mqtt_uris, naming `mqtt.uri[i]`), an empty
  /// client id or (TLS) a missing file option.
  PahoTransport(boost::asio::any_io_executor executor, PahoTransportOptions options);
  ~PahoTransport() override;
  PahoTransport(const PahoTransport&) = delete;
  PahoTransport& operator=(const PahoTransport&) = delete;

  void set_handlers(Handlers handlers) override;
  void connect() override;
  void publish(std::string topic, std::string payload, bool retained,
               std::function<void(Status)> done) override;
  void subscribe(std::string topic_filter, std::function<void(Status)> done) override;
  void disconnect(std::chrono::milliseconds timeout, std::function<void()> done) override;
  bool is_connected() const override;
  std::string connected_uri() const override;

 private:
  struct Impl;
  std::shared_ptr<Impl> m_impl;
};

}  // namespace pos::common
