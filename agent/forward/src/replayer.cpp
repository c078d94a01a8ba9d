#include "pos/agent/replayer.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <sstream>
#include <vector>

#include "pos/common/files.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::agent {
namespace {

constexpr std::uintmax_t max_state_file_bytes = std::uintmax_t{1024} * 1024;
constexpr std::chrono::milliseconds replay_read_retry_delay{1000};

std::string replay_topic_or_throw(const ReplayerOptions& o, protocol::TopicKind kind) {
  auto topic = protocol::make_topic(o.topic_prefix, o.store_id, o.till_id, kind);
  if (!topic) {
    throw std::invalid_argument("replayer: " + topic.error().message);
  }
  return std::move(*topic);
}

std::string seq_range(std::uint64_t from, std::uint64_t to) {
  return from == to ? std::to_string(from) : std::to_string(from) + ".." + std::to_string(to);
}

}  // namespace

template <class F>
auto Replayer::guarded(F f) {
  return [alive = std::weak_ptr<int>(m_alive), f = std::move(f)](auto&&... args) mutable {
    if (alive.lock()) {
      f(std::forward<decltype(args)>(args)...);
    }
  };
}

Replayer::Replayer(boost::asio::any_io_executor executor, Outbox& outbox, Transport& transport,
                   const common::Clock& clock, UploadLimiter* limiter,
                   protocol::BatchEncoder encoder, ReplayerOptions options)
    : m_executor(std::move(executor)),
      m_outbox(outbox),
      m_transport(transport),
      m_clock(clock),
      m_limiter(limiter),
      m_encoder(std::move(encoder)),
      m_options(std::move(options)),
      m_command_topic(replay_topic_or_throw(m_options, protocol::TopicKind::cmd)),
      m_replay_topic(replay_topic_or_throw(m_options, protocol::TopicKind::replay)),
      m_ack_timer(m_executor) {
  load();
}

Replayer::~Replayer() = default;

void Replayer::set_progress_listener(std::function<void()> listener) {
  m_listener = std::move(listener);
}

void Replayer::on_connected() {
  m_online = true;
  m_transport.subscribe(m_command_topic, guarded([this](const Status& status) {
                          if (!status) {
                            spdlog::warn("replay: subscribe to {} failed: {}", m_command_topic,
                                         status.error().message);
                          }
                        }));
  pump();
}

void Replayer::on_disconnected() {
  m_online = false;
  m_in_flight.reset();
  m_waiting.reset();
  ++m_generation;
  m_ack_timer.cancel();
}

void Replayer::on_command(const std::string& payload) {
  std::optional<protocol::ReplayProgress> known;
  std::optional<protocol::ReplayProgress> running;
  auto command = protocol::parse_replay_command(payload);
  {
    std::lock_guard lock(m_mutex);
    ++m_stats.commands;
    if (!command) {
      ++m_stats.commands_invalid;
    } else {
      for (const auto& p : m_history) {
        if (p.id == command->id) {
          known = p;
          break;
        }
      }
      if (!m_history.empty() && m_history.front().state == protocol::ReplayState::running) {
        running = m_history.front();
      }
    }
  }
  if (!command) {
    spdlog::warn("replay: ignoring a bad command on {}: {}", m_command_topic,
                 command.error().message);
    return;
  }
  if (known) {
    // Idempotent: the command is retained and arrives again at every connect.
    spdlog::debug("replay {}: already {}", known->id, protocol::to_string(known->state));
    changed(false);
    return;
  }
  if (running) {
    refuse(command->id, "another replay (" + running->id + ") is running; send the command again " +
                            "once it is done");
    return;
  }
  start(*command);
}

void Replayer::start(const protocol::ReplayCommand& command) {
  auto range = resolve(command);
  if (!range) {
    refuse(command.id, range.error().message);
    return;
  }
  protocol::ReplayProgress p;
  p.id = command.id;
  p.state = protocol::ReplayState::running;
  p.epoch = m_outbox.epoch();
  p.from_seq = range->first;
  p.to_seq = range->second;
  p.replayed_through = range->first - 1;
  p.events_total = range->second - range->first + 1;
  p.updated_at = protocol::format_rfc3339_utc_ms(m_clock.now_unix_ms());
  spdlog::info("replay {}: re-sending seqs {} ({} events)", p.id, seq_range(p.from_seq, p.to_seq),
               p.events_total);
  {
    std::lock_guard lock(m_mutex);
    m_history.push_front(std::move(p));
    while (m_history.size() > m_options.max_remembered) {
      m_history.pop_back();
    }
  }
  changed(true);
  pump();
}

