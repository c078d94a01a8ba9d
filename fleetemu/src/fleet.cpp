#include "pos/fleetemu/fleet.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "pos/common/mqtt_settings.hpp"
#include "pos/common/paho_transport.hpp"
#include "pos/common/startup_error.hpp"
#include "pos/fleetemu/batch_source.hpp"
#include "pos/fleetemu/fleet_layout.hpp"
#include "pos/fleetemu/ledger.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/messages.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::fleetemu {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t event_pool_size = 512;
constexpr const char* agent_version = "posfleet/0.1";

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// One emulated till: its identity, MQTT client, schedule and in-flight window.
struct Till {
  enum class State { idle, connecting, subscribing, online, backoff, closing, closed };

  Till(TillName name_, std::size_t window, Pacer pacer_)
      : name(std::move(name_)), ledger(window), pacer(pacer_) {}

  TillName name;
  std::string batch_topic;
  std::string ack_topic;
  std::string status_topic;
  std::uint64_t epoch = 0;
  std::uint64_t offset = 0;  ///< the till's start in the event pool
  std::unique_ptr<common::PahoTransport> transport;
  TillLedger ledger;
  Pacer pacer;
  double phase = 0;  ///< the pacer's phase, drawn once
  State state = State::idle;
  bool ever_connected = false;
  std::uint32_t failures_in_row = 0;
  std::uint64_t events_batched = 0;  ///< events taken off the schedule into batches
  Clock::time_point pending_since;   ///< first event waiting for a batch (when events_pending)
  bool events_pending = false;
  Clock::time_point retry_at;
  Clock::time_point last_status;
  std::optional<std::int64_t> last_ack_unix_ms;
};

class Fleet {
 public:
  Fleet(const RunOptions& options, BatchSource source)
      : m_options(options), m_source(std::move(source)), m_timer(m_io), m_rng(options.seed) {}

  Status prepare();
  Summary run();

 private:
  void on_tick();
  void ramp(Clock::time_point now);
  void start_connect(std::size_t index);
  void on_connected(std::size_t index);
  void on_disconnected(std::size_t index, const std::string& reason);
  void on_message(std::size_t index, const common::TransportMessage& message);
  void serve(Till& till, Clock::time_point now, bool offering);
  void send_batch(Till& till, std::uint32_t count, Clock::time_point now);
  void resend_all(Till& till, Clock::time_point now);
  void publish_batch(Till& till, std::string message);
  void publish_status(Till& till, bool online);
  void begin_close();
  void progress(Clock::time_point now);
  std::uint64_t events_due(const Till& till, Clock::time_point now) const;

  const RunOptions& m_options;
  BatchSource m_source;
  boost::asio::io_context m_io;
  boost::asio::steady_timer m_timer;
  std::mt19937_64 m_rng;
  std::vector<Till> m_tills;
  std::string m_received_at;  ///< this tick's RFC 3339 time, the stamp of every batch

  enum class Phase { connecting, offering, draining, closing, done } m_phase = Phase::connecting;
  Clock::time_point m_start;
  Clock::time_point m_offer_start;
  Clock::time_point m_offer_end;
  Clock::time_point m_phase_deadline;
  Clock::time_point m_last_first_connect;
  Clock::time_point m_next_progress;
  std::size_t m_next_to_connect = 0;
  std::uint32_t m_connected_once = 0;
  std::uint32_t m_closing = 0;
  LatencyHistogram m_latency;
  Summary m_summary;
};

