// SqliteOutbox's writer thread: group commit of appends and acknowledgements, pruning. See the
// design notes at the top of sqlite_outbox.cpp.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <unordered_map>
#include <utility>

#include "sqlite_outbox_impl.hpp"

namespace pos::agent {

using namespace outbox_detail;

void SqliteOutbox::Impl::run_writer() {
  using steady = std::chrono::steady_clock;
  auto next_prune = steady::now();
  std::unique_lock lock(writer.mutex());
  for (;;) {
    writer.wake().wait_until(lock, next_prune, [this] {
      return writer.stopping() || !appends.empty() || !acks.empty() || renewal.has_value();
    });
    if (renewal) {
      // Acknowledgements queued before the renewal are of the old epoch: apply them first.
      std::vector<AckRequest> old_acks = std::exchange(acks, {});
      RenewRequest request = std::move(*renewal);
      renewal.reset();
      lock.unlock();
      if (!old_acks.empty()) {
        std::vector<GroupEntry> none;
        write_group(none, old_acks);
      }
      run_renewal(std::move(request));
      lock.lock();
      continue;
    }
    if (appends.empty() && acks.empty()) {
      if (writer.stopping()) {
        return;
      }
      lock.unlock();
      auto pruned = prune_step();
      prune_passes.fetch_add(1);
      if (!pruned) {
        spdlog::warn("{}", pruned.error().message);
      }
      next_prune = (pruned && *pruned) ? steady::now() : steady::now() + options.prune_interval;
      lock.lock();
      continue;
    }
    std::vector<GroupEntry> group;
    std::size_t group_events = 0;
    while (!appends.empty() && (group.empty() || group_events + appends.front().events.size() <=
                                                     options.max_group_events)) {
      group_events += appends.front().events.size();
      group.push_back(GroupEntry{std::move(appends.front()), {}, {}});
      appends.pop_front();
    }
    queued_events -= group_events;
    std::vector<AckRequest> group_acks = std::exchange(acks, {});
    CommitListener current_listener = listener;
    lock.unlock();

    const std::uint64_t last_before = last_seq.load();
    write_group(group, group_acks);
    const std::uint64_t last_after = last_seq.load();
    if (last_after != last_before && current_listener) {
      boost::asio::post(executor, [l = std::move(current_listener), last_after] { l(last_after); });
    }
    lock.lock();
  }
}

void SqliteOutbox::Impl::write_group(std::vector<GroupEntry>& group,
                                     std::vector<AckRequest>& group_acks) {
  const std::uint64_t saved_next_seq = next_seq;
  const std::uint64_t saved_total_bytes = total_bytes;
  const std::uint64_t saved_acked_through = writer_acked_through;
  const std::uint64_t saved_acked_bytes = acked_bytes;
  const std::int64_t now_ms = clock.now_unix_ms();
  ack_oldest_ms = no_time;

  std::uint64_t ack_target = writer_acked_through;
  for (const auto& ack : group_acks) {
    ack_target = std::max(ack_target, ack.through_seq);
  }

  auto write_all = [&]() -> SqliteResult<void> {
    auto txn = Transaction::begin(write_db);
    if (!txn) {
      return SqliteResult<void>::failure(std::move(txn).error());
    }
    for (auto& entry : group) {
      if (auto written = write_request(entry); !written) {
        return written;
      }
    }
    if (next_seq != saved_next_seq) {
      if (auto bound = sql.update_meta_append.bind_all(to_db(next_seq), to_db(total_bytes));
          !bound) {
        return bound;
      }
      if (auto updated = sql.update_meta_append.run(); !updated) {
        return updated;
      }
    }
    if (ack_target > writer_acked_through) {
      if (auto acked = write_ack(ack_target, now_ms); !acked) {
        return acked;
      }
    }
    return txn->commit();
  };

  auto written = write_all();
  if (!written) {
    next_seq = saved_next_seq;
    total_bytes = saved_total_bytes;
    writer_acked_through = saved_acked_through;
    acked_bytes = saved_acked_bytes;
    const AppendError error = append_error_from(written.error());
    for (auto& entry : group) {
      AppendError entry_error = entry.error.value_or(error);
      boost::asio::post(executor, [done = std::move(entry.request.done), entry_error] {
        done(AppendOutcome::failure(entry_error));
      });
    }
    const Status failed = fail(prefixed(options.path, written.error()));
    for (auto& ack : group_acks) {
      boost::asio::post(executor, [done = std::move(ack.done), failed] { done(failed); });
    }
    return;
  }

  commits_total.fetch_add(1);
  std::uint64_t accepted = 0;
  std::uint64_t duplicates = 0;
  std::int64_t first_new_ms = no_time;
  for (const auto& entry : group) {
    for (const auto& result : entry.results) {
      if (result.status == AppendResult::Status::accepted) {
        ++accepted;
        if (first_new_ms == no_time) {
          first_new_ms = entry.request.received_at_ms;
        }
      } else {
        ++duplicates;
      }
    }
  }
  accepted_total.fetch_add(accepted);
  duplicates_total.fetch_add(duplicates);
  if (writer_acked_through != saved_acked_through) {
    oldest_unacked_ms = ack_oldest_ms;
    last_ack_ms = now_ms;
  } else if (oldest_unacked_ms.load() == no_time && first_new_ms != no_time) {
    oldest_unacked_ms = first_new_ms;
  }
  acked_through = writer_acked_through;
  backlog_bytes = total_bytes - acked_bytes;
  last_seq = next_seq - 1;

  for (auto& entry : group) {
    if (entry.error) {
      boost::asio::post(executor, [done = std::move(entry.request.done), error = *entry.error] {
        done(AppendOutcome::failure(error));
      });
    } else {
      // The events are freed on the completion executor: writer time saved.
      boost::asio::post(
          executor,
          [done = std::move(entry.request.done), results = std::move(entry.results),
           events = std::move(entry.request.events)]() mutable { done(std::move(results)); });
    }
  }
  for (auto& ack : group_acks) {
    boost::asio::post(executor, [done = std::move(ack.done)] { done(Status{}); });
  }
}

// The payload bytes of `events` if every one of them were new (event ids and seqs from next_seq).
std::uint64_t SqliteOutbox::Impl::max_new_bytes(const std::vector<PreparedEvent>& events) const {
  const std::size_t id_fixed = options.store_id.size() + options.till_id.size() + 19;
  std::uint64_t bytes = 0;
  std::uint64_t seq = next_seq;
  for (const auto& event : events) {
    const std::size_t digits = decimal_digits(seq++);
    bytes += event.line.rendered_size(id_fixed + digits, digits);
  }
  return bytes;
}

// The common case: the request fits under the buffer limit even if every event is new, so no
// event has to be looked up before it is inserted. Each event is inserted with ON CONFLICT DO
// NOTHING; only when that inserted nothing (a duplicate of an earlier request or of an earlier
// event of this one) is the original's seq looked up.
SqliteResult<void> SqliteOutbox::Impl::write_request_fits(GroupEntry& entry) {
  const auto& events = entry.request.events;
  entry.results.reserve(events.size());
  for (const auto& event : events) {
    std::string id = event_id(next_seq);
    line_buffer.clear();
    event.line.render(line_buffer, id, next_seq);
    if (auto bound = sql.insert_new_event.bind_all(to_db(next_seq), event.pos_event_id,
                                                   entry.request.received_at_ms, line_buffer,
                                                   to_db(total_bytes + line_buffer.size()));
        !bound) {
      return bound;
    }
    if (auto inserted = sql.insert_new_event.run(); !inserted) {
      return inserted;
    }
    if (write_db.changes() == 1) {
      total_bytes += line_buffer.size();
      entry.results.push_back({AppendResult::Status::accepted, std::move(id), next_seq});
      ++next_seq;
      continue;
    }
    if (auto bound = sql.find_event.bind_text(1, event.pos_event_id); !bound) {
      return bound;
    }
    auto found = query_int64(sql.find_event);
    if (!found) {
      return SqliteResult<void>::failure(std::move(found).error());
    }
    if (!*found) {
      return SqliteResult<void>::failure(
          SqliteError{0, "insert of " + event.pos_event_id + " conflicted but found no row"});
    }
    const std::uint64_t original = from_db(**found);
    entry.results.push_back({AppendResult::Status::duplicate, event_id(original), original});
  }
  return {};
}

SqliteResult<void> SqliteOutbox::Impl::write_request(GroupEntry& entry) {
  const auto& events = entry.request.events;
  if (total_bytes - acked_bytes + max_new_bytes(events) <= options.max_backlog_bytes) {
    return write_request_fits(entry);
  }
  // Near the limit: find the duplicates first, so that the limit counts new events only.
  std::vector<std::size_t> fresh;  // indexes into events and entry.results
  fresh.reserve(events.size());
  entry.results.reserve(events.size());
  std::unordered_map<std::string_view, std::uint64_t> in_request;
  std::uint64_t seq = next_seq;
  std::uint64_t new_bytes = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::string& pos_id = events[i].pos_event_id;
    std::optional<std::uint64_t> original;
    if (auto it = in_request.find(pos_id); it != in_request.end()) {
      original = it->second;
    } else {
      if (auto bound = sql.find_event.bind_text(1, pos_id); !bound) {
        return bound;
      }
      auto found = query_int64(sql.find_event);
      if (!found) {
        return SqliteResult<void>::failure(std::move(found).error());
      }
      if (*found) {
        original = from_db(**found);
      }
    }
    if (original) {
      entry.results.push_back({AppendResult::Status::duplicate, event_id(*original), *original});
      continue;
    }
    std::string id = event_id(seq);
    new_bytes += events[i].line.rendered_size(id.size(), decimal_digits(seq));
    if (events.size() > 1) {
      in_request.emplace(pos_id, seq);
    }
    fresh.push_back(i);
    entry.results.push_back({AppendResult::Status::accepted, std::move(id), seq});
    ++seq;
  }
  if (total_bytes - acked_bytes + new_bytes > options.max_backlog_bytes) {
    entry.results.clear();
    entry.error = AppendError{AppendError::Kind::full,
                              "outbox: buffer full (" + std::to_string(total_bytes - acked_bytes) +
                                  " unacknowledged bytes, limit " +
                                  std::to_string(options.max_backlog_bytes) + ")"};
    return {};
  }
  for (const std::size_t i : fresh) {
    const AppendResult& result = entry.results[i];
    line_buffer.clear();
    events[i].line.render(line_buffer, result.event_id, result.seq);
    total_bytes += line_buffer.size();
    if (auto bound = sql.insert_event.bind_all(to_db(next_seq), events[i].pos_event_id,
                                               entry.request.received_at_ms, line_buffer,
                                               to_db(total_bytes));
        !bound) {
      return bound;
    }
    if (auto inserted = sql.insert_event.run(); !inserted) {
      return inserted;
    }
    ++next_seq;
  }
  return {};
}

