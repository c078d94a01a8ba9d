#include "pos/agent/forwarder.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <stdexcept>
#include <vector>

#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds read_retry_delay{1000};

std::string topic_or_throw(const ForwarderOptions& o, protocol::TopicKind kind) {
  auto topic = protocol::make_topic(o.topic_prefix, o.store_id, o.till_id, kind);
  if (!topic) {
    throw std::invalid_argument("forwarder: " + topic.error().message);
  }
  return std::move(*topic);
}

std::string call_payload(const std::function<std::string()>& fn) {
  try {
    return fn ? fn() : std::string();
  } catch (const std::exception& e) {
    spdlog::error("forwarder: status payload failed: {}", e.what());
    return {};
  }
}

}  // namespace

template <class F>
auto Forwarder::guarded(F f) {
  return [alive = std::weak_ptr<int>(m_alive), f = std::move(f)](auto&&... args) mutable {
    if (alive.lock()) {
      f(std::forward<decltype(args)>(args)...);
    }
  };
}

template <class F>
void Forwarder::with_stats(F f) {
  std::lock_guard lock(m_stats_mutex);
  f(m_stats);
}

Forwarder::Forwarder(boost::asio::any_io_executor executor, Outbox& outbox, Transport& transport,
                     common::Backoff& backoff, const common::Clock& clock, UploadLimiter* limiter,
                     protocol::BatchEncoder encoder, ForwarderOptions options)
    : m_executor(std::move(executor)),
      m_outbox(outbox),
      m_transport(transport),
      m_backoff(backoff),
      m_clock(clock),
      m_limiter(limiter),
      m_encoder(std::move(encoder)),
      m_options(std::move(options)),
      m_batch_topic(topic_or_throw(m_options, protocol::TopicKind::batch)),
      m_ack_topic(topic_or_throw(m_options, protocol::TopicKind::ack)),
      m_status_topic(topic_or_throw(m_options, protocol::TopicKind::status)),
      m_ack_timeout(m_options.ack_timeout, m_options.ack_timeout_max),
      m_retry_timer(m_executor),
      m_batch_timer(m_executor),
      m_limiter_timer(m_executor),
      m_ack_timer(m_executor),
      m_read_retry_timer(m_executor),
      m_heartbeat_timer(m_executor),
      m_stop_timer(m_executor) {
  if (m_options.batch_max_events == 0 || m_options.batch_max_bytes == 0 ||
      m_options.window_batches == 0) {
    throw std::invalid_argument(
        "forwarder: batch_max_events, batch_max_bytes and window_batches must be >= 1");
  }
  if (m_options.ack_timeout.count() <= 0 || m_options.heartbeat.count() <= 0) {
    throw std::invalid_argument("forwarder: ack_timeout and heartbeat must be > 0");
  }
}

Forwarder::~Forwarder() {
  m_alive.reset();
}

void Forwarder::arm(Timer& timer, steady_clock::duration after, void (Forwarder::*fn)()) {
  const auto token = ++timer.token;
  timer.armed = true;
  timer.timer.expires_after(std::max(after, steady_clock::duration::zero()));
  timer.timer.async_wait(guarded([this, &timer, token, fn](const boost::system::error_code& ec) {
    if (ec || timer.token != token) {
      return;
    }
    timer.armed = false;
    (this->*fn)();
  }));
}

void Forwarder::disarm(Timer& timer) {
  ++timer.token;
  timer.armed = false;
  timer.timer.cancel();
}

void Forwarder::start() {
  if (m_state != State::idle) {
    return;
  }
  m_epoch = m_outbox.epoch();
  const auto outbox_stats = m_outbox.stats();
  m_acked_through = outbox_stats.acked_through;
  m_next_seq = m_acked_through + 1;
  m_known_last = outbox_stats.last_seq;
  // Events stored before this start may have been sent by the previous run: acks for them can
  // still be queued in the persistent session.
  m_highest_sent = outbox_stats.last_seq;
  sync_stats();
  m_transport.set_handlers(Transport::Handlers{
      guarded([this] { on_connected(); }),
      guarded([this](const std::string& reason) { on_disconnected(reason); }),
      guarded([this](TransportMessage message) { on_message(std::move(message)); }),
  });
  m_outbox.set_commit_listener(guarded([this](std::uint64_t last_seq) { on_commit(last_seq); }));
  spdlog::info("forwarder: epoch {} to {}, backlog {} events from seq {}",
               protocol::format_epoch(m_epoch), m_batch_topic,
               m_known_last - std::min(m_known_last, m_acked_through), m_next_seq);
  arm(m_heartbeat_timer, m_options.heartbeat, &Forwarder::on_heartbeat);
  connect();
}

