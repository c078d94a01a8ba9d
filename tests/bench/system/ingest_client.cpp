#include "ingest_client.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <utility>

#include "event_mix.hpp"

namespace pos::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr auto retry_delay = std::chrono::milliseconds(100);
constexpr auto stall_limit = std::chrono::seconds(60);
constexpr std::size_t max_answer_bytes = std::size_t{16} * 1024 * 1024;

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// One till: one connection, one request at a time. Lives on the io thread only.
class TillSession : public std::enable_shared_from_this<TillSession> {
 public:
  TillSession(asio::io_context& io, const TillTarget& target, const LoadOptions& options,
              LoadResult& result, Clock::time_point start, std::string& error)
      : m_stream(io),
        m_timer(io),
        m_target(target),
        m_options(options),
        m_mix(target.seed),
        m_result(result),
        m_error(error),
        m_last_progress(start) {
    if (paced()) {
      m_interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
          static_cast<double>(options.events_per_request) / options.events_per_second_per_till));
      std::mt19937_64 rng(target.seed);
      std::uniform_int_distribution<Clock::rep> phase(0, m_interval.count() - 1);
      m_next_send = start + Clock::duration(phase(rng));
      m_stop_at = start + options.duration;
    }
  }

  void start() { connect(); }

 private:
  bool paced() const { return m_options.events_per_second_per_till > 0; }

  void connect() {
    m_stream.expires_after(std::chrono::seconds(10));
    m_stream.async_connect(
        asio::ip::tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), m_target.port),
        [self = shared_from_this()](beast::error_code ec) {
          if (ec) {
            self->retry();
            return;
          }
          self->m_stream.socket().set_option(asio::ip::tcp::no_delay(true));
          self->m_connected = true;
          self->m_body.empty() ? self->next() : self->send();
        });
  }

  // Builds the next request body (or finishes) and sends it at its time.
  void next() {
    if (paced()) {
      if (m_next_send >= m_stop_at) {
        return close();
      }
    } else if (m_events_built >= m_options.events_per_till) {
      return close();
    }
    std::size_t count = m_options.events_per_request;
    if (!paced()) {
      count = std::min<std::uint64_t>(count, m_options.events_per_till - m_events_built);
    }
    m_body.clear();
    if (count > 1) {
      m_body += '[';
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (i > 0) {
        m_body += ',';
      }
      m_body += m_mix.next_event();
    }
    if (count > 1) {
      m_body += ']';
    }
    m_events_built += count;
    if (!paced()) {
      return send();
    }
    const auto now = Clock::now();
    if (m_next_send < now - std::chrono::seconds(1)) {
      m_next_send = now;  // far behind (machine stalled): do not burst to catch up
    }
    m_timer.expires_at(m_next_send);
    m_next_send += m_interval;
    m_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->send();
      }
    });
  }

  void send() {
    if (!m_connected) {
      return connect();
    }
    m_request = {http::verb::post, "/v1/events", 11};
    m_request.set(http::field::host, "127.0.0.1");
    m_request.set(http::field::content_type, "application/json");
    m_request.body() = m_body;
    m_request.prepare_payload();
    m_sent_at = Clock::now();
    ++m_result.requests;
    m_stream.expires_after(std::chrono::seconds(30));
    http::async_write(m_stream, m_request,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) {
                          self->retry();
                          return;
                        }
                        self->read();
                      });
  }

  void read() {
    m_parser.emplace();
    m_parser->body_limit(max_answer_bytes);
    m_buffer.clear();
    http::async_read(m_stream, m_buffer, *m_parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) {
                         self->retry();
                         return;
                       }
                       self->on_answer();
                     });
  }

  void on_answer() {
    const auto answered = Clock::now();
    const std::int64_t answered_ms = unix_ms_now();
    const auto& response = m_parser->get();
    if (response.result() != http::status::ok) {
      return retry();
    }
    boost::system::error_code ec;
    const json::value answer = json::parse(response.body(), ec);
    const auto* results =
        ec || !answer.is_object() ? nullptr : answer.as_object().if_contains("results");
    if (results == nullptr || !results->is_array()) {
      m_error = m_target.store + "/" + m_target.till +
                ": 200 without results: " + response.body().substr(0, 200);
      return close();
    }
    for (const auto& item : results->get_array()) {
      const auto* obj = item.if_object();
      const auto* status = obj ? obj->if_contains("status") : nullptr;
      const auto* id = obj ? obj->if_contains("event_id") : nullptr;
      if (status == nullptr || !status->is_string()) {
        continue;
      }
      if (status->get_string() == "accepted") {
        ++m_result.events_accepted;
        if (m_options.record_events && id != nullptr && id->is_string()) {
          m_result.accepted.push_back({std::string(id->get_string()), answered_ms});
        }
      } else if (status->get_string() == "duplicate") {
        ++m_result.events_duplicate;
      } else {
        ++m_result.events_rejected;
      }
    }
    m_result.request_latency_ms.push_back(
        std::chrono::duration<double, std::milli>(answered - m_sent_at).count());
    m_last_progress = answered;
    m_body.clear();
    if (!response.keep_alive()) {
      close_socket();
    }
    next();
  }

  // Sends the same body again after a pause, on a new connection.
  void retry() {
    ++m_result.retried_requests;
    close_socket();
    if (Clock::now() - m_last_progress > stall_limit) {
      m_error = m_target.store + "/" + m_target.till + ": no answer from the agent on port " +
                std::to_string(m_target.port) + " for 60 s";
      return;
    }
    m_timer.expires_after(retry_delay);
    m_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->connect();
      }
    });
  }

  void close_socket() {
    beast::error_code ignored;
    m_stream.socket().close(ignored);
    m_connected = false;
  }

  void close() {
    close_socket();
    m_timer.cancel();
  }

  beast::tcp_stream m_stream;
  asio::steady_timer m_timer;
  const TillTarget& m_target;
  const LoadOptions& m_options;
  EventMix m_mix;
  LoadResult& m_result;
  std::string& m_error;
  bool m_connected = false;
  std::string m_body;  // the request in flight (kept for retries); empty when none
  std::uint64_t m_events_built = 0;
  Clock::duration m_interval{};
  Clock::time_point m_next_send{};
  Clock::time_point m_stop_at{};
  Clock::time_point m_sent_at{};
  Clock::time_point m_last_progress;
  http::request<http::string_body> m_request;
  std::optional<http::response_parser<http::string_body>> m_parser;
  beast::flat_buffer m_buffer;
};

}  // namespace

LoadResult run_ingest_load(const std::vector<TillTarget>& tills, const LoadOptions& options) {
  if (options.events_per_request == 0 || options.events_per_request > 1000) {
    throw std::runtime_error("events per request must be 1..1000");
  }
  asio::io_context io;
  LoadResult result;
  std::vector<std::string> errors(tills.size());
  const auto start = Clock::now();
  for (std::size_t i = 0; i < tills.size(); ++i) {
    std::make_shared<TillSession>(io, tills[i], options, result, start, errors[i])->start();
  }
  io.run();
  result.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& error : errors) {
    if (!error.empty()) {
      throw std::runtime_error("load: " + error);
    }
  }
  return result;
}

}  // namespace pos::bench
