#pragma once
// Fakes of the Pub/Sub publisher's layers (collector/src/pubsub_*.hpp), each standing in for the
// layer below the one under test. All run on the test's io_context; not thread-safe.

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pubsub_auth.hpp"
#include "pubsub_http.hpp"
#include "pubsub_retry.hpp"

namespace pos::collector::detail::fakes {

/// Runs `io` until `done()` or the timeout; true when done() holds.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return done();
}

/// "{"messageIds":["1",...]}" with `count` ids.
inline std::string publish_ok_body(std::size_t count) {
  std::string body = "{\"messageIds\":[";
  for (std::size_t i = 0; i < count; ++i) {
    body += (i > 0 ? ",\"" : "\"") + std::to_string(i + 1) + "\"";
  }
  return body + "]}";
}

/// An HttpSender that answers from a script (in order; when it runs out, 200 with `default_ids`
/// message ids) and records every call with the time it was made. Answers are posted.
class ScriptedSender final : public HttpSender {
 public:
  struct Sent {
    HttpCall call;
    std::chrono::steady_clock::time_point at;
  };

  explicit ScriptedSender(boost::asio::io_context& io) : m_io(io) {}

  void request(HttpCall call, Done done) override {
    sent.push_back({std::move(call), std::chrono::steady_clock::now()});
    Result<HttpReply> reply = HttpReply{200, publish_ok_body(default_ids)};
    if (!script.empty()) {
      reply = std::move(script.front());
      script.pop_front();
    }
    boost::asio::post(m_io, [done = std::move(done), reply = std::move(reply)]() mutable {
      done(std::move(reply));
    });
  }
  void shutdown() override { ++shutdowns; }

  /// The authorization header of call `i`, "" when none.
  std::string authorization(std::size_t i) const {
    for (const auto& [name, value] : sent.at(i).call.headers) {
      if (name == "Authorization") {
        return value;
      }
    }
    return {};
  }

  std::deque<Result<HttpReply>> script;
  std::size_t default_ids = 1;
  std::vector<Sent> sent;
  int shutdowns = 0;

 private:
  boost::asio::io_context& m_io;
};

/// A TokenSource that hands out "Bearer tok1", "Bearer tok2", ...: a new token after each
/// invalidate(), or an error while `error` is set. Answers are posted.
class CountingTokens final : public TokenSource {
 public:
  explicit CountingTokens(boost::asio::io_context& io) : m_io(io) {}

  void authorization(Done done) override {
    ++requests;
    Result<std::string> result = fail("no token");
    if (error) {
      result = fail(*error);
    } else {
      if (!m_valid) {
        ++fetches;
        m_valid = true;
      }
      result = "Bearer tok" + std::to_string(fetches);
    }
    boost::asio::post(m_io, [done = std::move(done), result = std::move(result)] { done(result); });
  }
  void invalidate() override {
    ++invalidations;
    m_valid = false;
  }
  void shutdown() override { ++shutdowns; }

  std::optional<std::string> error;
  int requests = 0;
  int fetches = 0;
  int invalidations = 0;
  int shutdowns = 0;

 private:
  boost::asio::io_context& m_io;
  bool m_valid = false;
};

/// A BatchPublisher that only records: the test answers each request with complete().
class HeldPublisher final : public BatchPublisher {
 public:
  struct Held {
    Destination destination;
    std::string body;
    std::size_t count = 0;
    Done done;
    std::chrono::steady_clock::time_point at;
  };

  void publish(Destination destination, std::string body, std::size_t count, Done done) override {
    held.push_back(
        {destination, std::move(body), count, std::move(done), std::chrono::steady_clock::now()});
  }
  /// Counts the call and keeps the held requests, so that a test can still answer one late and
  /// check that the queues ignore it (a real publisher abandons them).
  void shutdown() override { ++shutdowns; }

  /// Answers request `i` (once).
  void complete(std::size_t i, Status status = Status{}) {
    auto done = std::move(held.at(i).done);
    done(std::move(status));
  }

  std::vector<Held> held;
  int shutdowns = 0;
};

/// A Backoff whose delays come from a list (the last one repeats), recording each call.
class ListBackoff final : public common::Backoff {
 public:
  explicit ListBackoff(std::vector<std::chrono::milliseconds> delays, int* calls = nullptr)
      : m_delays(std::move(delays)), m_calls(calls) {}
  std::chrono::milliseconds next_delay() override {
    if (m_calls != nullptr) {
      ++*m_calls;
    }
    const auto delay = m_delays.at(std::min(m_next, m_delays.size() - 1));
    ++m_next;
    return delay;
  }
  void reset() override { m_next = 0; }

 private:
  std::vector<std::chrono::milliseconds> m_delays;
  int* m_calls;
  std::size_t m_next = 0;
};

}  // namespace pos::collector::detail::fakes