Result<std::uint64_t> Replayer::first_received_at_or_after(std::int64_t ms, std::uint64_t lo,
                                                           std::uint64_t hi) {
  std::uint64_t end = hi + 1;
  while (lo < end) {
    const std::uint64_t mid = lo + (end - lo) / 2;
    auto events = m_outbox.read_from(mid, 1, 1);
    if (!events) {
      return fail(events.error());
    }
    if (events->empty() || events->front().seq != mid) {
      return fail("seq " + std::to_string(mid) + " is no longer held");
    }
    if (events->front().received_at_ms < ms) {
      lo = mid + 1;
    } else {
      end = mid;
    }
  }
  return lo;
}

Result<std::pair<std::uint64_t, std::uint64_t>> Replayer::resolve(
    const protocol::ReplayCommand& command) {
  if (command.epoch && *command.epoch != m_outbox.epoch()) {
    return fail("the command is for epoch " + protocol::format_epoch(*command.epoch) +
                ", but this database is epoch " + protocol::format_epoch(m_outbox.epoch()) +
                " (a replaced or re-created database)");
  }
  const OutboxStats stats = m_outbox.stats();
  const std::uint64_t acked = stats.acked_through;
  auto first = m_outbox.read_from(1, 1, 1);
  if (!first) {
    return fail("reading the buffer failed: " + first.error().message);
  }
  if (acked == 0 || first->empty() || first->front().seq > acked) {
    return fail(
        "this till holds no acknowledged events (acknowledged through " + std::to_string(acked) +
        "; acknowledged events are kept buffer.retention_hours, unacknowledged ones are being "
        "sent normally)");
  }
  const std::uint64_t held_from = first->front().seq;
  const std::string held = "this till holds seqs " + seq_range(held_from, acked) +
                           " acknowledged (acknowledged events are kept buffer.retention_hours)";
  if (command.from_seq) {
    const std::uint64_t from = *command.from_seq;
    const std::uint64_t to = *command.to_seq;
    if (from > acked) {
      return fail("seqs " + seq_range(from, to) +
                  " are not acknowledged yet: they reach Pub/Sub through the normal path; " + held);
    }
    if (from < held_from) {
      return fail("seqs " + seq_range(from, held_from - 1) + " are no longer held; " + held);
    }
    return std::pair{from, std::min(to, acked)};
  }
  const std::int64_t held_since = first->front().received_at_ms;
  if (held_from > 1 && *command.from_ms < held_since) {
    return fail("events received before " + protocol::format_rfc3339_utc_ms(held_since) +
                " are no longer held; " + held);
  }
  auto from = first_received_at_or_after(*command.from_ms, held_from, acked);
  if (!from) {
    return fail(from.error());
  }
  auto after = first_received_at_or_after(*command.to_ms + 1, held_from, acked);
  if (!after) {
    return fail(after.error());
  }
  if (*from >= *after) {
    return fail("no acknowledged event was received between " +
                protocol::format_rfc3339_utc_ms(*command.from_ms) + " and " +
                protocol::format_rfc3339_utc_ms(*command.to_ms) + "; " + held);
  }
  return std::pair{*from, *after - 1};
}

void Replayer::refuse(const std::string& id, const std::string& why) {
  spdlog::warn("replay {}: refused: {}", id, why);
  protocol::ReplayProgress p;
  p.id = id;
  p.state = protocol::ReplayState::refused;
  p.epoch = m_outbox.epoch();
  p.error = why;
  p.updated_at = protocol::format_rfc3339_utc_ms(m_clock.now_unix_ms());
  {
    std::lock_guard lock(m_mutex);
    ++m_stats.refused;
    // A refusal never displaces a running replay from the front (it would stop being resumed).
    auto at = m_history.begin();
    if (at != m_history.end() && at->state == protocol::ReplayState::running) {
      ++at;
    }
    m_history.insert(at, std::move(p));
    while (m_history.size() > m_options.max_remembered) {
      m_history.pop_back();
    }
  }
  changed(true);
}

