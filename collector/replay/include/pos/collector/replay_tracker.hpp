#pragma once
// What the collector knows of replays (docs/replay.md): the ones it was asked for, and the
// progress each till reports in its status (`replay`). Feeds `GET /v1/replays` and the dashboard.

#include <boost/json/array.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "pos/collector/pipeline_observer.hpp"
#include "pos/protocol/replay.hpp"

namespace pos::collector {

/// One replay of one till: the request made here (if it was made here) and what the till last
/// reported of it (if anything yet).
struct ReplayEntry {
  std::string store_id;
  std::string till_id;
  std::string id;
  std::optional<protocol::ReplayCommand> command;
  std::int64_t requested_ms = 0;  ///< 0: not requested here (seen in a status only)
  std::optional<protocol::ReplayProgress> progress;
  std::int64_t updated_ms = 0;
};

/// Io executor only (it is a PipelineObserver). Bounded: at most `max_entries` replays and
/// `max_tills` tills' epochs; beyond, the oldest finished entries are forgotten, and a new
/// request is refused while every entry is still pending.
class ReplayTracker final : public PipelineObserver {
 public:
  explicit ReplayTracker(std::size_t max_entries = 10'000, std::size_t max_tills = 100'000);

  void on_status(const std::string& store_id, const std::string& till_id,
                 const protocol::AgentStatus& status, std::int64_t now_ms) override;

  /// The till's database epoch from its last status, when known.
  std::optional<std::uint64_t> epoch_of(const std::string& store_id,
                                        const std::string& till_id) const;
  /// The entry of replay `id` of the till, if known.
  const ReplayEntry* find(const std::string& store_id, const std::string& till_id,
                          const std::string& id) const;
  /// Records a request; fails ("too many replays pending") when full of unfinished ones.
  Status record_request(const std::string& store_id, const std::string& till_id,
                        const protocol::ReplayCommand& command, std::int64_t now_ms);
  /// The entries (newest first), optionally only those of one till (`store_id`/`till_id`
  /// non-empty) and at most `limit`.
  boost::json::array to_json(const std::string& store_id, const std::string& till_id,
                             std::size_t limit) const;
  /// Entries whose state is running (as last reported).
  std::size_t running() const;
  std::size_t size() const noexcept { return m_entries.size(); }
  std::uint64_t invalid_reports() const noexcept { return m_invalid_reports; }

 private:
  ReplayEntry* entry_for(const std::string& store_id, const std::string& till_id,
                         const std::string& id, std::int64_t now_ms);
  bool make_room();

  std::size_t m_max_entries;
  std::size_t m_max_tills;
  std::unordered_map<std::string, ReplayEntry> m_entries;   ///< by "{store}/{till}/{id}"
  std::unordered_map<std::string, std::uint64_t> m_epochs;  ///< by "{store}/{till}"
  std::uint64_t m_invalid_reports = 0;
};

/// The entry as JSON: ids, `state` (requested | running | done | refused), the command's range,
/// the till's progress and error.
boost::json::object replay_entry_to_json(const ReplayEntry& entry);

}  // namespace pos::collector
