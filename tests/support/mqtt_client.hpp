// An MQTT 5 test client (Paho C++) over TLS with a client certificate, collecting what it
// receives.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/pki.hpp"

namespace mqtt {
class async_client;
class connect_options;
}  // namespace mqtt

namespace pos::test {

struct MqttMessage {
  std::string topic;
  std::string payload;
  bool retained = false;
  int qos = 0;
};

// MQTT topic filter matching with '+' and '#' (no $share handling).
bool topic_matches(std::string_view filter, std::string_view topic);

struct TestMqttClientOptions {
  std::string uri;        // e.g. MosquittoBroker::uri()
  std::string client_id;  // must be unique per broker
  std::filesystem::path ca_file;
  std::optional<CertKey> client_cert;  // nullopt: connect without a client certificate
  bool clean_start = true;
  std::uint32_t session_expiry_s = 0;  // > 0 keeps the session after a disconnect
  std::chrono::milliseconds timeout = std::chrono::seconds(10);  // per operation
};

// One MQTT 5 connection (verifies the server certificate and its host name). Operations block
// until the broker answers or the timeout passes. Received messages are kept (at most 100000;
// the oldest are dropped beyond) until taken by wait_for_messages(). Thread-safe.
class TestMqttClient {
 public:
  // Creates the client without connecting. Throws mqtt::exception on a bad URI.
  explicit TestMqttClient(TestMqttClientOptions options);
  ~TestMqttClient();
  TestMqttClient(const TestMqttClient&) = delete;
  TestMqttClient& operator=(const TestMqttClient&) = delete;

  // Connects; throws std::runtime_error with the reason (TLS errors included) when refused or
  // timed out. Returns whether the broker resumed an existing session.
  bool connect();
  // Disconnects cleanly; no-op when not connected. Never throws.
  void disconnect();
  bool connected() const;

  // Subscribes; throws std::runtime_error when the broker refuses (reason code >= 0x80).
  void subscribe(const std::string& topic_filter, int qos = 1);
  // Publishes and waits for completion (PUBACK for QoS 1). Returns the MQTT 5 reason code: 0
  // when accepted, >= 0x80 when the broker refused it (e.g. 0x87 not authorised). Throws
  // std::runtime_error on timeout or lost connection.
  int publish(const std::string& topic, std::string_view payload, int qos = 1,
              bool retained = false);

  // Waits until at least `count` buffered messages match, or the timeout. Removes and returns
  // every matching buffered message in arrival order (fewer than `count` after a timeout).
  std::vector<MqttMessage> wait_for_messages(const std::string& topic_filter, std::size_t count,
                                             std::chrono::milliseconds timeout);
  std::vector<MqttMessage> wait_for_messages(std::function<bool(const MqttMessage&)> predicate,
                                             std::size_t count, std::chrono::milliseconds timeout);
  // Copy of the buffered messages.
  std::vector<MqttMessage> messages() const;
  void clear();
  // TLS error text reported by Paho during the last connect (empty when none).
  std::string tls_errors() const;

 private:
  void on_message(MqttMessage message);

  TestMqttClientOptions m_options;
  std::unique_ptr<mqtt::connect_options> m_connect_options;  // outlives m_client
  std::unique_ptr<mqtt::async_client> m_client;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<MqttMessage> m_messages;
  std::string m_tls_errors;
};

}  // namespace pos::test