void Forwarder::connect() {
  m_state = State::connecting;
  spdlog::debug("forwarder: connecting");
  m_transport.connect();
}

void Forwarder::renew_connection(const std::string& reason) {
  switch (m_state) {
    case State::waiting_retry:
      spdlog::info("forwarder: {}: connecting now", reason);
      disarm(m_retry_timer);
      m_backoff.reset();
      connect();
      return;
    case State::connecting:
      spdlog::info("forwarder: {}: renewing the connection once this attempt ends", reason);
      m_renew_after_connect = reason;
      return;
    case State::online:
      break;
    default:
      return;
  }
  spdlog::info("forwarder: {}: reconnecting", reason);
  drop_connection_state();
  m_state = State::renewing;
  with_stats([](ForwarderStats& s) {
    s.connected = false;
    s.broker.clear();
  });
  m_transport.disconnect(m_options.disconnect_timeout, guarded([this] {
                           if (m_state == State::renewing) {
                             m_backoff.reset();
                             connect();
                           }
                         }));
}

void Forwarder::drop_connection_state() {
  ++m_generation;
  m_pending.reset();
  disarm(m_batch_timer);
  disarm(m_limiter_timer);
  disarm(m_ack_timer);
  disarm(m_read_retry_timer);
  if (m_replayer != nullptr) {
    m_replayer->on_disconnected();
  }
}

void Forwarder::on_retry_timer() {
  if (m_state == State::waiting_retry) {
    connect();
  }
}

void Forwarder::on_connected() {
  if (m_state != State::connecting) {
    return;
  }
  m_state = State::online;
  m_backoff.reset();
  const bool reconnect = m_ever_connected;
  m_ever_connected = true;
  with_stats([&](ForwarderStats& s) {
    s.connected = true;
    if (reconnect) {
      ++s.reconnects;
    }
  });
  m_known_last = std::max(m_known_last, m_outbox.stats().last_seq);
  auto broker = m_transport.connected_uri();
  with_stats([&](ForwarderStats& s) { s.broker = broker; });
  // The highest seq the collector can legitimately hold: stored before this run started, or
  // sent by it. An empty database has a fresh epoch (SqliteOutbox::open).
  m_check_limit = m_highest_sent;
  m_mark_checked = m_check_limit == 0;
  m_probe_sent = false;
  with_stats([&](ForwarderStats& s) { s.mark_checked = m_mark_checked; });
  spdlog::info("forwarder: connected to {}; acked through seq {}, last seq {}",
               broker.empty() ? std::string("the broker") : broker, m_acked_through, m_known_last);
  m_transport.subscribe(m_ack_topic, guarded([this](const Status& status) {
                          if (!status) {
                            spdlog::warn("forwarder: subscribe to {} failed: {}", m_ack_topic,
                                         status.error().message);
                          }
                        }));
  if (m_replayer != nullptr) {
    m_replayer->on_connected();
  }
  publish_status();
  go_back_n("connected");
  if (m_renew_after_connect) {
    // The files changed while this connection was being made with the old ones.
    renew_connection(*std::exchange(m_renew_after_connect, std::nullopt));
  }
}

void Forwarder::on_disconnected(const std::string& reason) {
  switch (m_state) {
    case State::connecting:
    case State::online: {
      const bool was_online = m_state == State::online;
      m_renew_after_connect.reset();  // the next attempt reads the files anew
      drop_connection_state();
      m_state = State::waiting_retry;
      const auto delay = m_backoff.next_delay();
      with_stats([&](ForwarderStats& s) {
        s.connected = false;
        s.broker.clear();
        if (!was_online) {
          ++s.connect_failures;
        }
      });
      if (was_online) {
        spdlog::warn("forwarder: connection lost ({}); reconnecting in {} ms", reason,
                     delay.count());
      } else {
        spdlog::warn("forwarder: connect failed ({}); retrying in {} ms", reason, delay.count());
      }
      arm(m_retry_timer, delay, &Forwarder::on_retry_timer);
      break;
    }
    case State::stopping:
      with_stats([](ForwarderStats& s) {
        s.connected = false;
        s.broker.clear();
      });
      spdlog::warn("forwarder: connection lost while stopping ({})", reason);
      finish_stop();
      break;
    default:
      with_stats([](ForwarderStats& s) {
        s.connected = false;
        s.broker.clear();
      });
      break;
  }
}

