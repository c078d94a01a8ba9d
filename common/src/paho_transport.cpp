#include "pos/common/paho_transport.hpp"

#include <mqtt/async_client.h>
#include <mqtt/connect_options.h>
#include <mqtt/create_options.h>
#include <mqtt/properties.h>
#include <mqtt/ssl_options.h>
#include <mqtt/string_collection.h>
#include <mqtt/will_options.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "pos/common/startup_error.hpp"

namespace pos::common {
namespace {

std::string describe(const mqtt::token& token) {
  return mqtt::exception::printable_error(token.get_return_code(), token.get_reason_code());
}

std::uintptr_t op_id(const mqtt::token& token) {
  return reinterpret_cast<std::uintptr_t>(token.get_user_context());
}

// The user context carries an operation id, never dereferenced.
void* op_context(std::uintptr_t id) {
  return reinterpret_cast<void*>(id);  // NOLINT(performance-no-int-to-ptr)
}

}  // namespace

/// Shared with Paho's threads only through weak pointers: a callback that arrives after the
/// transport is gone finds nothing to post to.
struct PahoTransport::Impl : std::enable_shared_from_this<Impl> {
  enum class Op { connect, operation, disconnect };

  /// One listener per kind of operation; the op id travels in the token's user context.
  class Listener final : public mqtt::iaction_listener {
   public:
    Listener(Impl& impl, Op op) : m_impl(impl), m_op(op) {}
    void on_success(const mqtt::token& token) override {
      try {
        const auto reason = token.get_reason_code();
        if (reason >= mqtt::ReasonCode::UNSPECIFIED_ERROR) {
          m_impl.post_completion(m_op, op_id(token), describe(token));
        } else {
          m_impl.post_completion(m_op, op_id(token), std::nullopt,
                                 m_op == Op::connect ? server_of(token) : std::string());
        }
      } catch (...) {
      }
    }
    void on_failure(const mqtt::token& token) override {
      try {
        m_impl.post_completion(m_op, op_id(token), describe(token));
      } catch (...) {
      }
    }

   private:
    // The broker this connect reached (one of serverURIs). Paho marks the token complete before
    // it calls the listener, so the response is there without waiting.
    static std::string server_of(const mqtt::token& token) {
      try {
        return token.get_connect_response().get_server_uri();
      } catch (const std::exception&) {
        return {};
      }
    }

    Impl& m_impl;
    Op m_op;
  };

  Impl(boost::asio::any_io_executor executor_, PahoTransportOptions options_)
      : executor(std::move(executor_)), options(std::move(options_)) {}

  /// Called from Paho threads: copies and posts only.
  void post_completion(Op op, std::uintptr_t id, std::optional<std::string> error,
                       std::string server_uri = {}) {
    boost::asio::post(executor, [weak = weak_from_this(), op, id, error = std::move(error),
                                 server_uri = std::move(server_uri)]() mutable {
      if (auto self = weak.lock()) {
        self->complete(op, id, error, std::move(server_uri));
      }
    });
  }

  template <class F>
  void post_guarded(F f) {
    boost::asio::post(executor, [weak = weak_from_this(), f = std::move(f)]() mutable {
      if (auto self = weak.lock()) {
        f(*self);
      }
    });
  }

  void complete(Op op, std::uintptr_t id, const std::optional<std::string>& error,
                std::string server_uri = {}) {
    switch (op) {
      case Op::connect:
        if (!connecting) {
          return;
        }
        connecting = false;
        if (error) {
          if (handlers.on_disconnected) {
            handlers.on_disconnected(*error);
          }
        } else {
          connected = true;
          // Paho reports the URI as listed; with one broker it is that one in any case.
          server = server_uri.empty() && options.mqtt.uris.size() == 1 ? options.mqtt.uris.front()
                                                                       : std::move(server_uri);
          if (handlers.on_connected) {
            handlers.on_connected();
          }
        }
        return;
      case Op::operation: {
        auto it = pending.find(id);
        if (it == pending.end()) {
          return;
        }
        auto done = std::move(it->second);
        pending.erase(it);
        if (done) {
          done(error ? Status(fail(*error)) : Status{});
        }
        return;
      }
      case Op::disconnect:
        spdlog::debug("mqtt: disconnected");
        if (disconnect_done) {
          auto done = std::move(disconnect_done);
          disconnect_done = nullptr;
          done();
        }
        return;
    }
  }

