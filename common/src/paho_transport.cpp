#include "pos/common/paho_transport.hpp"

#include <mqtt/async_client.h>
#include <mqtt/connect_options.h>
#include <mqtt/create_options.h>
#include <mqtt/properties.h>
#include <mqtt/ssl_options.h>
#include <mqtt/will_options.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

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
          m_impl.post_completion(m_op, op_id(token), std::nullopt);
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
    Impl& m_impl;
    Op m_op;
  };

  Impl(boost::asio::any_io_executor executor_, PahoTransportOptions options_)
      : executor(std::move(executor_)), options(std::move(options_)) {}

  /// Called from Paho threads: copies and posts only.
  void post_completion(Op op, std::uintptr_t id, std::optional<std::string> error) {
    boost::asio::post(executor, [weak = weak_from_this(), op, id, error = std::move(error)] {
      if (auto self = weak.lock()) {
        self->complete(op, id, error);
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

  /// Starts the connect attempt to broker `index` of this round.
  void attempt(std::size_t index) {
    active = index;
    const auto id = ++connect_id;
    try {
      clients[index]->connect(connect_options, op_context(id), connect_listener);
    } catch (const std::exception& e) {
      post_completion(Op::connect, id, std::string(e.what()));
    }
  }

  void complete(Op op, std::uintptr_t id, const std::optional<std::string>& error) {
    switch (op) {
      case Op::connect:
        if (!connecting || id != connect_id) {
          return;
        }
        if (error) {
          const auto& uri = options.mqtt.uris[active];
          round_errors += (round_errors.empty() ? "" : "; ") +
                          (clients.size() > 1 ? uri + ": " : std::string()) + *error;
          if (active + 1 < clients.size()) {
            spdlog::debug("mqtt: {}: {}; trying {}", uri, *error, options.mqtt.uris[active + 1]);
            attempt(active + 1);
            return;
          }
          connecting = false;
          if (handlers.on_disconnected) {
            handlers.on_disconnected(round_errors);
          }
        } else {
          connecting = false;
          connected = true;
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

  void lost(std::size_t index, const std::string& cause) {
    if (!connected || disconnecting || index != active) {
      return;
    }
    connected = false;
    if (handlers.on_disconnected) {
      handlers.on_disconnected(cause.empty() ? std::string("connection lost") : cause);
    }
  }

  /// Starts one QoS 1 operation of the active client (`what`: publish or subscribe): `call`
  /// gets the operation's Paho context, `done` runs on the executor with the broker's answer.
  /// Not connected, or a Paho exception, fails `done` later (`{what}: {error}`), never at once.
  template <class Call>
  void start_operation(std::string_view what, std::function<void(Status)> done, Call call) {
    if (!connected) {
      fail_later(std::move(done), "not connected");
      return;
    }
    const auto id = ++next_op;
    pending.emplace(id, std::move(done));
    try {
      call(op_context(id));
    } catch (const std::exception& e) {
      auto node = pending.extract(id);
      fail_later(std::move(node.mapped()), std::string(what) + ": " + e.what());
    }
  }

  void fail_later(std::function<void(Status)> done, std::string message) {
    post_guarded([done = std::move(done), message = std::move(message)](Impl&) {
      if (done) {
        done(fail(message));
      }
    });
  }

  /// Callbacks of client `index`; what a client other than the active one reports (a late
  /// message or loss from the broker before a failover) is dropped.
  void install_callbacks(std::size_t index) {
    const auto weak = weak_from_this();
    auto executor_copy = executor;
    auto& client = *clients[index];
    client.set_connection_lost_handler([weak, executor_copy, index](const std::string& cause) {
      try {
        boost::asio::post(executor_copy, [weak, cause, index] {
          if (auto self = weak.lock()) {
            self->lost(index, cause);
          }
        });
      } catch (...) {
      }
    });
    client.set_disconnected_handler([weak, executor_copy, index](const mqtt::properties&,
                                                                 mqtt::ReasonCode reason) {
      try {
        std::string cause = "broker sent DISCONNECT: " + mqtt::exception::reason_code_str(reason);
        boost::asio::post(executor_copy, [weak, cause = std::move(cause), index] {
          if (auto self = weak.lock()) {
            self->lost(index, cause);
          }
        });
      } catch (...) {
      }
    });
    client.set_message_callback(
        [weak, executor_copy, index](const mqtt::const_message_ptr& message) {
          try {
            if (!message) {
              return;
            }
            TransportMessage copy{message->get_topic(), message->get_payload_str()};
            boost::asio::post(executor_copy, [weak, copy = std::move(copy), index]() mutable {
              if (auto self = weak.lock();
                  self && self->connected && self->active == index && self->handlers.on_message) {
                self->handlers.on_message(std::move(copy));
              }
            });
          } catch (...) {
          }
        });
  }

  mqtt::async_client& client() { return *clients[active]; }

  boost::asio::any_io_executor executor;
  PahoTransportOptions options;
  mqtt::connect_options connect_options;
  Handlers handlers;
  bool connecting = false;
  bool connected = false;
  bool disconnecting = false;
  std::size_t active = 0;  ///< the broker (index into options.mqtt.uris) of the attempt or session
  std::uintptr_t connect_id = 0;  ///< of the attempt in progress: older completions are stale
  std::string round_errors;       ///< why each broker of this connect round failed
  std::uintptr_t next_op = 0;
  std::unordered_map<std::uintptr_t, std::function<void(Status)>> pending;
  std::function<void()> disconnect_done;
  Listener connect_listener{*this, Op::connect};
  Listener operation_listener{*this, Op::operation};
  Listener disconnect_listener{*this, Op::disconnect};
  /// One client per broker, in options.mqtt.uris order. Declared last: destroyed first, so no
  /// Paho callback can reach the listeners above after.
  std::vector<std::unique_ptr<mqtt::async_client>> clients;
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
  // Our own rotation rather than Paho's serverURIs: Paho C 1.3.12 reports a wrong entry as the
  // broker it reached after a failover, and the agent must know where it is.
  for (std::size_t i = 0; i < m.uris.size(); ++i) {
    try {
      impl.clients.push_back(std::make_unique<mqtt::async_client>(
          m.uris[i], m.client_id, mqtt::create_options(MQTTVERSION_5)));
    } catch (const mqtt::exception& e) {
      throw StartupError((m.uris.size() > 1 ? "mqtt.uri[" + std::to_string(i) + "]" : "mqtt.uri") +
                         ": " + std::string(e.what()));
    }
    impl.install_callbacks(i);
  }
}

PahoTransport::~PahoTransport() {
  if (m_impl) {
    for (auto& client : m_impl->clients) {
      try {
        client->disable_callbacks();
      } catch (...) {
      }
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
  impl.round_errors.clear();
  impl.attempt(0);
}

void PahoTransport::publish(std::string topic, std::string payload, bool retained,
                            std::function<void(Status)> done) {
  auto& impl = *m_impl;
  impl.start_operation("publish", std::move(done), [&](void* context) {
    auto message = mqtt::make_message(std::move(topic), std::move(payload), 1, retained);
    impl.client().publish(message, context, impl.operation_listener);
  });
}

void PahoTransport::subscribe(std::string topic_filter, std::function<void(Status)> done) {
  auto& impl = *m_impl;
  impl.start_operation("subscribe", std::move(done), [&](void* context) {
    impl.client().subscribe(topic_filter, 1, context, impl.operation_listener);
  });
}

void PahoTransport::disconnect(std::chrono::milliseconds timeout, std::function<void()> done) {
  auto& impl = *m_impl;
  impl.disconnecting = true;
  impl.connecting = false;
  const bool was_connected = impl.connected;
  impl.connected = false;
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
    impl.client().disconnect(static_cast<int>(timeout.count()), nullptr, impl.disconnect_listener);
  } catch (const std::exception& e) {
    spdlog::debug("mqtt: disconnect: {}", e.what());
    impl.post_guarded([](Impl& self) { self.complete(Impl::Op::disconnect, 0, std::nullopt); });
  }
}

bool PahoTransport::is_connected() const {
  return m_impl->connected;
}

std::string PahoTransport::connected_uri() const {
  return m_impl->connected ? m_impl->options.mqtt.uris[m_impl->active] : std::string();
}

}  // namespace pos::common