Status Fleet::prepare() {
  const auto& o = m_options;
  const bool tls = common::is_tls_uri(o.brokers.front());
  if (tls) {
    std::error_code ec;
    if (!fs::is_regular_file(o.ca_file, ec)) {
      return fail("--ca: " + o.ca_file + ": no such file");
    }
  }
  std::uniform_real_distribution<double> phase(0.0, 1.0);
  m_tills.reserve(o.tills);
  for (std::uint32_t i = 0; i < o.tills; ++i) {
    auto name = till_name(o.first_till + i, o.tills_per_store);
    Till& till = m_tills.emplace_back(name, o.window, Pacer(o.rate_per_till, {}, phase(m_rng)));
    till.phase = phase(m_rng);
    till.epoch = m_rng() | 1;
    till.offset = m_rng();
    auto batch = protocol::make_topic(o.topic_prefix, name.store_id, name.till_id,
                                      protocol::TopicKind::batch);
    auto ack =
        protocol::make_topic(o.topic_prefix, name.store_id, name.till_id, protocol::TopicKind::ack);
    auto status = protocol::make_topic(o.topic_prefix, name.store_id, name.till_id,
                                       protocol::TopicKind::status);
    if (!batch || !ack || !status) {
      return fail("--topic-prefix: " +
                  (batch ? ack ? status.error() : ack.error() : batch.error()).message);
    }
    till.batch_topic = std::move(*batch);
    till.ack_topic = std::move(*ack);
    till.status_topic = std::move(*status);

    common::PahoTransportOptions t;
    t.mqtt.uris = common::till_broker_order(o.brokers, name.store_id, name.till_id);
    t.mqtt.topic_prefix = o.topic_prefix;
    t.mqtt.client_id = name.store_id + "/" + name.till_id;
    if (tls) {
      const auto stem = fs::path(o.pki_dir) / till_file_stem(name);
      t.mqtt.ca_file = o.ca_file;
      t.mqtt.cert_file = stem.string() + ".crt";
      t.mqtt.key_file = stem.string() + ".key";
      std::error_code ec;
      if (!fs::is_regular_file(t.mqtt.cert_file, ec) || !fs::is_regular_file(t.mqtt.key_file, ec)) {
        return fail("--pki-dir: " + t.mqtt.cert_file + " or .key missing (posfleet pki --tills " +
                    std::to_string(o.tills) + ")");
      }
    }
    // Like the agent: a clean session per connection, so every ack answers this connection.
    t.clean_start = true;
    t.will_topic = till.status_topic;
    t.will_payload = protocol::offline_will();
    try {
      till.transport = std::make_unique<common::PahoTransport>(m_io.get_executor(), std::move(t));
    } catch (const common::StartupError& e) {
      return fail(std::string("--broker: ") + e.what());
    } catch (const std::exception& e) {
      return fail(name.store_id + "/" + name.till_id + ": " + e.what());
    }
    const std::size_t index = i;
    till.transport->set_handlers(common::Transport::Handlers{
        [this, index] { on_connected(index); },
        [this, index](const std::string& reason) { on_disconnected(index, reason); },
        [this, index](const common::TransportMessage& m) { on_message(index, m); }});
  }
  return {};
}

std::uint64_t Fleet::events_due(const Till& till, Clock::time_point now) const {
  if (m_phase == Phase::connecting) {
    return 0;
  }
  return till.pacer.events_due(std::min(now, m_offer_end));
}

void Fleet::start_connect(std::size_t index) {
  Till& till = m_tills[index];
  till.state = Till::State::connecting;
  till.transport->connect();
}

void Fleet::on_connected(std::size_t index) {
  Till& till = m_tills[index];
  if (till.state == Till::State::closing || till.state == Till::State::closed) {
    return;
  }
  till.state = Till::State::subscribing;
  till.failures_in_row = 0;
  till.transport->subscribe(till.ack_topic, [this, index](const Status& s) {
    Till& t = m_tills[index];
    if (t.state != Till::State::subscribing) {
      return;
    }
    if (!s) {
      ++m_summary.connect_failures;
      t.transport->disconnect(1s, [] {});
      t.state = Till::State::backoff;
      t.retry_at = Clock::now() + 2s;
      return;
    }
    const auto now = Clock::now();
    t.state = Till::State::online;
    if (!t.ever_connected) {
      t.ever_connected = true;
      ++m_connected_once;
      m_last_first_connect = now;
    } else {
      ++m_summary.reconnects;
    }
    publish_status(t, true);
    // A new connection: whatever was in flight may have been lost with the old one.
    resend_all(t, now);
  });
}

void Fleet::on_disconnected(std::size_t index, const std::string& reason) {
  Till& till = m_tills[index];
  if (till.state == Till::State::closing || till.state == Till::State::closed) {
    return;
  }
  if (till.state == Till::State::connecting) {
    ++m_summary.connect_failures;
    if (!m_options.quiet && m_summary.connect_failures <= 5) {
      std::fprintf(stderr, "posfleet: %s/%s: connect failed: %s\n", till.name.store_id.c_str(),
                   till.name.till_id.c_str(), reason.c_str());
    }
  }
  // Full jitter over a growing cap (1 s .. 16 s) spreads a fleet's reconnects.
  const auto cap =
      std::chrono::milliseconds(1000LL << std::min<std::uint32_t>(till.failures_in_row, 4));
  ++till.failures_in_row;
  std::uniform_int_distribution<std::int64_t> jitter(100, cap.count());
  till.state = Till::State::backoff;
  till.retry_at = Clock::now() + std::chrono::milliseconds(jitter(m_rng));
}

