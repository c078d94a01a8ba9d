#include "support/mqtt_client.hpp"

#include <mqtt/async_client.h>

#include <stdexcept>
#include <utility>

namespace pos::test {
namespace {

constexpr std::size_t max_buffered_messages = 100000;

std::string describe(const mqtt::exception& e) {
  return e.what() + std::string(" (rc ") + std::to_string(e.get_return_code()) + ", reason " +
         std::to_string(e.get_reason_code()) + ")";
}

}  // namespace

bool topic_matches(std::string_view filter, std::string_view topic) {
  while (true) {
    const auto fslash = filter.find('/');
    const auto flevel = filter.substr(0, fslash);
    if (flevel == "#") {
      return true;
    }
    const auto tslash = topic.find('/');
    const auto tlevel = topic.substr(0, tslash);
    if (flevel != "+" && flevel != tlevel) {
      return false;
    }
    if (fslash == std::string_view::npos || tslash == std::string_view::npos) {
      if (fslash == std::string_view::npos && tslash == std::string_view::npos) {
        return true;
      }
      // "a/#" also matches "a".
      return tslash == std::string_view::npos && filter.substr(fslash + 1) == "#";
    }
    filter.remove_prefix(fslash + 1);
    topic.remove_prefix(tslash + 1);
  }
}

TestMqttClient::TestMqttClient(TestMqttClientOptions options) : m_options(std::move(options)) {
  // nullptr persistence: in memory only, nothing written to the working directory.
  m_client = std::make_unique<mqtt::async_client>(m_options.uri, m_options.client_id,
                                                  mqtt::create_options(MQTTVERSION_5), nullptr);
  m_client->set_message_callback([this](mqtt::const_message_ptr msg) {
    try {
      on_message({msg->get_topic(), msg->get_payload_str(), msg->is_retained(), msg->get_qos()});
    } catch (...) {  // never throw into Paho
    }
  });
}

TestMqttClient::~TestMqttClient() {
  disconnect();
  m_client->set_message_callback(nullptr);
}

bool TestMqttClient::connect() {
  // Paho C++ 1.2.0 copies connect_options shallowly (the properties and the ssl error handler's
  // context dangle in the copy), so the options live in a member for the client's lifetime and
  // no ssl error_handler is installed.
  auto ssl = mqtt::ssl_options_builder()
                 .trust_store(m_options.ca_file.string())
                 .enable_server_cert_auth(true)
                 .verify(true)
                 .finalize();
  if (m_options.client_cert) {
    ssl.set_key_store(m_options.client_cert->cert.string());
    ssl.set_private_key(m_options.client_cert->key.string());
  }
  m_connect_options = std::make_unique<mqtt::connect_options>();
  auto& opts = *m_connect_options;
  opts.set_mqtt_version(MQTTVERSION_5);
  opts.set_clean_start(m_options.clean_start);
  opts.set_connect_timeout(m_options.timeout);
  opts.set_keep_alive_interval(std::chrono::seconds(30));
  opts.set_ssl(std::move(ssl));
  if (m_options.session_expiry_s > 0) {
    mqtt::properties props;
    props.add(
        {mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int>(m_options.session_expiry_s)});
    opts.set_properties(props);
  }
  {
    std::lock_guard lock(m_mutex);
    m_tls_errors.clear();
  }
  try {
    auto tok = m_client->connect(opts);
    if (!tok->wait_for(m_options.timeout + std::chrono::seconds(2))) {
      throw std::runtime_error("TestMqttClient: connect to " + m_options.uri + " timed out");
    }
    tok->get_connect_response();  // rethrows a failure
    return tok->get_connect_response().is_session_present();
  } catch (const mqtt::exception& e) {
    throw std::runtime_error("TestMqttClient: connect to " + m_options.uri + " as " +
                             m_options.client_id + " failed: " + describe(e) +
                             "; TLS: " + tls_errors());
  }
}

void TestMqttClient::disconnect() {
  try {
    if (m_client->is_connected()) {
      m_client->disconnect()->wait_for(m_options.timeout);
    }
  } catch (...) {
  }
}

bool TestMqttClient::connected() const {
  return m_client->is_connected();
}

void TestMqttClient::subscribe(const std::string& topic_filter, int qos) {
  try {
    auto tok = m_client->subscribe(topic_filter, qos);
    if (!tok->wait_for(m_options.timeout)) {
      throw std::runtime_error("TestMqttClient: subscribe " + topic_filter + " timed out");
    }
    const auto response = tok->get_subscribe_response();
    for (const auto rc : response.get_reason_codes()) {
      if (rc >= 0x80) {
        throw std::runtime_error("TestMqttClient: subscribe " + topic_filter + " refused, reason " +
                                 std::to_string(rc));
      }
    }
  } catch (const mqtt::exception& e) {
    throw std::runtime_error("TestMqttClient: subscribe " + topic_filter + ": " + describe(e));
  }
}

int TestMqttClient::publish(const std::string& topic, std::string_view payload, int qos,
                            bool retained) {
  try {
    auto msg = mqtt::make_message(topic, payload.data(), payload.size(), qos, retained);
    auto tok = m_client->publish(msg);
    if (!tok->wait_for(m_options.timeout)) {
      throw std::runtime_error("TestMqttClient: publish to " + topic + " timed out");
    }
    return tok->get_reason_code();
  } catch (const mqtt::exception& e) {
    if (e.get_reason_code() >= 0x80) {
      return e.get_reason_code();
    }
    throw std::runtime_error("TestMqttClient: publish to " + topic + ": " + describe(e));
  }
}

void TestMqttClient::on_message(MqttMessage message) {
  {
    std::lock_guard lock(m_mutex);
    if (m_messages.size() >= max_buffered_messages) {
      m_messages.pop_front();
    }
    m_messages.push_back(std::move(message));
  }
  m_cv.notify_all();
}

std::vector<MqttMessage> TestMqttClient::wait_for_messages(const std::string& topic_filter,
                                                           std::size_t count,
                                                           std::chrono::milliseconds timeout) {
  return wait_for_messages(
      [topic_filter](const MqttMessage& m) { return topic_matches(topic_filter, m.topic); }, count,
      timeout);
}

std::vector<MqttMessage> TestMqttClient::wait_for_messages(
    std::function<bool(const MqttMessage&)> predicate, std::size_t count,
    std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  const auto matching = [&] {
    std::size_t n = 0;
    for (const auto& m : m_messages) {
      n += predicate(m) ? 1 : 0;
    }
    return n;
  };
  m_cv.wait_for(lock, timeout, [&] { return matching() >= count; });
  std::vector<MqttMessage> out;
  std::deque<MqttMessage> rest;
  for (auto& m : m_messages) {
    if (predicate(m)) {
      out.push_back(std::move(m));
    } else {
      rest.push_back(std::move(m));
    }
  }
  m_messages = std::move(rest);
  return out;
}

std::vector<MqttMessage> TestMqttClient::messages() const {
  std::lock_guard lock(m_mutex);
  return {m_messages.begin(), m_messages.end()};
}

void TestMqttClient::clear() {
  std::lock_guard lock(m_mutex);
  m_messages.clear();
}

std::string TestMqttClient::tls_errors() const {
  std::lock_guard lock(m_mutex);
  return m_tls_errors;
}

}  // namespace pos::test