SqliteResult<void> SqliteOutbox::Impl::write_ack(std::uint64_t through_seq, std::int64_t now_ms) {
  using Fail = SqliteResult<void>;
  if (auto bound = sql.find_offset.bind_int64(1, to_db(through_seq)); !bound) {
    return bound;
  }
  auto offset = query_int64(sql.find_offset);
  if (!offset) {
    return Fail::failure(std::move(offset).error());
  }
  if (!*offset) {
    return Fail::failure(
        SqliteError{0, "acknowledge: seq " + std::to_string(through_seq) + " is not stored"});
  }
  if (auto bound = sql.find_received.bind_int64(1, to_db(through_seq + 1)); !bound) {
    return bound;
  }
  auto oldest = query_int64(sql.find_received);
  if (!oldest) {
    return Fail::failure(std::move(oldest).error());
  }
  if (auto bound = sql.update_meta_ack.bind_all(to_db(through_seq), **offset); !bound) {
    return bound;
  }
  if (auto updated = sql.update_meta_ack.run(); !updated) {
    return updated;
  }

  auto stepped = sql.last_mark.step();
  if (!stepped) {
    sql.last_mark.reset();
    return Fail::failure(std::move(stepped).error());
  }
  std::optional<std::pair<std::int64_t, std::int64_t>> last;
  if (*stepped == Statement::Step::row) {
    last.emplace(sql.last_mark.column_int64(0), sql.last_mark.column_int64(1));
  }
  sql.last_mark.reset();
  const bool merge =
      last && now_ms - last->second < options.ack_mark_interval.count() && now_ms >= last->second;
  Statement& mark = merge ? sql.update_mark : sql.insert_mark;
  auto bound = merge ? mark.bind_all(to_db(through_seq), now_ms, last->first)
                     : mark.bind_all(to_db(through_seq), now_ms);
  if (!bound) {
    return bound;
  }
  if (auto marked = mark.run(); !marked) {
    return marked;
  }
  writer_acked_through = through_seq;
  acked_bytes = from_db(**offset);
  ack_oldest_ms = oldest->value_or(no_time);
  return {};
}