void Forwarder::on_message(TransportMessage message) {
  if (message.topic == m_ack_topic) {
    on_ack(message.payload);
  } else if (m_replayer != nullptr && message.topic == m_replayer->command_topic()) {
    m_replayer->on_command(message.payload);
  } else {
    spdlog::debug("forwarder: ignoring message on {}", message.topic);
  }
}

void Forwarder::on_ack(const std::string& payload) {
  if ((m_state != State::online && m_state != State::stopping) || m_renewing) {
    return;
  }
  auto ignore = [this] { with_stats([](ForwarderStats& s) { ++s.acks_ignored; }); };
  auto ack = protocol::parse_ack(payload);
  if (!ack) {
    spdlog::warn("forwarder: bad ack: {}", ack.error().message);
    ignore();
    return;
  }
  if (ack->replay) {
    // Says nothing about the normal stream (docs/replay.md).
    if (m_replayer != nullptr && m_state == State::online) {
      m_replayer->on_ack(*ack);
    }
    return;
  }
  if (ack->epoch != m_epoch) {
    if (!m_other_epoch_logged) {
      m_other_epoch_logged = true;
      spdlog::debug("forwarder: ignoring acks for epoch {} (ours is {})",
                    protocol::format_epoch(ack->epoch), protocol::format_epoch(m_epoch));
    }
    ignore();
    return;
  }
  if (!m_mark_checked) {
    if (ack->through_seq > m_check_limit) {
      renew_epoch("the collector acknowledged epoch " + protocol::format_epoch(m_epoch) +
                  " through seq " + std::to_string(ack->through_seq) +
                  ", but this database holds only seqs through " + std::to_string(m_check_limit));
      return;
    }
    m_mark_checked = true;
    m_probe_sent = false;
    with_stats([](ForwarderStats& s) { s.mark_checked = true; });
    spdlog::info("forwarder: the collector's mark for epoch {} ({}) is not ahead of the database",
                 protocol::format_epoch(m_epoch), ack->through_seq);
  }
  if (ack->through_seq <= m_acked_through) {
    const bool resend = ack->resend && m_state == State::online;
    if (!resend) {
      spdlog::debug("forwarder: ignoring old ack through {} (acked through {})", ack->through_seq,
                    m_acked_through);
      ignore();
    }
    // A probe (the acknowledged event re-sent) is answered this way: it is done.
    while (!m_inflight.empty() && m_inflight.front().last_seq <= m_acked_through) {
      m_inflight.pop_front();
    }
    if (resend) {
      resend_requested(ack->through_seq);
    } else if (m_state == State::online) {
      arm_ack_timer();
      pump();
    } else if (m_inflight.empty()) {
      finish_stop();
    }
    return;
  }
  if (ack->through_seq > m_highest_sent) {
    spdlog::warn("forwarder: ignoring ack through {} beyond the last seq sent {}", ack->through_seq,
                 m_highest_sent);
    ignore();
    return;
  }
  const std::uint64_t through = ack->through_seq;
  const auto now = m_clock.now_steady();
  if (!m_inflight.empty() && m_inflight.front().last_seq <= through &&
      m_inflight.front().accepted_at && !m_inflight.front().resent) {
    // What the ack timer measured for this ack (see arm_ack_timer).
    m_ack_timeout.on_sample(std::chrono::duration_cast<milliseconds>(
        now - std::max(*m_inflight.front().accepted_at, m_last_progress)));
  }
  m_acked_through = through;
  m_last_progress = now;
  m_outbox.acknowledge(through, guarded([through](const Status& status) {
                         if (!status) {
                           spdlog::error("forwarder: storing ack through {} failed: {}", through,
                                         status.error().message);
                         }
                       }));
  while (!m_inflight.empty() && m_inflight.front().last_seq <= through) {
    m_inflight.pop_front();
  }
  if (m_next_seq <= through) {
    m_next_seq = through + 1;
  }
  if (m_pending && m_pending->first_seq <= through) {
    m_pending.reset();
  }
  const auto now_ms = m_clock.now_unix_ms();
  with_stats([&](ForwarderStats& s) {
    ++s.acks_received;
    s.last_ack_unix_ms = now_ms;
  });
  sync_stats();
  if (m_state == State::stopping) {
    if (m_inflight.empty()) {
      finish_stop();
    }
    return;
  }
  if (ack->resend) {
    resend_requested(through);
    return;
  }
  arm_ack_timer();
  pump();
}

