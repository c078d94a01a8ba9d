// The one fake of the MQTT seam (pos::common::Transport) for unit tests of the agent and the
// collector. Header-only (target pos::test_headers).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "pos/common/transport.hpp"

namespace pos::test {

/// Records publishes and subscriptions; the test decides connect outcomes, completes or fails
/// publishes, drops the connection and injects messages. Every handler and completion is posted
/// on the given executor, like the real transport. Not thread-safe: use it (and its public
/// fields) from the executor's thread only.
class FakeTransport final : public common::Transport {
 public:
  /// Whether the fake is connected before the first connect(): the collector's processors are
  /// handed a connected transport; the agent's forwarder connects it itself.
  enum class Initially { connected, disconnected };

  struct Publish {
    std::string topic;
    std::string payload;
    bool retained = false;
    std::function<void(Status)> done;
  };

  explicit FakeTransport(boost::asio::any_io_executor executor,
                         Initially initially = Initially::connected)
      : m_executor(std::move(executor)), m_connected(initially == Initially::connected) {}

  /// The next `fail_connects` connect() calls fail with "refused".
  int fail_connects = 0;
  /// When set, connect() stays pending until finish_connect().
  bool hold_connect = false;
  /// When set, every publish is acknowledged (PUBACK) at once; otherwise complete() does it.
  bool auto_complete = true;
  /// The next `fail_publishes` publishes are recorded and then fail with "not authorised".
  int fail_publishes = 0;

  /// Publishes made while connected, in order (failed ones included).
  std::vector<Publish> publishes;
  std::vector<std::string> subscriptions;
  /// What connected_uri() answers while connected.
  std::string uri = "mqtt://fake-broker:1883";
  int connect_calls = 0;
  int disconnect_calls = 0;

  void set_handlers(Handlers handlers) override { m_handlers = std::move(handlers); }

  void connect() override {
    ++connect_calls;
    if (hold_connect) {
      return;
    }
    if (fail_connects > 0) {
      --fail_connects;
      post([this] { m_handlers.on_disconnected("refused"); });
      return;
    }
    finish_connect();
  }

  /// Completes a connect() held by `hold_connect`: the session comes up.
  void finish_connect() {
    post([this] {
      m_connected = true;
      m_handlers.on_connected();
    });
  }

  /// Fails with "not connected" (and records nothing) while disconnected.
  void publish(std::string topic, std::string payload, bool retained,
               std::function<void(Status)> done) override {
    if (!m_connected) {
      post([done] { done(fail("not connected")); });
      return;
    }
    publishes.push_back({std::move(topic), std::move(payload), retained, done});
    if (fail_publishes > 0) {
      --fail_publishes;
      post([done] { done(fail("not authorised")); });
    } else if (auto_complete) {
      post([done] { done(Status{}); });
    }
  }

  /// Completes publish number `index` (PUBACK, or failure when `status` holds an error). Throws
  /// std::out_of_range for an index never published.
  void complete(std::size_t index, Status status = {}) {
    auto done = publishes.at(index).done;
    post([done, status] { done(status); });
  }

  void subscribe(std::string topic_filter, std::function<void(Status)> done) override {
    subscriptions.push_back(std::move(topic_filter));
    post([done] { done(Status{}); });
  }

  void disconnect(std::chrono::milliseconds, std::function<void()> done) override {
    ++disconnect_calls;
    m_connected = false;
    post([done] { done(); });
  }

  bool is_connected() const override { return m_connected; }
  std::string connected_uri() const override { return m_connected ? uri : std::string(); }

  /// The connection drops (keepalive timeout, broker restart).
  void drop(std::string reason = "connection lost") {
    m_connected = false;
    post([this, reason] { m_handlers.on_disconnected(reason); });
  }

  /// A message arrives from the broker.
  void inject(std::string topic, std::string payload) {
    post(
        [this, message = common::TransportMessage{std::move(topic), std::move(payload)}]() mutable {
          m_handlers.on_message(std::move(message));
        });
  }

  /// Publishes on `topic`, in order.
  std::vector<Publish> on_topic(const std::string& topic) const {
    std::vector<Publish> out;
    for (const auto& p : publishes) {
      if (p.topic == topic) {
        out.push_back(p);
      }
    }
    return out;
  }

 private:
  template <class F>
  void post(F f) {
    boost::asio::post(m_executor, std::move(f));
  }

  boost::asio::any_io_executor m_executor;
  Handlers m_handlers;
  bool m_connected;
};

}  // namespace pos::test
