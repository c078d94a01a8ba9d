#include "pos/collector/replay_tracker.hpp"

#include <algorithm>
#include <vector>

#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::collector {
namespace {

std::string key_of(const std::string& store_id, const std::string& till_id, const std::string& id) {
  return store_id + '/' + till_id + '/' + id;
}

bool finished(const ReplayEntry& e) {
  return e.progress && e.progress->state != protocol::ReplayState::running;
}

}  // namespace

ReplayTracker::ReplayTracker(std::size_t max_entries, std::size_t max_tills)
    : m_max_entries(max_entries), m_max_tills(max_tills) {}

void ReplayTracker::on_status(const std::string& store_id, const std::string& till_id,
                              const protocol::AgentStatus& status, std::int64_t now_ms) {
  const std::string till = store_id + '/' + till_id;
  if (status.epoch && (m_epochs.contains(till) || m_epochs.size() < m_max_tills)) {
    m_epochs[till] = *status.epoch;
  }
  const auto* replay = status.extra.if_contains("replay");
  if (replay == nullptr) {
    return;
  }
  auto progress = protocol::parse_replay_progress(*replay);
  if (!progress) {
    ++m_invalid_reports;
    return;
  }
  ReplayEntry* entry = entry_for(store_id, till_id, progress->id, now_ms);
  if (entry == nullptr) {
    return;
  }
  entry->progress = std::move(*progress);
  entry->updated_ms = now_ms;
}

std::optional<std::uint64_t> ReplayTracker::epoch_of(const std::string& store_id,
                                                     const std::string& till_id) const {
  const auto it = m_epochs.find(store_id + '/' + till_id);
  if (it == m_epochs.end()) {
    return std::nullopt;
  }
  return it->second;
}

const ReplayEntry* ReplayTracker::find(const std::string& store_id, const std::string& till_id,
                                       const std::string& id) const {
  const auto it = m_entries.find(key_of(store_id, till_id, id));
  return it == m_entries.end() ? nullptr : &it->second;
}

Status ReplayTracker::record_request(const std::string& store_id, const std::string& till_id,
                                     const protocol::ReplayCommand& command, std::int64_t now_ms) {
  ReplayEntry* entry = entry_for(store_id, till_id, command.id, now_ms);
  if (entry == nullptr) {
    return fail("too many replays pending (" + std::to_string(m_max_entries) + ")");
  }
  entry->command = command;
  entry->requested_ms = now_ms;
  entry->updated_ms = now_ms;
  return {};
}

ReplayEntry* ReplayTracker::entry_for(const std::string& store_id, const std::string& till_id,
                                      const std::string& id, std::int64_t now_ms) {
  const std::string key = key_of(store_id, till_id, id);
  if (auto it = m_entries.find(key); it != m_entries.end()) {
    return &it->second;
  }
  if (m_entries.size() >= m_max_entries && !make_room()) {
    return nullptr;
  }
  ReplayEntry& entry = m_entries[key];
  entry.store_id = store_id;
  entry.till_id = till_id;
  entry.id = id;
  entry.updated_ms = now_ms;
  return &entry;
}

bool ReplayTracker::make_room() {
  auto oldest = m_entries.end();
  for (auto it = m_entries.begin(); it != m_entries.end(); ++it) {
    if (finished(it->second) &&
        (oldest == m_entries.end() || it->second.updated_ms < oldest->second.updated_ms)) {
      oldest = it;
    }
  }
  if (oldest == m_entries.end()) {
    return false;
  }
  m_entries.erase(oldest);
  return true;
}

boost::json::array ReplayTracker::to_json(const std::string& store_id, const std::string& till_id,
                                          std::size_t limit) const {
  std::vector<const ReplayEntry*> entries;
  for (const auto& [key, entry] : m_entries) {
    if (!store_id.empty() && (entry.store_id != store_id || entry.till_id != till_id)) {
      continue;
    }
    entries.push_back(&entry);
  }
  std::ranges::sort(entries, [](const ReplayEntry* a, const ReplayEntry* b) {
    return std::tie(b->updated_ms, a->store_id, a->till_id, a->id) <
           std::tie(a->updated_ms, b->store_id, b->till_id, b->id);
  });
  boost::json::array out;
  for (const ReplayEntry* e : entries) {
    if (out.size() >= limit) {
      break;
    }
    out.push_back(replay_entry_to_json(*e));
  }
  return out;
}

std::size_t ReplayTracker::running() const {
  return static_cast<std::size_t>(std::ranges::count_if(m_entries, [](const auto& kv) {
    return kv.second.progress && kv.second.progress->state == protocol::ReplayState::running;
  }));
}

boost::json::object replay_entry_to_json(const ReplayEntry& e) {
  boost::json::object obj;
  obj.emplace("id", e.id);
  obj.emplace("store_id", e.store_id);
  obj.emplace("till_id", e.till_id);
  obj.emplace("state", e.progress ? protocol::to_string(e.progress->state) : "requested");
  if (e.requested_ms != 0) {
    obj.emplace("requested_at", protocol::format_rfc3339_utc_ms(e.requested_ms));
  } else {
    obj.emplace("requested_at", nullptr);
  }
  if (e.command) {
    if (e.command->from_seq) {
      obj.emplace("from_seq", *e.command->from_seq);
      obj.emplace("to_seq", *e.command->to_seq);
    } else {
      obj.emplace("from", protocol::format_rfc3339_utc_ms(*e.command->from_ms));
      obj.emplace("to", protocol::format_rfc3339_utc_ms(*e.command->to_ms));
    }
  }
  if (e.progress) {
    obj.emplace("progress", protocol::replay_progress_to_json(*e.progress));
    obj.emplace("error", e.progress->error);
  } else {
    obj.emplace("progress", nullptr);
    obj.emplace("error", "");
  }
  obj.emplace("updated_at", protocol::format_rfc3339_utc_ms(e.updated_ms));
  return obj;
}

}  // namespace pos::collector