// The collector that now serves this till has nothing of it in flight beyond `through`: what
// the ack timeout would do later, now, and the pace learnt from the previous collector's acks
// no longer applies.
void Forwarder::resend_requested(std::uint64_t through) {
  spdlog::info("forwarder: the collector asks for everything after seq {} again", through);
  with_stats([](ForwarderStats& s) { ++s.resend_requests; });
  m_ack_timeout.reset();
  go_back_n("resend requested");
}

void Forwarder::renew_epoch(const std::string& why) {
  spdlog::error(
      "forwarder: {}: the database is behind what the collector published (restored or "
      "rolled back); events after seq {} move to a new epoch",
      why, m_check_limit);
  m_renewing = true;
  ++m_generation;
  m_inflight.clear();
  m_pending.reset();
  disarm(m_ack_timer);
  disarm(m_batch_timer);
  disarm(m_limiter_timer);
  disarm(m_read_retry_timer);
  m_outbox.renew_epoch(m_check_limit, guarded([this](const Result<std::uint64_t>& renewed) {
                         on_epoch_renewed(renewed);
                       }));
}

void Forwarder::on_epoch_renewed(const Result<std::uint64_t>& renewed) {
  m_renewing = false;
  if (!renewed) {
    // Nothing changed: the next connection or ack timeout probes again and renews again.
    spdlog::error("forwarder: renewing the epoch failed: {}", renewed.error().message);
    arm(m_read_retry_timer, read_retry_delay, &Forwarder::on_read_retry_timer);
    return;
  }
  const auto stats = m_outbox.stats();
  spdlog::warn("forwarder: now epoch {} ({} events moved to it); epoch {} ends at seq {}",
               protocol::format_epoch(*renewed), stats.last_seq, protocol::format_epoch(m_epoch),
               m_check_limit);
  m_epoch = *renewed;
  m_acked_through = stats.acked_through;
  m_known_last = stats.last_seq;
  m_highest_sent = 0;
  m_highest_published = 0;
  m_next_seq = m_acked_through + 1;
  m_delay_expired_seq = 0;
  m_mark_checked = true;  // a fresh random epoch: no collector has a mark for it
  m_probe_sent = false;
  m_other_epoch_logged = false;
  with_stats([](ForwarderStats& s) {
    ++s.epoch_renewals;
    s.mark_checked = true;
  });
  if (m_state == State::online) {
    publish_status();  // the fleet page learns of the renewal now, not at the next heartbeat
    go_back_n("new epoch");
  } else if (m_state == State::stopping) {
    finish_stop();
  }
}

// Nothing at or below the check limit is unacknowledged: re-send the last acknowledged event so
// that the collector answers with its mark. Without that event (never acknowledged, or a
// database from before the event was kept for this) nothing can show that the collector is not
// ahead: the epoch is renewed, which is always safe.
bool Forwarder::build_probe() {
  const std::uint64_t seq = m_acked_through;
  if (seq > 0) {
    auto events = m_outbox.read_from(seq, 1, m_options.batch_max_bytes);
    if (!events) {
      spdlog::error("forwarder: reading the outbox at seq {} failed: {}", seq,
                    events.error().message);
      arm(m_read_retry_timer, read_retry_delay, &Forwarder::on_read_retry_timer);
      return false;
    }
    if (!events->empty() && events->front().seq == seq) {
      std::vector<std::string> lines;
      lines.push_back(std::move(events->front().payload_line));
      const std::size_t raw_bytes = lines.front().size() + 1;
      auto encoded = m_encoder.encode(m_epoch, seq, lines);
      if (!encoded) {
        spdlog::error("forwarder: encoding the probe at seq {} failed: {}", seq,
                      encoded.error().message);
        arm(m_read_retry_timer, read_retry_delay, &Forwarder::on_read_retry_timer);
        return false;
      }
      spdlog::debug("forwarder: probing the collector's mark with seq {}", seq);
      m_probe_sent = true;
      m_pending = Pending{seq, seq, raw_bytes, std::move(*encoded)};
      return true;
    }
  }
  renew_epoch("no stored event can probe the collector's mark of epoch " +
              protocol::format_epoch(m_epoch));
  return false;
}

