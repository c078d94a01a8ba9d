#pragma once
// Transport fake for collector unit tests: connected from the start, records publishes (acks),
// completes them at once or when the test says, posted on the executor like the real one.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <string>
#include <vector>

#include "pos/common/transport.hpp"

namespace pos::collector::test {

class FakeTransport final : public common::Transport {
 public:
  struct Publish {
    std::string topic;
    std::string payload;
    bool retained = false;
    std::function<void(Status)> done;
  };

  explicit FakeTransport(boost::asio::any_io_executor executor) : m_executor(std::move(executor)) {}

  bool auto_complete = true;
  int fail_publishes = 0;  ///< the next this many publishes complete with an error
  bool connected = true;
  std::vector<Publish> publishes;
  std::vector<std::string> subscriptions;

  void set_handlers(Handlers handlers) override { m_handlers = std::move(handlers); }
  void connect() override {
    connected = true;
    post([this] { m_handlers.on_connected(); });
  }
  void publish(std::string topic, std::string payload, bool retained,
               std::function<void(Status)> done) override {
    publishes.push_back({std::move(topic), std::move(payload), retained, done});
    if (fail_publishes > 0) {
      --fail_publishes;
      post([done] { done(fail("not authorised")); });
    } else if (auto_complete) {
      post([done] { done(Status{}); });
    }
  }
  void subscribe(std::string topic_filter, std::function<void(Status)> done) override {
    subscriptions.push_back(std::move(topic_filter));
    post([done] { done(Status{}); });
  }
  void disconnect(std::chrono::milliseconds, std::function<void()> done) override {
    connected = false;
    post([done] { done(); });
  }
  bool is_connected() const override { return connected; }

 private:
  template <class F>
  void post(F f) {
    boost::asio::post(m_executor, std::move(f));
  }

  boost::asio::any_io_executor m_executor;
  Handlers m_handlers;
};

}  // namespace pos::collector::test