void Fleet::on_message(std::size_t index, const common::TransportMessage& message) {
  Till& till = m_tills[index];
  if (message.topic != till.ack_topic) {
    return;
  }
  auto ack = protocol::parse_ack(message.payload);
  if (!ack || ack->epoch != till.epoch) {
    ++m_summary.acks_ignored;
    return;
  }
  const auto now = Clock::now();
  const auto outcome = till.ledger.on_ack(
      ack->through_seq, ack->resend, now, [this, now](const InflightBatch& batch) {
        m_latency.record(
            std::chrono::duration_cast<std::chrono::microseconds>(now - batch.first_sent));
      });
  if (outcome.ignored) {
    ++m_summary.acks_ignored;
    return;
  }
  if (outcome.applied) {
    till.last_ack_unix_ms = unix_ms_now();
    m_summary.events_acked += outcome.events_acked;
    m_summary.batches_acked += outcome.batches_acked;
    if (m_phase == Phase::offering) {
      m_summary.events_acked_in_run += outcome.events_acked;
    }
  }
  if (outcome.resend_now && till.state == Till::State::online) {
    ++m_summary.resend_requests;
    resend_all(till, now);
  }
}

void Fleet::publish_batch(Till& till, std::string message) {
  till.transport->publish(till.batch_topic, std::move(message), false, [this](const Status& s) {
    if (!s) {
      ++m_summary.publish_failures;  // the ack timeout sends it again
    }
  });
}

void Fleet::resend_all(Till& till, Clock::time_point now) {
  for (const auto& batch : till.ledger.rewind(now)) {
    ++m_summary.resends;
    publish_batch(till, batch.message);
  }
}

void Fleet::send_batch(Till& till, std::uint32_t count, Clock::time_point now) {
  const auto first = till.ledger.next_seq();
  auto message = m_source.batch(till.name.store_id, till.name.till_id, till.epoch, first, count,
                                till.offset, m_received_at);
  if (!message) {
    std::fprintf(stderr, "posfleet: encoding a batch: %s\n", message.error().message.c_str());
    return;
  }
  ++m_summary.batches_sent;
  m_summary.events_sent += count;
  m_summary.bytes_sent += message->size();
  till.events_batched += count;
  const auto& batch = till.ledger.add(count, std::move(*message), now);
  publish_batch(till, batch.message);
}

void Fleet::publish_status(Till& till, bool online) {
  protocol::AgentStatus s;
  s.state = online ? protocol::AgentState::online : protocol::AgentState::offline;
  s.agent_version = agent_version;
  s.sent_at = protocol::format_rfc3339_utc_ms(unix_ms_now());
  s.backlog_events = till.ledger.inflight_events();
  if (till.last_ack_unix_ms) {
    s.last_ack_at = protocol::format_rfc3339_utc_ms(*till.last_ack_unix_ms);
  }
  s.ingested_total = till.events_batched;
  s.epoch = till.epoch;
  s.acked_through = till.ledger.acked_through();
  s.broker = till.transport->connected_uri();
  till.last_status = Clock::now();
  till.transport->publish(till.status_topic, protocol::encode_status(s), true,
                          [](const Status&) {});
}

void Fleet::serve(Till& till, Clock::time_point now, bool offering) {
  if (till.ledger.ack_overdue(now, m_options.ack_timeout)) {
    ++m_summary.ack_timeouts;
    resend_all(till, now);
  }
  const auto due = events_due(till, now);
  const std::uint64_t pending = due - till.events_batched;
  if (pending == 0) {
    till.events_pending = false;
  } else {
    if (!till.events_pending) {
      till.events_pending = true;
      till.pending_since = now;
    }
    const bool full = pending >= m_options.batch_events;
    const bool waited = now - till.pending_since >= m_options.batch_delay || !offering;
    if ((full || waited) && !till.ledger.window_full()) {
      send_batch(
          till,
          static_cast<std::uint32_t>(std::min<std::uint64_t>(pending, m_options.batch_events)),
          now);
      till.events_pending = due > till.events_batched;
      till.pending_since = now;
    }
  }
  if (m_options.status_interval.count() > 0 &&
      now - till.last_status >= m_options.status_interval) {
    publish_status(till, true);
  }
}

void Fleet::ramp(Clock::time_point now) {
  const double elapsed = seconds_between(m_start, now);
  const auto target = std::min<std::size_t>(
      m_tills.size(), static_cast<std::size_t>(m_options.connect_rate * elapsed) + 1);
  while (m_next_to_connect < target) {
    start_connect(m_next_to_connect++);
  }
}

