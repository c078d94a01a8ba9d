#include "pos/simulator/runner.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "pos/common/backoff.hpp"
#include "pos/simulator/generator.hpp"

namespace pos::simulator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

std::string to_json(const RunSummary& s) {
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.3f", s.elapsed_s);
  return "{\"sent\":" + std::to_string(s.sent) + ",\"accepted\":" + std::to_string(s.accepted) +
         ",\"duplicates\":" + std::to_string(s.duplicates) +
         ",\"rejected\":" + std::to_string(s.rejected) + ",\"errors\":" + std::to_string(s.errors) +
         ",\"retries\":" + std::to_string(s.retries) +
         ",\"unconfirmed\":" + std::to_string(s.unconfirmed) + ",\"elapsed_s\":" + elapsed + "}";
}

Result<std::vector<EventOutcome>> parse_ingest_answer(std::string_view body, std::size_t expected) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(body, ec);
  if (ec || !doc.is_object()) {
    return fail("answer: not a JSON object");
  }
  const auto* results = doc.as_object().if_contains("results");
  if (results == nullptr || !results->is_array()) {
    return fail("answer: no results array");
  }
  const auto& array = results->as_array();
  if (array.size() != expected) {
    return fail("answer: " + std::to_string(array.size()) + " results for " +
                std::to_string(expected) + " events");
  }
  std::vector<EventOutcome> out;
  out.reserve(expected);
  for (std::size_t i = 0; i < array.size(); ++i) {
    const std::string where = "answer: results[" + std::to_string(i) + "]";
    if (!array[i].is_object()) {
      return fail(where + ": not an object");
    }
    const auto& r = array[i].as_object();
    const auto* index = r.if_contains("index");
    if (index == nullptr || !index->is_int64() ||
        index->as_int64() != static_cast<std::int64_t>(i)) {
      return fail(where + ".index: must be " + std::to_string(i));
    }
    const auto* status = r.if_contains("status");
    if (status == nullptr || !status->is_string()) {
      return fail(where + ".status: missing");
    }
    EventOutcome outcome;
    const std::string_view s = status->as_string();
    if (s == "accepted") {
      outcome.status = EventOutcome::Status::accepted;
    } else if (s == "duplicate") {
      outcome.status = EventOutcome::Status::duplicate;
    } else if (s == "rejected") {
      outcome.status = EventOutcome::Status::rejected;
    } else {
      return fail(where + ".status: unknown '" + std::string(s) + "'");
    }
    if (const auto* id = r.if_contains("event_id"); id != nullptr && id->is_string()) {
      outcome.event_id = std::string(id->as_string());
    } else if (outcome.status != EventOutcome::Status::rejected) {
      return fail(where + ".event_id: missing");
    }
    if (const auto* error = r.if_contains("error"); error != nullptr && error->is_string()) {
      outcome.error = std::string(error->as_string());
    }
    out.push_back(std::move(outcome));
  }
  return out;
}

std::string accepted_log_line(const TillRef& till, std::string_view pos_event_id,
                              const EventOutcome& outcome, std::int64_t answered_at_ms,
                              std::string_view event_json) {
  std::string line;
  line.reserve(event_json.size() + 200);
  line.append("{\"store_id\":");
  line.append(boost::json::serialize(boost::json::string_view(till.store_id)));
  line.append(",\"till_id\":");
  line.append(boost::json::serialize(boost::json::string_view(till.till_id)));
  line.append(",\"pos_event_id\":");
  line.append(boost::json::serialize(boost::json::string_view(pos_event_id)));
  line.append(",\"event_id\":");
  line.append(boost::json::serialize(boost::json::string_view(outcome.event_id)));
  line.append(outcome.status == EventOutcome::Status::duplicate ? R"(,"status":"duplicate")"
                                                                : R"(,"status":"accepted")");
  line.append(",\"answered_at_ms\":");
  line.append(std::to_string(answered_at_ms));
  line.append(",\"event\":");
  line.append(event_json);
  line.append("}\n");
  return line;
}

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct FileCloser {
  void operator()(std::FILE* f) const noexcept {
    if (f != nullptr) {
      std::fclose(f);
    }
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// One simulated till and its connection to its agent. Owned by the Runner; its handlers capture
// the raw pointer, which stays valid until io_context::run returns.
struct TillChannel {
  TillChannel(asio::io_context& io, AgentTarget target_, tcp::resolver::results_type endpoints_,
              std::uint64_t seed)
      : target(std::move(target_)),
        endpoints(std::move(endpoints_)),
        stream(io),
        timer(io),
        backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000), seed) {}

  enum class State { idle, busy, waiting };

  AgentTarget target;
  tcp::resolver::results_type endpoints;
  beast::tcp_stream stream;
  asio::steady_timer timer;
  common::ExponentialBackoff backoff;
  State state = State::idle;
  bool connected = false;
  std::deque<GeneratedEvent> queue;
  std::vector<GeneratedEvent> in_flight;
  bool in_flight_sent = false;
  std::string body;
  http::request<http::string_body> request;
  std::optional<http::response_parser<http::string_body>> parser;
  beast::flat_buffer buffer;
};