void SqliteOutbox::Impl::run_renewal(RenewRequest request) {
  // write_renewal changes the in-memory state only after its commit: a failure left it as it was.
  auto renewed = write_renewal(request.keep_through, clock.now_unix_ms());
  if (!renewed) {
    const Error error = prefixed(options.path, renewed.error());
    boost::asio::post(executor, [done = std::move(request.done), error] {
      done(Result<std::uint64_t>::failure(error));
    });
    return;
  }
  const std::uint64_t new_epoch = *renewed;
  CommitListener current_listener;
  {
    std::lock_guard lock(writer.mutex());
    current_listener = listener;
  }
  boost::asio::post(executor, [done = std::move(request.done), new_epoch] { done(new_epoch); });
  if (const std::uint64_t last = last_seq.load(); last > 0 && current_listener) {
    boost::asio::post(executor, [l = std::move(current_listener), last] { l(last); });
  }
}

SqliteResult<std::uint64_t> SqliteOutbox::Impl::write_renewal(std::uint64_t keep_through,
                                                              std::int64_t now_ms) {
  using Fail = SqliteResult<std::uint64_t>;
  auto fresh = random_epoch();
  if (!fresh) {
    return Fail::failure(SqliteError{0, fresh.error().message});
  }
  const std::uint64_t new_epoch = *fresh;
  const std::uint64_t old_epoch = epoch.load();
  auto txn = Transaction::begin(write_db);
  if (!txn) {
    return Fail::failure(std::move(txn).error());
  }
  auto run = [](Statement& statement) { return statement.run(); };
  if (auto bound = sql.renew_delete_kept.bind_int64(1, to_db(keep_through)); !bound) {
    return Fail::failure(bound.error());
  }
  if (auto deleted = run(sql.renew_delete_kept); !deleted) {
    return Fail::failure(deleted.error());
  }
  if (auto deleted = run(sql.renew_delete_marks); !deleted) {
    return Fail::failure(deleted.error());
  }
  // Seqs above keep_through move down by keep_through, in ascending order: each target seq is
  // free (deleted above, or moved away in an earlier step).
  const protocol::EventOwner owner{options.store_id, options.till_id};
  std::uint64_t from = keep_through;
  std::uint64_t new_seq = 0;
  std::uint64_t offset = 0;
  std::optional<std::int64_t> first_received;
  std::vector<std::pair<std::uint64_t, std::string>> chunk;
  for (;;) {
    chunk.clear();
    if (auto bound = sql.renew_read.bind_int64(1, to_db(from)); !bound) {
      return Fail::failure(bound.error());
    }
    for (;;) {
      auto stepped = sql.renew_read.step();
      if (!stepped) {
        sql.renew_read.reset();
        return Fail::failure(std::move(stepped).error());
      }
      if (*stepped == Statement::Step::done) {
        break;
      }
      chunk.emplace_back(from_db(sql.renew_read.column_int64(0)),
                         std::string(sql.renew_read.column_text(1)));
    }
    sql.renew_read.reset();
    if (chunk.empty()) {
      break;
    }
    for (auto& [old_seq, line] : chunk) {
      protocol::EventLimits limits;
      limits.max_bytes = std::max(limits.max_bytes, line.size());
      limits.max_string_bytes = std::max(limits.max_string_bytes, line.size());
      auto stamped = protocol::parse_payload_line(line, owner, limits);
      if (!stamped) {
        return Fail::failure(SqliteError{0, "renewing the epoch: stored event " +
                                                std::to_string(old_seq) +
                                                " does not parse: " + stamped.error().message});
      }
      ++new_seq;
      protocol::AgentStamp stamp = stamped->stamp;
      stamp.epoch = new_epoch;
      stamp.seq = new_seq;
      const std::string renewed_line = protocol::make_payload_line(stamped->event, stamp);
      offset += renewed_line.size();
      if (!first_received) {
        first_received = protocol::parse_rfc3339_ms(stamp.received_at);
      }
      if (auto bound = sql.renew_update.bind_all(to_db(new_seq), renewed_line, to_db(offset),
                                                 to_db(old_seq));
          !bound) {
        return Fail::failure(bound.error());
      }
      if (auto updated = run(sql.renew_update); !updated) {
        return Fail::failure(updated.error());
      }
      from = old_seq;
    }
  }
  if (auto bound = sql.renew_meta.bind_all(to_db(new_epoch), to_db(new_seq + 1), to_db(offset),
                                           now_ms, to_db(old_epoch));
      !bound) {
    return Fail::failure(bound.error());
  }
  if (auto updated = run(sql.renew_meta); !updated) {
    return Fail::failure(updated.error());
  }
  if (auto committed = txn->commit(); !committed) {
    return Fail::failure(committed.error());
  }
  epoch = new_epoch;
  next_seq = new_seq + 1;
  total_bytes = offset;
  writer_acked_through = 0;
  acked_bytes = 0;
  epoch_renewals.fetch_add(1);
  epoch_renewed_ms = now_ms;
  previous_epoch = old_epoch;
  last_seq = new_seq;
  acked_through = 0;
  backlog_bytes = offset;
  oldest_unacked_ms = new_seq > 0 && first_received ? *first_received : no_time;
  return new_epoch;
}