void Replayer::pump() {
  if (!m_online || m_in_flight) {
    return;
  }
  protocol::ReplayProgress p;
  {
    std::lock_guard lock(m_mutex);
    if (m_history.empty() || m_history.front().state != protocol::ReplayState::running) {
      return;
    }
    p = m_history.front();
  }
  if (p.epoch != m_outbox.epoch()) {
    stop_running(p.id, "the database moved to a new epoch during the replay");
    return;
  }
  const std::uint64_t next = p.replayed_through + 1;
  if (next > p.to_seq) {
    finish_if_complete();
    return;
  }
  if (!m_waiting || m_waiting->first_seq != next) {
    m_waiting = next_batch(p, next);
    if (!m_waiting) {
      return;
    }
  }
  if (m_limiter != nullptr) {
    const auto delay = m_limiter->delay_for(m_waiting->data.size(), m_clock.now_steady(),
                                            local_minute_of_day(m_clock.now_unix_ms()));
    if (delay.count() > 0) {
      pump_after(delay);
      return;
    }
  }
  Waiting batch = std::move(*m_waiting);
  m_waiting.reset();
  m_in_flight = InFlight{batch.first_seq, batch.last_seq};
  const std::uint64_t generation = ++m_generation;
  {
    std::lock_guard lock(m_mutex);
    ++m_stats.batches_sent;
  }
  m_transport.publish(
      m_replay_topic, std::move(batch.data), false,
      guarded([this, generation](const Status& status) { on_published(generation, status); }));
  m_ack_timer.expires_after(m_options.ack_timeout);
  m_ack_timer.async_wait(guarded([this, generation](const boost::system::error_code& ec) {
    if (!ec && generation == m_generation) {
      on_ack_timeout();
    }
  }));
}

void Replayer::pump_after(std::chrono::milliseconds delay) {
  const std::uint64_t generation = m_generation;
  m_ack_timer.expires_after(delay);
  m_ack_timer.async_wait(guarded([this, generation](const boost::system::error_code& ec) {
    if (!ec && generation == m_generation) {
      pump();
    }
  }));
}

std::optional<Replayer::Waiting> Replayer::next_batch(const protocol::ReplayProgress& p,
                                                      std::uint64_t next) {
  auto events = m_outbox.read_from(next, m_options.batch_max_events, m_options.batch_max_bytes);
  if (!events) {
    spdlog::warn("replay {}: reading seq {} failed: {}; retrying", p.id, next,
                 events.error().message);
    pump_after(replay_read_retry_delay);
    return std::nullopt;
  }
  if (events->empty() || events->front().seq != next) {
    stop_running(p.id,
                 "seq " + std::to_string(next) + " is no longer held (pruned during the replay)");
    return std::nullopt;
  }
  std::vector<std::string> lines;
  std::uint64_t last = next - 1;
  for (auto& e : *events) {
    if (e.seq > p.to_seq || e.seq != last + 1) {
      break;
    }
    last = e.seq;
    lines.push_back(std::move(e.payload_line));
  }
  auto data = m_encoder.encode(p.epoch, next, lines);
  if (!data) {
    stop_running(p.id, "encoding a batch failed: " + data.error().message);
    return std::nullopt;
  }
  return Waiting{next, last, std::move(*data)};
}

void Replayer::stop_running(const std::string& id, const std::string& why) {
  {
    std::lock_guard lock(m_mutex);
    auto& front = m_history.front();
    front.state = protocol::ReplayState::refused;
    front.error = why;
    front.updated_at = protocol::format_rfc3339_utc_ms(m_clock.now_unix_ms());
    ++m_stats.refused;
  }
  m_waiting.reset();
  spdlog::warn("replay {}: stopped: {}", id, why);
  changed(true);
}

void Replayer::on_published(std::uint64_t generation, const Status& status) {
  if (!status && generation == m_generation) {
    // The ack timer sends it again (or the reconnect does).
    spdlog::debug("replay: publish failed: {}", status.error().message);
  }
}