struct StoreSlot {
  StoreGenerator generator;
  std::vector<TillChannel*> tills;  // per till index; null when not listed
  bool done = false;
};

class Runner {
 public:
  Runner(const Layout& layout, const Catalogue& catalogue, const TrafficModel& model,
         const RunnerSettings& settings)
      : m_layout(layout),
        m_catalogue(catalogue),
        m_model(model),
        m_settings(settings),
        m_pacer(m_io),
        m_stats_timer(m_io),
        m_flush_timer(m_io),
        m_stop_timer(m_io),
        m_signals(m_io, SIGINT, SIGTERM) {}

  Status prepare() {
    if (!m_settings.accepted_log.empty()) {
      m_log.reset(std::fopen(m_settings.accepted_log.c_str(), "a"));
      if (!m_log) {
        return fail("--accepted-log: cannot open " + m_settings.accepted_log);
      }
    }
    tcp::resolver resolver(m_io);
    const UnixMs start = m_settings.clock.live ? wall_ms() : m_settings.clock.start;
    std::map<std::size_t, std::size_t> slot_of_store;
    for (const auto& target : m_settings.targets) {
      boost::system::error_code ec;
      auto endpoints = resolver.resolve(target.host, target.port, ec);
      if (ec) {
        return fail("agent " + target.url + ": cannot resolve " + target.host + ": " +
                    ec.message());
      }
      const std::size_t store = *m_layout.store_index(target.till.store_id);
      const int till = *m_layout.till_index(target.till);
      auto [it, inserted] = slot_of_store.emplace(store, m_slots.size());
      if (inserted) {
        m_slots.push_back(StoreSlot{
            StoreGenerator(m_layout, m_catalogue, m_model, store, m_settings.seed, start),
            std::vector<TillChannel*>(static_cast<std::size_t>(m_layout.stores()[store].tills)),
            false});
      }
      m_tills.push_back(std::make_unique<TillChannel>(m_io, target, std::move(endpoints),
                                                      derive_seed(m_settings.seed, target.url)));
      m_slots[it->second].tills[static_cast<std::size_t>(till)] = m_tills.back().get();
    }
    return {};
  }

