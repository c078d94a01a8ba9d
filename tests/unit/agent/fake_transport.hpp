#pragma once
// Transport fake for unit tests at the transport seam: records publishes and subscriptions, lets
// the test decide connect outcomes, complete or fail publishes, drop the connection and inject
// messages. Every handler and completion is posted on the given executor, like the real one.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <string>
#include <vector>

#include "pos/agent/transport.hpp"

namespace pos::agent::test {

class FakeTransport final : public Transport {
 public:
  struct Publish {
    std::string topic;
    std::string payload;
    bool retained = false;
    std::function<void(Status)> done;
  };

  explicit FakeTransport(boost::asio::any_io_executor executor) : m_executor(std::move(executor)) {}

  /// The next `fail_connects` connect() calls fail with "refused".
  int fail_connects = 0;
  /// When set, connect() stays pending until finish_connect().
  bool hold_connect = false;
  /// When set, every publish is acknowledged (PUBACK) at once; otherwise complete() does it.
  bool auto_complete = true;

  std::vector<Publish> publishes;
  std::vector<std::string> subscriptions;
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

  void finish_connect() {
    post([this] {
      m_connected = true;
      m_handlers.on_connected();
    });
  }

  void publish(std::string topic, std::string payload, bool retained,
               std::function<void(Status)> done) override {
    if (!m_connected) {
      post([done] { done(fail("not connected")); });
      return;
    }
    publishes.push_back({std::move(topic), std::move(payload), retained, done});
    if (auto_complete) {
      post([done] { done(Status{}); });
    }
  }

  /// Completes publish number `index` (PUBACK, or failure when `status` holds an error).
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

  /// The connection drops (keepalive timeout, broker restart).
  void drop(std::string reason = "connection lost") {
    m_connected = false;
    post([this, reason] { m_handlers.on_disconnected(reason); });
  }

  /// A message arrives from the broker.
  void inject(std::string topic, std::string payload) {
    post([this, message = TransportMessage{std::move(topic), std::move(payload)}]() mutable {
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
  bool m_connected = false;
};

}  // namespace pos::agent::test