void Forwarder::on_commit(std::uint64_t last_seq) {
  m_known_last = std::max(m_known_last, last_seq);
  if (m_state != State::online) {
    return;
  }
  if (m_batch_timer.armed) {
    if (m_known_last + 1 - std::min(m_next_seq, m_known_last + 1) >= m_options.batch_max_events) {
      disarm(m_batch_timer);
      pump();
    }
    return;
  }
  pump();
}

void Forwarder::schedule_pump() {
  if (m_pump_posted) {
    return;
  }
  m_pump_posted = true;
  boost::asio::post(m_executor, guarded([this] {
                      m_pump_posted = false;
                      pump();
                    }));
}

void Forwarder::pump() {
  with_stats([](ForwarderStats& s) { ++s.send_passes; });
  if (m_state != State::online || m_renewing || m_batch_timer.armed || m_limiter_timer.armed ||
      m_read_retry_timer.armed || m_inflight.size() >= m_options.window_batches) {
    return;
  }
  if (!m_pending && !build_pending()) {
    return;
  }
  if (m_limiter != nullptr) {
    const auto delay = m_limiter->delay_for(m_pending->data.size(), m_clock.now_steady(),
                                            local_minute_of_day(m_clock.now_unix_ms()));
    if (delay.count() > 0) {
      arm(m_limiter_timer, delay, &Forwarder::on_limiter_timer);
      return;
    }
  }
  publish_pending();
  // One batch per handler: a drain does not hold the executor for a whole window.
  schedule_pump();
}

bool Forwarder::build_pending() {
  std::size_t max_events = m_options.batch_max_events;
  if (!m_mark_checked) {
    if (m_next_seq > m_check_limit) {
      return !m_probe_sent && m_inflight.empty() && build_probe();
    }
    max_events = std::min<std::uint64_t>(max_events, m_check_limit - m_next_seq + 1);
  }
  auto events = m_outbox.read_from(m_next_seq, max_events, m_options.batch_max_bytes);
  if (!events) {
    spdlog::error("forwarder: reading the outbox from seq {} failed: {}", m_next_seq,
                  events.error().message);
    arm(m_read_retry_timer, read_retry_delay, &Forwarder::on_read_retry_timer);
    return false;
  }
  if (events->empty()) {
    return false;
  }
  if (events->front().seq != m_next_seq) {
    spdlog::error("forwarder: outbox returned seq {} when reading from {}", events->front().seq,
                  m_next_seq);
    arm(m_read_retry_timer, read_retry_delay, &Forwarder::on_read_retry_timer);
    return false;
  }
  std::size_t count = 1;
  while (count < events->size() && (*events)[count].seq == m_next_seq + count) {
    ++count;
  }
  if (count < events->size()) {
    spdlog::error("forwarder: gap in the outbox after seq {}", m_next_seq + count - 1);
    events->resize(count);
  }
  const std::uint64_t last_seq = events->back().seq;
  m_known_last = std::max(m_known_last, last_seq);
  const bool more_available = last_seq < m_known_last || count == max_events;
  if (count < m_options.batch_max_events && !more_available && m_delay_expired_seq != m_next_seq) {
    const auto age = milliseconds(m_clock.now_unix_ms() - events->front().received_at_ms);
    if (age >= milliseconds(0) && age < m_options.batch_delay) {
      arm(m_batch_timer, m_options.batch_delay - age, &Forwarder::on_batch_timer);
      return false;
    }
  }
  std::vector<std::string> lines;
  lines.reserve(count);
  std::size_t raw_bytes = 0;
  for (auto& event : *events) {
    raw_bytes += event.payload_line.size() + 1;
    lines.push_back(std::move(event.payload_line));
  }
  events->clear();
  auto encoded = m_encoder.encode(m_epoch, m_next_seq, lines);
  if (!encoded) {
    spdlog::error("forwarder: encoding seqs {}-{} failed: {}", m_next_seq, last_seq,
                  encoded.error().message);
    arm(m_read_retry_timer, read_retry_delay, &Forwarder::on_read_retry_timer);
    return false;
  }
  m_pending = Pending{m_next_seq, last_seq, raw_bytes, std::move(*encoded)};
  return true;
}