  void lost(const std::string& cause) {
    if (!connected || disconnecting) {
      return;
    }
    connected = false;
    server.clear();
    if (handlers.on_disconnected) {
      handlers.on_disconnected(cause.empty() ? std::string("connection lost") : cause);
    }
  }

  void fail_later(std::function<void(Status)> done, std::string message) {
    post_guarded([done = std::move(done), message = std::move(message)](Impl&) {
      if (done) {
        done(fail(message));
      }
    });
  }

  void install_callbacks() {
    const auto weak = weak_from_this();
    auto executor_copy = executor;
    client->set_connection_lost_handler([weak, executor_copy](const std::string& cause) {
      try {
        boost::asio::post(executor_copy, [weak, cause] {
          if (auto self = weak.lock()) {
            self->lost(cause);
          }
        });
      } catch (...) {
      }
    });
    client->set_disconnected_handler([weak, executor_copy](const mqtt::properties&,
                                                           mqtt::ReasonCode reason) {
      try {
        std::string cause = "broker sent DISCONNECT: " + mqtt::exception::reason_code_str(reason);
        boost::asio::post(executor_copy, [weak, cause = std::move(cause)] {
          if (auto self = weak.lock()) {
            self->lost(cause);
          }
        });
      } catch (...) {
      }
    });
    client->set_message_callback([weak, executor_copy](const mqtt::const_message_ptr& message) {
      try {
        if (!message) {
          return;
        }
        TransportMessage copy{message->get_topic(), message->get_payload_str()};
        boost::asio::post(executor_copy, [weak, copy = std::move(copy)]() mutable {
          if (auto self = weak.lock(); self && self->handlers.on_message) {
            self->handlers.on_message(std::move(copy));
          }
        });
      } catch (...) {
      }
    });
  }

  boost::asio::any_io_executor executor;
  PahoTransportOptions options;
  mqtt::connect_options connect_options;
  Handlers handlers;
  bool connecting = false;
  bool connected = false;
  bool disconnecting = false;
  std::string server;  ///< the broker of the current connection
  std::uintptr_t next_op = 0;
  std::unordered_map<std::uintptr_t, std::function<void(Status)>> pending;
  std::function<void()> disconnect_done;
  Listener connect_listener{*this, Op::connect};
  Listener operation_listener{*this, Op::operation};
  Listener disconnect_listener{*this, Op::disconnect};
  /// Declared last: destroyed first, so no Paho callback can reach the listeners above after.
  std::unique_ptr<mqtt::async_client> client;
};

PahoTransport::PahoTransport(boost::asio::any_io_executor executor, PahoTransportOptions options) {
  const auto& settings = options.mqtt;
  if (const auto problem = check_mqtt_uris(settings.uris)) {
    throw StartupError(mqtt_uri_key(*problem, settings.uris.size() > 1) + ": " + problem->message);
  }
  const bool tls = uses_tls(settings);
  if (settings.client_id.empty()) {
    throw StartupError("mqtt.client_id: must not be empty");
  }
  if (tls &&
      (settings.ca_file.empty() || settings.cert_file.empty() || settings.key_file.empty())) {
    throw StartupError("mqtt: ca_file, cert_file and key_file are required for TLS");
  }
  m_impl = std::make_shared<Impl>(std::move(executor), std::move(options));
  auto& impl = *m_impl;
  const auto& o = impl.options;
  const auto& m = o.mqtt;

  mqtt::properties properties;
  properties.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL,
                                static_cast<int32_t>(m.session_expiry.count())));
  mqtt::connect_options_builder builder;
  builder.mqtt_version(MQTTVERSION_5)
      .clean_start(o.clean_start)
      .keep_alive_interval(m.keepalive)
      .connect_timeout(m.connect_timeout)
      .automatic_reconnect(false);
  if (!o.will_topic.empty()) {
    builder.will(mqtt::will_options(o.will_topic, o.will_payload, 1, true));
  }
  if (tls) {
    // No ssl error_handler: Paho C++ 1.2.0 keeps a pointer to the ssl_options copy that set it,
    // which dangles once connect_options is copied.
    builder.ssl(mqtt::ssl_options_builder()
                    .trust_store(m.ca_file)
                    .key_store(m.cert_file)
                    .private_key(m.key_file)
                    .enable_server_cert_auth(true)
                    .verify(true)
                    // Paho's TLS_1_2 pins exactly 1.2; the default method negotiates 1.2 or 1.3
                    // (OpenSSL 3 refuses older versions at its default security level).
                    .ssl_version(MQTT_SSL_VERSION_DEFAULT)
                    .finalize());
  }
  impl.connect_options = builder.finalize();
  // Paho C++ 1.2.0 does not re-point the C struct at the properties when connect_options is
  // copied or moved: set them on the object that lives as long as the client.
  impl.connect_options.set_properties(std::move(properties));
  if (m.uris.size() > 1) {
    // Paho's serverURIs: each connect tries them in this order and takes the first that answers
    // (each with connect_timeout); the URI given to the client below is then not used.
    impl.connect_options.set_servers(mqtt::string_collection::create(m.uris));
  }
  try {
    impl.client = std::make_unique<mqtt::async_client>(m.uris.front(), m.client_id,
                                                       mqtt::create_options(MQTTVERSION_5));
  } catch (const mqtt::exception& e) {
    throw StartupError("mqtt.uri: " + std::string(e.what()));
  }
  impl.install_callbacks();
}

