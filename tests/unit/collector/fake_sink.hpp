#pragma once
// Sink fake for unit tests at the sink seam: records every publish call; completes them at once
// (auto_complete) or when the test says, always posted on the executor like the real sinks.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <string>
#include <vector>

#include "pos/collector/sink.hpp"

namespace pos::collector::test {

class FakeSink final : public Sink {
 public:
  struct Call {
    Destination destination;
    std::vector<OutMessage> messages;
    Done done;
    bool completed = false;
  };

  explicit FakeSink(boost::asio::any_io_executor executor) : m_executor(std::move(executor)) {}

  bool auto_complete = true;
  std::size_t fake_pending_bytes = 0;
  bool fake_healthy = true;
  std::vector<Call> calls;

  void publish(Destination destination, std::vector<OutMessage> messages, Done done) override {
    calls.push_back({destination, std::move(messages), std::move(done), false});
    if (auto_complete) {
      complete(calls.size() - 1);
    }
  }

  /// Completes call `index` with `status` (posted).
  void complete(std::size_t index, Status status = {}) {
    auto& call = calls.at(index);
    call.completed = true;
    boost::asio::post(m_executor, [done = call.done, status] { done(status); });
  }

  std::size_t pending_bytes() const override { return fake_pending_bytes; }
  bool healthy() const override { return fake_healthy; }
  void stop(std::chrono::milliseconds, std::function<void()> stopped) override {
    boost::asio::post(m_executor, std::move(stopped));
  }

  /// Every message published to `destination`, in call order.
  std::vector<OutMessage> messages(Destination destination) const {
    std::vector<OutMessage> out;
    for (const auto& call : calls) {
      if (call.destination == destination) {
        out.insert(out.end(), call.messages.begin(), call.messages.end());
      }
    }
    return out;
  }

 private:
  boost::asio::any_io_executor m_executor;
};

/// The value of attribute `key` ("" when absent).
inline std::string attribute(const OutMessage& message, const std::string& key) {
  for (const auto& [k, v] : message.attributes) {
    if (k == key) {
      return v;
    }
  }
  return {};
}

}  // namespace pos::collector::test