SqliteResult<bool> SqliteOutbox::Impl::prune_step() {
  using Fail = SqliteResult<bool>;
  const std::int64_t cutoff_ms = clock.now_unix_ms() - options.retention.count();
  auto txn = Transaction::begin(write_db);
  if (!txn) {
    return Fail::failure(std::move(txn).error());
  }
  if (auto bound = sql.prune_cutoff.bind_int64(1, cutoff_ms); !bound) {
    return Fail::failure(bound.error());
  }
  auto cutoff = query_int64(sql.prune_cutoff);
  if (!cutoff) {
    return Fail::failure(std::move(cutoff).error());
  }
  auto lowest = query_int64(sql.min_seq);
  if (!lowest) {
    return Fail::failure(std::move(lowest).error());
  }
  // The event at acked_through stays: the forwarder re-sends it to learn the collector's mark
  // when nothing else is unacknowledged (docs/agent.md, "Restored or rolled-back disks").
  if (*cutoff && **cutoff >= to_db(writer_acked_through)) {
    **cutoff = to_db(writer_acked_through) - 1;
  }
  if (!*cutoff || !*lowest || **lowest > **cutoff) {
    return false;  // the transaction rolls back: nothing was written
  }
  const std::int64_t step = static_cast<std::int64_t>(std::max<std::size_t>(options.prune_step, 1));
  const std::int64_t high = std::min(**cutoff, **lowest + step - 1);
  if (auto bound = sql.delete_events.bind_all(**lowest, high); !bound) {
    return Fail::failure(bound.error());
  }
  if (auto deleted = sql.delete_events.run(); !deleted) {
    return Fail::failure(deleted.error());
  }
  const auto deleted_rows = static_cast<std::uint64_t>(write_db.changes());
  if (high == **cutoff) {
    if (auto bound = sql.delete_marks.bind_int64(1, **cutoff); !bound) {
      return Fail::failure(bound.error());
    }
    if (auto deleted = sql.delete_marks.run(); !deleted) {
      return Fail::failure(deleted.error());
    }
  }
  if (auto committed = txn->commit(); !committed) {
    return Fail::failure(committed.error());
  }
  pruned_total.fetch_add(deleted_rows);
  return high < **cutoff;
}

}  // namespace pos::agent