void Forwarder::publish_pending() {
  Pending batch = std::move(*m_pending);
  m_pending.reset();
  const std::uint64_t id = ++m_next_id;
  m_inflight.push_back(InFlight{batch.first_seq, batch.last_seq, id,
                                batch.first_seq <= m_highest_published, std::nullopt});
  m_highest_sent = std::max(m_highest_sent, batch.last_seq);
  m_highest_published = std::max(m_highest_published, batch.last_seq);
  m_next_seq = batch.last_seq + 1;
  with_stats([&](ForwarderStats& s) {
    ++s.batches_sent;
    s.events_sent += batch.last_seq - batch.first_seq + 1;
    s.bytes_sent += batch.data.size();
    s.raw_bytes_sent += batch.raw_bytes;
    s.inflight_batches = m_inflight.size();
  });
  spdlog::debug("forwarder: sending seqs {}-{} ({} bytes, {} raw)", batch.first_seq, batch.last_seq,
                batch.data.size(), batch.raw_bytes);
  m_transport.publish(m_batch_topic, std::move(batch.data), false,
                      guarded([this, generation = m_generation, id](const Status& status) {
                        on_published(generation, id, status);
                      }));
}

void Forwarder::on_published(std::uint64_t generation, std::uint64_t id, const Status& status) {
  if (generation != m_generation) {
    return;
  }
  auto it = std::find_if(m_inflight.begin(), m_inflight.end(),
                         [id](const InFlight& f) { return f.id == id; });
  if (it == m_inflight.end()) {
    return;
  }
  if (!status) {
    spdlog::warn("forwarder: publishing seqs {}-{} failed: {}", it->first_seq, it->last_seq,
                 status.error().message);
  }
  it->accepted_at = m_clock.now_steady();
  if (it == m_inflight.begin() && m_state == State::online) {
    arm_ack_timer();
  }
}

void Forwarder::arm_ack_timer() {
  if (m_inflight.empty() || !m_inflight.front().accepted_at) {
    disarm(m_ack_timer);
    return;
  }
  const auto since = std::max(*m_inflight.front().accepted_at, m_last_progress);
  arm(m_ack_timer, since + m_ack_timeout.current() - m_clock.now_steady(),
      &Forwarder::on_ack_timer);
}

void Forwarder::on_ack_timer() {
  if (m_state != State::online || m_inflight.empty() || !m_inflight.front().accepted_at) {
    return;
  }
  const auto since = std::max(*m_inflight.front().accepted_at, m_last_progress);
  if (m_clock.now_steady() - since >= m_ack_timeout.current()) {
    m_ack_timeout.on_timeout();
    spdlog::info("forwarder: no ack progress in time; ack timeout now {} ms",
                 m_ack_timeout.current().count());
    go_back_n("ack timeout");
  } else {
    arm_ack_timer();
  }
}

void Forwarder::go_back_n(const char* reason) {
  const std::uint64_t from = m_acked_through + 1;
  if (m_next_seq > from) {
    spdlog::info("forwarder: go-back-N ({}): resending from seq {} (was at {})", reason, from,
                 m_next_seq);
    with_stats([](ForwarderStats& s) { ++s.resends; });
  }
  ++m_generation;
  m_inflight.clear();
  m_pending.reset();
  m_probe_sent = false;
  disarm(m_ack_timer);
  disarm(m_batch_timer);
  disarm(m_limiter_timer);
  m_next_seq = from;
  m_last_progress = m_clock.now_steady();
  sync_stats();
  pump();
}