  RunSummary run() {
    m_started = SteadyClock::now();
    m_signals.async_wait([this](const boost::system::error_code& ec, int) { on_signal(ec); });
    if (m_settings.duration_s > 0) {
      m_stop_timer.expires_after(std::chrono::duration_cast<SteadyClock::duration>(
          std::chrono::duration<double>(m_settings.duration_s)));
      m_stop_timer.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
          stop();
        }
      });
    }
    pace();
    schedule_stats();
    schedule_flush();
    m_io.run();
    flush_log();
    m_summary.elapsed_s = std::chrono::duration<double>(SteadyClock::now() - m_started).count();
    m_summary.unconfirmed = m_in_flight_events;
    return m_summary;
  }

 private:
  // --- lifecycle ---

  void on_signal(const boost::system::error_code& ec) {
    if (ec || m_finished) {
      return;
    }
    if (m_stopping) {
      finish();  // a second signal: do not wait any longer
      return;
    }
    stop();
    if (!m_finished) {  // stop() finishes at once when nothing is in flight
      m_signals.async_wait([this](const boost::system::error_code& e, int) { on_signal(e); });
    }
  }

  // Stops generating and sending new events; what is in flight gets `drain_timeout` (retries
  // waiting for their backoff go again now).
  void stop() {
    if (m_stopping || m_finished) {
      return;
    }
    m_stopping = true;
    m_pacer.cancel();
    for (auto& till : m_tills) {
      till->queue.clear();
      if (till->state == TillChannel::State::waiting) {
        till->timer.cancel();
      }
    }
    m_stop_timer.expires_after(m_settings.drain_timeout);
    m_stop_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        finish();
      }
    });
    maybe_finish();
  }

  void maybe_finish() {
    if (m_finished) {
      return;
    }
    if (m_stopping && m_in_flight_events == 0) {
      finish();
      return;
    }
    if (m_day_over && !m_stopping) {
      for (const auto& till : m_tills) {
        if (!till->queue.empty() || !till->in_flight.empty()) {
          return;
        }
      }
      finish();
    }
  }

  void finish() {
    if (m_finished) {
      return;
    }
    m_finished = true;
    m_pacer.cancel();
    m_stats_timer.cancel();
    m_flush_timer.cancel();
    m_stop_timer.cancel();
    boost::system::error_code ignored;
    m_signals.cancel(ignored);
    for (auto& till : m_tills) {
      till->timer.cancel();
      till->stream.socket().close(ignored);
    }
  }

  // --- generation ---

  UnixMs sim_now() const {
    if (m_settings.clock.live) {
      return wall_ms();
    }
    const double real_ms =
        std::chrono::duration<double, std::milli>(SteadyClock::now() - m_started).count();
    return m_settings.clock.start + static_cast<UnixMs>(real_ms * m_settings.clock.speed);
  }

  void pace() {
    if (m_stopping || m_finished) {
      return;
    }
    const UnixMs now = sim_now();
    bool all_done = true;
    for (auto& slot : m_slots) {
      for (std::size_t n = 0; !slot.done && n < 100'000; ++n) {
        const GeneratedEvent& next = slot.generator.peek();
        if (m_settings.clock.end && next.occurred_at >= *m_settings.clock.end) {
          slot.done = true;
          break;
        }
        if (next.occurred_at > now) {
          break;
        }
        TillChannel* till = slot.tills[static_cast<std::size_t>(next.till)];
        if (till == nullptr) {
          slot.generator.pop();  // a till of this store that gets no traffic
          continue;
        }
        if (till->queue.size() >= m_settings.max_queue_per_till) {
          break;  // the till is behind: this store waits for it
        }
        till->queue.push_back(slot.generator.pop());
        kick(*till);
      }
      all_done = all_done && slot.done;
    }
    if (all_done) {
      m_day_over = true;
      maybe_finish();
      return;
    }
    m_pacer.expires_after(std::chrono::milliseconds(10));
    m_pacer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        pace();
      }
    });
  }

  // --- one till's requests ---

  void kick(TillChannel& till) {
    if (m_finished || till.state != TillChannel::State::idle) {
      return;
    }
    if (till.in_flight.empty()) {
      if (m_stopping || till.queue.empty()) {
        return;
      }
      const std::size_t n = std::min(m_settings.batch, till.queue.size());
      till.body.clear();
      if (n > 1) {
        till.body.push_back('[');
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (i > 0) {
          till.body.push_back(',');
        }
        till.body.append(till.queue.front().json);
        till.in_flight.push_back(std::move(till.queue.front()));
        till.queue.pop_front();
      }
      if (n > 1) {
        till.body.push_back(']');
      }
      till.in_flight_sent = false;
    }
    till.state = TillChannel::State::busy;
    if (!till.connected) {
      connect(till);
    } else {
      send(till);
    }
  }

  void connect(TillChannel& till) {
    till.stream.expires_after(m_settings.request_timeout);
    till.stream.async_connect(
        till.endpoints, [this, &till](const boost::system::error_code& ec, const tcp::endpoint&) {
          if (m_finished) {
            return;
          }
          if (ec) {
            transport_failed(till, "connect: " + ec.message());
            return;
          }
          till.connected = true;
          boost::system::error_code ignored;
          till.stream.socket().set_option(tcp::no_delay(true), ignored);
          send(till);
        });
  }

  void send(TillChannel& till) {
    if (!till.in_flight_sent) {
      till.in_flight_sent = true;
      m_summary.sent += till.in_flight.size();
      m_in_flight_events += till.in_flight.size();
    }
    till.request = {};
    till.request.method(http::verb::post);
    till.request.target("/v1/events");
    till.request.version(11);
    till.request.set(http::field::host, till.target.host);
    till.request.set(http::field::content_type, "application/json");
    till.request.keep_alive(true);
    till.request.body() = till.body;
    till.request.prepare_payload();
    till.parser.emplace();
    till.parser->body_limit(std::uint64_t{64} * 1024 * 1024);
    till.buffer.clear();
    till.stream.expires_after(m_settings.request_timeout);
    http::async_write(
        till.stream, till.request, [this, &till](const boost::system::error_code& ec, std::size_t) {
          if (m_finished) {
            return;
          }
          if (ec) {
            transport_failed(till, "send: " + ec.message());
            return;
          }
          http::async_read(till.stream, till.buffer, *till.parser,
                           [this, &till](const boost::system::error_code& e, std::size_t) {
                             if (m_finished) {
                               return;
                             }
                             if (e) {
                               transport_failed(till, "answer: " + e.message());
                               return;
                             }
                             answered(till);
                           });
        });
  }

  void transport_failed(TillChannel& till, const std::string& what) {
    boost::system::error_code ignored;
    till.stream.socket().close(ignored);
    till.connected = false;
    log_once(till, what);
    retry_later(till, till.backoff.next_delay());
  }

  void log_once(TillChannel& till, const std::string& what) {
    // One line per till and failure streak, not per retry.
    if (m_logged_failure.insert(&till).second) {
      std::fprintf(stderr, "possim: %s/%s: no answer from %s (%s), retrying\n",
                   till.target.till.store_id.c_str(), till.target.till.till_id.c_str(),
                   till.target.url.c_str(), what.c_str());
    }
  }

  void retry_later(TillChannel& till, std::chrono::milliseconds delay) {
    till.state = TillChannel::State::waiting;
    if (m_stopping) {
      delay = std::min(delay, std::chrono::milliseconds(200));
    }
    till.timer.expires_after(delay);
    till.timer.async_wait([this, &till](const boost::system::error_code&) {
      if (m_finished) {
        return;
      }
      till.state = TillChannel::State::idle;
      ++m_summary.retries;
      kick(till);
    });
  }

  void answered(TillChannel& till) {
    m_summary.any_answer = true;
    const auto& response = till.parser->get();
    const int status = static_cast<int>(response.result_int());
    if (!response.keep_alive()) {
      boost::system::error_code ignored;
      till.stream.socket().close(ignored);
      till.connected = false;
    }
    if (status >= 500) {  // 503 (buffer full) included
      std::chrono::milliseconds delay = till.backoff.next_delay();
      const auto retry_after = response.find(http::field::retry_after);
      if (retry_after != response.end()) {
        const std::string_view v = retry_after->value();
        unsigned seconds = 0;
        if (std::from_chars(v.data(), v.data() + v.size(), seconds).ec == std::errc()) {
          delay =
              std::min(std::chrono::milliseconds(2000), std::chrono::milliseconds(1000) * seconds);
        }
      }
      log_once(till, "HTTP " + std::to_string(status));
      retry_later(till, delay);
      return;
    }
    m_logged_failure.erase(&till);
    till.backoff.reset();
    const auto count = till.in_flight.size();
    m_in_flight_events -= count;
    if (status != 200) {
      ++m_summary.errors;
      std::fprintf(stderr, "possim: %s/%s: HTTP %d for %zu event(s) from %s: %s\n",
                   till.target.till.store_id.c_str(), till.target.till.till_id.c_str(), status,
                   count, till.in_flight.front().pos_event_id.c_str(),
                   response.body().substr(0, 500).c_str());
    } else if (auto outcomes = parse_ingest_answer(response.body(), count); !outcomes) {
      ++m_summary.errors;
      std::fprintf(stderr, "possim: %s/%s: unreadable answer: %s\n",
                   till.target.till.store_id.c_str(), till.target.till.till_id.c_str(),
                   outcomes.error().message.c_str());
    } else {
      record(till, *outcomes);
    }
    till.in_flight.clear();
    till.state = TillChannel::State::idle;
    kick(till);
    maybe_finish();
  }

  void record(TillChannel& till, const std::vector<EventOutcome>& outcomes) {
    const std::int64_t now = wall_ms();
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const auto& outcome = outcomes[i];
      const GeneratedEvent& event = till.in_flight[i];
      switch (outcome.status) {
        case EventOutcome::Status::accepted:
          ++m_summary.accepted;
          ++m_answered_in_interval;
          break;
        case EventOutcome::Status::duplicate:
          ++m_summary.duplicates;
          ++m_answered_in_interval;
          break;
        case EventOutcome::Status::rejected:
          ++m_summary.rejected;
          std::fprintf(stderr, "possim: %s/%s: rejected %s: %s\n",
                       till.target.till.store_id.c_str(), till.target.till.till_id.c_str(),
                       event.pos_event_id.c_str(), outcome.error.c_str());
          continue;
      }
      if (m_log) {
        const std::string line =
            accepted_log_line(till.target.till, event.pos_event_id, outcome, now, event.json);
        if (std::fwrite(line.data(), 1, line.size(), m_log.get()) != line.size() && !m_log_failed) {
          m_log_failed = true;
          std::fprintf(stderr, "possim: cannot write --accepted-log %s\n",
                       m_settings.accepted_log.c_str());
        }
      }
    }
  }

  // --- periodic work ---

  void schedule_stats() {
    if (m_settings.stats_interval_s <= 0) {
      return;
    }
    m_stats_timer.expires_after(std::chrono::duration_cast<SteadyClock::duration>(
        std::chrono::duration<double>(m_settings.stats_interval_s)));
    m_stats_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || m_finished) {
        return;
      }
      std::fprintf(stderr,
                   "possim: sent=%llu accepted=%llu duplicates=%llu rejected=%llu retries=%llu "
                   "in_flight=%llu rate=%.0f/s\n",
                   static_cast<unsigned long long>(m_summary.sent),
                   static_cast<unsigned long long>(m_summary.accepted),
                   static_cast<unsigned long long>(m_summary.duplicates),
                   static_cast<unsigned long long>(m_summary.rejected),
                   static_cast<unsigned long long>(m_summary.retries),
                   static_cast<unsigned long long>(m_in_flight_events),
                   static_cast<double>(m_answered_in_interval) / m_settings.stats_interval_s);
      m_answered_in_interval = 0;
      schedule_stats();
    });
  }

  void schedule_flush() {
    m_flush_timer.expires_after(std::chrono::seconds(1));
    m_flush_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || m_finished) {
        return;
      }
      flush_log();
      schedule_flush();
    });
  }

  void flush_log() {
    if (m_log && std::fflush(m_log.get()) != 0 && !m_log_failed) {
      m_log_failed = true;
      std::fprintf(stderr, "possim: cannot write --accepted-log %s\n",
                   m_settings.accepted_log.c_str());
    }
  }

  const Layout& m_layout;
  const Catalogue& m_catalogue;
  const TrafficModel& m_model;
  const RunnerSettings& m_settings;
  asio::io_context m_io{1};
  asio::steady_timer m_pacer;
  asio::steady_timer m_stats_timer;
  asio::steady_timer m_flush_timer;
  asio::steady_timer m_stop_timer;
  asio::signal_set m_signals;
  std::vector<std::unique_ptr<TillChannel>> m_tills;
  std::vector<StoreSlot> m_slots;
  std::set<const TillChannel*> m_logged_failure;
  File m_log;
  bool m_log_failed = false;
  RunSummary m_summary;
  std::uint64_t m_in_flight_events = 0;
  std::uint64_t m_answered_in_interval = 0;
  SteadyClock::time_point m_started;
  bool m_stopping = false;
  bool m_day_over = false;
  bool m_finished = false;
};

}  // namespace

Result<RunSummary> run_traffic(const Layout& layout, const Catalogue& catalogue,
                               const TrafficModel& model, const RunnerSettings& settings) {
  if (auto ok = check_agents(layout, settings.targets); !ok) {
    return fail(ok.error());
  }
  Runner runner(layout, catalogue, model, settings);
  if (auto ok = runner.prepare(); !ok) {
    return fail(ok.error());
  }
  return runner.run();
}

}  // namespace pos::simulator