PahoTransport::~PahoTransport() {
  if (m_impl && m_impl->client) {
    try {
      m_impl->client->disable_callbacks();
    } catch (...) {
    }
  }
}

void PahoTransport::set_handlers(Handlers handlers) {
  m_impl->handlers = std::move(handlers);
}

void PahoTransport::connect() {
  auto& impl = *m_impl;
  if (impl.connecting || impl.connected) {
    return;
  }
  impl.connecting = true;
  impl.disconnecting = false;
  try {
    impl.client->connect(impl.connect_options, nullptr, impl.connect_listener);
  } catch (const std::exception& e) {
    std::string reason = e.what();
    impl.post_guarded([reason](Impl& self) {
      if (self.connecting) {
        self.connecting = false;
        if (self.handlers.on_disconnected) {
          self.handlers.on_disconnected(reason);
        }
      }
    });
  }
}

void PahoTransport::publish(std::string topic, std::string payload, bool retained,
                            std::function<void(Status)> done) {
  auto& impl = *m_impl;
  if (!impl.connected) {
    impl.fail_later(std::move(done), "not connected");
    return;
  }
  const auto id = ++impl.next_op;
  impl.pending.emplace(id, std::move(done));
  try {
    auto message = mqtt::make_message(std::move(topic), std::move(payload), 1, retained);
    impl.client->publish(message, op_context(id), impl.operation_listener);
  } catch (const std::exception& e) {
    auto node = impl.pending.extract(id);
    impl.fail_later(std::move(node.mapped()), std::string("publish: ") + e.what());
  }
}

void PahoTransport::subscribe(std::string topic_filter, std::function<void(Status)> done) {
  auto& impl = *m_impl;
  if (!impl.connected) {
    impl.fail_later(std::move(done), "not connected");
    return;
  }
  const auto id = ++impl.next_op;
  impl.pending.emplace(id, std::move(done));
  try {
    impl.client->subscribe(topic_filter, 1, op_context(id), impl.operation_listener);
  } catch (const std::exception& e) {
    auto node = impl.pending.extract(id);
    impl.fail_later(std::move(node.mapped()), std::string("subscribe: ") + e.what());
  }
}

void PahoTransport::disconnect(std::chrono::milliseconds timeout, std::function<void()> done) {
  auto& impl = *m_impl;
  impl.disconnecting = true;
  impl.connecting = false;
  const bool was_connected = impl.connected;
  impl.connected = false;
  impl.server.clear();
  if (!was_connected) {
    impl.post_guarded([done = std::move(done)](Impl&) {
      if (done) {
        done();
      }
    });
    return;
  }
  impl.disconnect_done = std::move(done);
  spdlog::debug("mqtt: disconnecting");
  try {
    impl.client->disconnect(static_cast<int>(timeout.count()), nullptr, impl.disconnect_listener);
  } catch (const std::exception& e) {
    spdlog::debug("mqtt: disconnect: {}", e.what());
    impl.post_guarded([](Impl& self) { self.complete(Impl::Op::disconnect, 0, std::nullopt); });
  }
}

bool PahoTransport::is_connected() const {
  return m_impl->connected;
}

std::string PahoTransport::connected_uri() const {
  return m_impl->connected ? m_impl->server : std::string();
}

}  // namespace pos::common