void Forwarder::on_batch_timer() {
  m_delay_expired_seq = m_next_seq;
  pump();
}

void Forwarder::upload_limit_changed() {
  if (m_limiter_timer.armed) {
    disarm(m_limiter_timer);
    schedule_pump();
  }
}

void Forwarder::on_limiter_timer() {
  pump();
}

void Forwarder::on_read_retry_timer() {
  pump();
}

void Forwarder::on_heartbeat() {
  if (m_state == State::online) {
    publish_status();
  }
  if (m_state != State::disconnecting && m_state != State::stopped) {
    arm(m_heartbeat_timer, m_options.heartbeat, &Forwarder::on_heartbeat);
  }
}

void Forwarder::set_replayer(Replayer& replayer) {
  m_replayer = &replayer;
  replayer.set_progress_listener(guarded([this] {
    if (m_state == State::online) {
      publish_status();
    }
  }));
}

void Forwarder::publish_status() {
  auto payload = call_payload(m_options.status_payload);
  if (payload.empty()) {
    return;
  }
  m_transport.publish(m_status_topic, std::move(payload), true, [](const Status& status) {
    if (!status) {
      spdlog::debug("forwarder: status publish failed: {}", status.error().message);
    }
  });
}

void Forwarder::stop(milliseconds drain_timeout, std::function<void()> done) {
  if (m_state == State::stopping || m_state == State::disconnecting || m_state == State::stopped) {
    boost::asio::post(m_executor, std::move(done));
    return;
  }
  const bool online = m_state == State::online;
  m_state = State::stopping;
  m_stop_done = std::move(done);
  m_pending.reset();
  disarm(m_retry_timer);
  disarm(m_batch_timer);
  disarm(m_limiter_timer);
  disarm(m_read_retry_timer);
  disarm(m_ack_timer);
  if (online && !m_inflight.empty()) {
    spdlog::info("forwarder: stopping; waiting up to {} ms for {} batches to be acknowledged",
                 drain_timeout.count(), m_inflight.size());
    arm(m_stop_timer, drain_timeout, &Forwarder::on_stop_timer);
    return;
  }
  finish_stop();
}

void Forwarder::on_stop_timer() {
  if (m_state == State::stopping) {
    spdlog::warn("forwarder: {} batches still unacknowledged at shutdown", m_inflight.size());
    finish_stop();
  }
}

void Forwarder::finish_stop() {
  if (m_state != State::stopping) {
    return;
  }
  m_state = State::disconnecting;
  disarm(m_stop_timer);
  disarm(m_heartbeat_timer);
  ++m_generation;
  auto payload = m_transport.is_connected() ? call_payload(m_options.offline_payload) : "";
  if (payload.empty()) {
    disconnect_now();
    return;
  }
  // Disconnect once the broker has the offline status, or after disconnect_timeout.
  arm(m_stop_timer, m_options.disconnect_timeout, &Forwarder::disconnect_now);
  m_transport.publish(
      m_status_topic, std::move(payload), true, guarded([this](const Status& status) {
        if (!status) {
          spdlog::warn("forwarder: offline status publish failed: {}", status.error().message);
        }
        if (m_state == State::disconnecting && m_stop_timer.armed) {
          disarm(m_stop_timer);
          disconnect_now();
        }
      }));
}

void Forwarder::disconnect_now() {
  m_transport.disconnect(m_options.disconnect_timeout, guarded([this] {
                           m_state = State::stopped;
                           with_stats([](ForwarderStats& s) {
                             s.connected = false;
                             s.broker.clear();
                           });
                           spdlog::info("forwarder: stopped; acked through seq {}",
                                        m_acked_through);
                           if (m_stop_done) {
                             boost::asio::post(m_executor, std::move(m_stop_done));
                             m_stop_done = nullptr;
                           }
                         }));
}

void Forwarder::sync_stats() {
  with_stats([&](ForwarderStats& s) {
    s.acked_through = m_acked_through;
    s.inflight_batches = m_inflight.size();
    s.ack_timeout_ms = m_ack_timeout.current().count();
  });
}

ForwarderStats Forwarder::stats() const {
  std::lock_guard lock(m_stats_mutex);
  return m_stats;
}

}  // namespace pos::agent
