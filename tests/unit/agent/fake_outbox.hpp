#pragma once
// In-memory Outbox for unit tests of one class at the outbox seam. Completions run on the given
// io_context, like the real one. Not durable, no size limit unless set.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <mutex>
#include <stdexcept>

#include "pos/agent/outbox.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::agent::test {

class FakeOutbox final : public Outbox {
 public:
  FakeOutbox(boost::asio::any_io_executor executor, std::string store_id = "S01",
             std::string till_id = "T1", std::uint64_t epoch = 0x1122334455667788ULL)
      : m_executor(std::move(executor)),
        m_store_id(std::move(store_id)),
        m_till_id(std::move(till_id)),
        m_epoch(epoch) {}

  /// When set, the next append fails with this error.
  std::optional<AppendError> fail_next_append;
  /// When set, append fails with `full` once the backlog reaches this many events.
  std::optional<std::uint64_t> max_backlog_events;
  /// Event `seq` is stored as received at seq * received_at_step_ms (UNIX ms).
  std::int64_t received_at_step_ms = 0;

  void append(std::vector<protocol::PosEvent> events, AppendDone done) override {
    std::vector<AppendResult> results;
    {
      std::lock_guard lock(m_mutex);
      if (fail_next_append) {
        auto error = *fail_next_append;
        fail_next_append.reset();
        boost::asio::post(m_executor, [done, error] {
          done(Result<std::vector<AppendResult>, AppendError>::failure(error));
        });
        return;
      }
      if (max_backlog_events && m_events.size() - m_acked_through >= *max_backlog_events) {
        boost::asio::post(m_executor, [done] {
          done(Result<std::vector<AppendResult>, AppendError>::failure(
              AppendError{AppendError::Kind::full, "buffer full"}));
        });
        return;
      }
      for (const auto& event : events) {
        auto it = m_by_pos_id.find(event.pos_event_id());
        if (it != m_by_pos_id.end()) {
          results.push_back({AppendResult::Status::duplicate, event_id(it->second), it->second});
          continue;
        }
        const std::uint64_t seq = m_events.size() + 1;
        protocol::AgentStamp stamp{m_store_id, m_till_id, m_epoch, seq, "2026-11-22T03:00:00.000Z"};
        m_events.push_back({seq, protocol::make_payload_line(event, stamp),
                            static_cast<std::int64_t>(seq) * received_at_step_ms});
        m_by_pos_id.emplace(event.pos_event_id(), seq);
        results.push_back({AppendResult::Status::accepted, event_id(seq), seq});
      }
    }
    const std::uint64_t last = m_events.size();
    boost::asio::post(m_executor, [this, done, results = std::move(results), last]() mutable {
      done(std::move(results));
      if (m_listener) {
        m_listener(last);
      }
    });
  }

  Result<std::vector<StoredEvent>> read_from(std::uint64_t first_seq, std::size_t max_events,
                                             std::size_t max_bytes) override {
    std::lock_guard lock(m_mutex);
    std::vector<StoredEvent> out;
    std::size_t bytes = 0;
    for (std::uint64_t seq = std::max<std::uint64_t>({first_seq, 1, m_pruned_before});
         seq <= m_events.size() && out.size() < max_events; ++seq) {
      const auto& event = m_events[seq - 1];
      if (!out.empty() && bytes + event.payload_line.size() > max_bytes) {
        break;
      }
      bytes += event.payload_line.size();
      out.push_back(event);
    }
    return out;
  }

  void acknowledge(std::uint64_t through_seq, std::function<void(Status)> done) override {
    Status status;
    {
      std::lock_guard lock(m_mutex);
      if (through_seq > m_events.size()) {
        status = fail("ack beyond last seq");
      } else if (through_seq > m_acked_through) {
        m_acked_through = through_seq;
      }
      ++acknowledge_calls;
    }
    boost::asio::post(m_executor, [done, status] { done(status); });
  }

  /// Renews to epoch + 1 (deterministic for tests), re-stamping the moved events.
  void renew_epoch(std::uint64_t keep_through,
                   std::function<void(Result<std::uint64_t>)> done) override {
    std::uint64_t renewed = 0;
    {
      std::lock_guard lock(m_mutex);
      ++renew_calls;
      last_keep_through = keep_through;
      renewed = m_epoch + 1;
      std::vector<StoredEvent> moved;
      m_by_pos_id.clear();
      for (const auto& stored : m_events) {
        if (stored.seq <= keep_through) {
          continue;
        }
        auto parsed = protocol::parse_payload_line(stored.payload_line, {});
        if (!parsed) {
          throw std::logic_error("FakeOutbox: " + parsed.error().message);
        }
        protocol::AgentStamp stamp = parsed->stamp;
        stamp.epoch = renewed;
        stamp.seq = moved.size() + 1;
        moved.push_back({stamp.seq, protocol::make_payload_line(parsed->event, stamp), 0});
        m_by_pos_id.emplace(parsed->event.pos_event_id(), stamp.seq);
      }
      m_events = std::move(moved);
      m_pruned_before = 0;
      m_epoch = renewed;
      m_acked_through = 0;
    }
    boost::asio::post(m_executor, [done, renewed] { done(renewed); });
  }

  void set_commit_listener(CommitListener listener) override { m_listener = std::move(listener); }

  OutboxStats stats() const override {
    std::lock_guard lock(m_mutex);
    OutboxStats s;
    s.epoch = m_epoch;
    s.last_seq = m_events.size();
    s.acked_through = m_acked_through;
    s.backlog_events = s.last_seq - s.acked_through;
    return s;
  }
  std::uint64_t epoch() const override {
    std::lock_guard lock(m_mutex);
    return m_epoch;
  }
  /// Makes read_from return nothing below `seq` (events pruned after their retention).
  void prune_before(std::uint64_t seq) {
    std::lock_guard lock(m_mutex);
    m_pruned_before = seq;
  }
  int renew_calls = 0;
  std::uint64_t last_keep_through = 0;
  /// Payload line of stored seq `seq` (1-based), for assertions.
  std::string line(std::uint64_t seq) const {
    std::lock_guard lock(m_mutex);
    return m_events.at(seq - 1).payload_line;
  }

  std::uint64_t acked_through() const {
    std::lock_guard lock(m_mutex);
    return m_acked_through;
  }
  int acknowledge_calls = 0;

 private:
  std::string event_id(std::uint64_t seq) const {
    return protocol::make_event_id(m_store_id, m_till_id, m_epoch, seq);
  }

  boost::asio::any_io_executor m_executor;
  std::string m_store_id;
  std::string m_till_id;
  std::uint64_t m_epoch;
  mutable std::mutex m_mutex;
  std::vector<StoredEvent> m_events;
  std::map<std::string, std::uint64_t> m_by_pos_id;
  std::uint64_t m_acked_through = 0;
  std::uint64_t m_pruned_before = 0;
  CommitListener m_listener;
};

}  // namespace pos::agent::test