void Replayer::on_ack_timeout() {
  spdlog::info("replay: no ack for seqs {} in time; sending again",
               m_in_flight ? seq_range(m_in_flight->first_seq, m_in_flight->last_seq) : "?");
  m_in_flight.reset();
  ++m_generation;
  pump();
}

void Replayer::on_ack(const protocol::Ack& ack) {
  if (!m_in_flight) {
    return;
  }
  {
    std::lock_guard lock(m_mutex);
    if (m_history.empty() || m_history.front().state != protocol::ReplayState::running) {
      return;
    }
    auto& front = m_history.front();
    if (ack.epoch != front.epoch || ack.through_seq < m_in_flight->last_seq) {
      return;
    }
    const std::uint64_t events = m_in_flight->last_seq - front.replayed_through;
    front.replayed_through = m_in_flight->last_seq;
    front.events_replayed += events;
    front.updated_at = protocol::format_rfc3339_utc_ms(m_clock.now_unix_ms());
    m_stats.events_replayed += events;
  }
  m_in_flight.reset();
  ++m_generation;
  m_ack_timer.cancel();
  finish_if_complete();
  changed(true);
  pump();
}

void Replayer::finish_if_complete() {
  std::string id;
  std::uint64_t events = 0;
  {
    std::lock_guard lock(m_mutex);
    if (m_history.empty()) {
      return;
    }
    auto& front = m_history.front();
    if (front.state != protocol::ReplayState::running || front.replayed_through < front.to_seq) {
      return;
    }
    front.state = protocol::ReplayState::done;
    front.updated_at = protocol::format_rfc3339_utc_ms(m_clock.now_unix_ms());
    ++m_stats.completed;
    id = front.id;
    events = front.events_replayed;
  }
  spdlog::info("replay {}: done, {} events published again", id, events);
  changed(true);
}

void Replayer::changed(bool persist) {
  if (persist) {
    save();
  }
  if (m_listener) {
    m_listener();
  }
}

std::optional<protocol::ReplayProgress> Replayer::progress() const {
  std::lock_guard lock(m_mutex);
  if (m_history.empty()) {
    return std::nullopt;
  }
  return m_history.front();
}

ReplayerStats Replayer::stats() const {
  std::lock_guard lock(m_mutex);
  return m_stats;
}

void Replayer::save() {
  if (m_options.state_file.empty()) {
    return;
  }
  boost::json::array replays;
  {
    std::lock_guard lock(m_mutex);
    for (const auto& p : m_history) {
      replays.push_back(protocol::replay_progress_to_json(p));
    }
  }
  boost::json::object doc;
  doc.emplace("replays", std::move(replays));
  if (auto saved = common::files::replace(m_options.state_file, boost::json::serialize(doc), 0640);
      !saved) {
    // Kept in memory; a restart may then replay a finished range again (marked replay="true").
    spdlog::warn("replay: saving {} failed: {}", m_options.state_file.string(),
                 saved.error().message);
  }
}

void Replayer::load() {
  if (m_options.state_file.empty()) {
    return;
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(m_options.state_file, ec);
  if (ec) {
    return;  // no file yet: no replay seen
  }
  auto damaged = [&](const std::string& why) {
    spdlog::warn("replay: {} is damaged ({}); starting with no replay history",
                 m_options.state_file.string(), why);
    m_history.clear();
  };
  if (size > max_state_file_bytes) {
    damaged("larger than 1 MiB");
    return;
  }
  std::ifstream in(m_options.state_file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code parse_ec;
  const auto doc = boost::json::parse(text.str(), parse_ec);
  if (parse_ec || !doc.is_object() || !doc.get_object().contains("replays") ||
      !doc.get_object().at("replays").is_array()) {
    damaged("not a JSON object with a replays array");
    return;
  }
  for (const auto& v : doc.get_object().at("replays").get_array()) {
    auto p = protocol::parse_replay_progress(v);
    if (!p) {
      damaged(p.error().message);
      return;
    }
    if (m_history.size() < m_options.max_remembered) {
      m_history.push_back(std::move(*p));
    }
  }
  if (!m_history.empty() && m_history.front().state == protocol::ReplayState::running) {
    spdlog::info("replay {}: resuming after seq {}", m_history.front().id,
                 m_history.front().replayed_through);
  }
}

}  // namespace pos::agent