void Fleet::progress(Clock::time_point now) {
  if (m_options.quiet || now < m_next_progress) {
    return;
  }
  m_next_progress = now + 5s;
  std::uint64_t inflight = 0;
  std::uint32_t online = 0;
  for (const auto& t : m_tills) {
    inflight += t.ledger.inflight_batches();
    online += t.state == Till::State::online ? 1 : 0;
  }
  static constexpr const char* names[] = {"connecting", "offering", "draining", "closing", "done"};
  std::fprintf(stderr,
               "posfleet: %6.1fs %s online=%u/%zu offered=%llu acked=%llu inflight_batches=%llu "
               "timeouts=%llu\n",
               seconds_between(m_start, now), names[static_cast<int>(m_phase)], online,
               m_tills.size(), static_cast<unsigned long long>(m_summary.events_offered),
               static_cast<unsigned long long>(m_summary.events_acked),
               static_cast<unsigned long long>(inflight),
               static_cast<unsigned long long>(m_summary.ack_timeouts));
}

void Fleet::on_tick() {
  const auto now = Clock::now();
  m_received_at = protocol::format_rfc3339_utc_ms(unix_ms_now());
  ramp(now);
  if (m_phase == Phase::connecting &&
      (m_connected_once == m_tills.size() || now >= m_phase_deadline)) {
    m_phase = Phase::offering;
    m_offer_start = now;
    m_offer_end = now + m_options.duration;
    for (auto& t : m_tills) {
      t.pacer = Pacer(m_options.rate_per_till, now, t.phase);
    }
  }
  if (m_phase == Phase::offering && now >= m_offer_end) {
    m_phase = Phase::draining;
    m_phase_deadline = now + m_options.drain_timeout;
  }
  std::uint64_t outstanding = 0;
  std::uint64_t offered = 0;
  for (auto& till : m_tills) {
    if (till.state == Till::State::backoff && now >= till.retry_at) {
      start_connect(static_cast<std::size_t>(&till - m_tills.data()));
    }
    if (till.state == Till::State::online) {
      serve(till, now, m_phase == Phase::offering);
    }
    const auto due = events_due(till, now);
    offered += due;
    outstanding += till.ledger.inflight_events() + (due - till.events_batched);
  }
  m_summary.events_offered = offered;
  if (m_phase == Phase::draining && (outstanding == 0 || now >= m_phase_deadline)) {
    begin_close();
  }
  progress(now);
  if (m_phase == Phase::closing && (m_closing == 0 || now >= m_phase_deadline)) {
    m_phase = Phase::done;
    m_io.stop();
    return;
  }
  m_timer.expires_at(now + m_options.tick);
  m_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      on_tick();
    }
  });
}

void Fleet::begin_close() {
  m_phase = Phase::closing;
  m_phase_deadline = Clock::now() + 10s;
  for (auto& till : m_tills) {
    const bool online = till.state == Till::State::online;
    till.state = Till::State::closing;
    if (!online) {
      till.state = Till::State::closed;
      continue;
    }
    ++m_closing;
    publish_status(till, false);
    till.transport->disconnect(2s, [this, &till] {
      till.state = Till::State::closed;
      --m_closing;
    });
  }
}

Summary Fleet::run() {
  m_start = Clock::now();
  m_last_first_connect = m_start;
  m_next_progress = m_start + 5s;
  // Connecting ends when every till is connected, or at this deadline (then the run starts with
  // the tills that made it; the others keep trying).
  m_phase_deadline =
      m_start + std::chrono::seconds(static_cast<std::int64_t>(static_cast<double>(m_tills.size()) /
                                                               m_options.connect_rate) +
                                     30);
  on_tick();
  m_io.run();

  Summary s = m_summary;
  s.tills = static_cast<std::uint32_t>(m_tills.size());
  s.tills_connected = m_connected_once;
  s.connect_time_s = seconds_between(m_start, m_last_first_connect);
  s.duration_s = seconds_between(m_offer_start, m_offer_end);
  s.ack_p50_ms = static_cast<double>(m_latency.quantile(0.50).count()) / 1000.0;
  s.ack_p99_ms = static_cast<double>(m_latency.quantile(0.99).count()) / 1000.0;
  s.ack_max_ms = static_cast<double>(m_latency.max().count()) / 1000.0;
  for (const auto& till : m_tills) {
    s.batches_unacked += till.ledger.inflight_batches();
    s.events_unacked +=
        till.ledger.inflight_events() + (events_due(till, m_offer_end) - till.events_batched);
  }
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    s.cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
              static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    s.peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
  }
  // Destroy the clients here, on this thread, while the io_context still exists.
  for (auto& till : m_tills) {
    till.transport.reset();
  }
  return s;
}

}  // namespace

Result<Summary> run_fleet(const RunOptions& options) {
  auto source = BatchSource::create(options.seed, event_pool_size, options.dictionary_file);
  if (!source) {
    return fail(source.error());
  }
  auto fleet = std::make_unique<Fleet>(options, std::move(*source));
  if (auto s = fleet->prepare(); !s) {
    return fail(s.error());
  }
  return fleet->run();
}

}  // namespace pos::fleetemu
