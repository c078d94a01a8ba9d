// LeaseManager: see leases.hpp. Rounds run on the worker thread (blocking database calls); their
// results come back to the io executor, which alone reads and writes m_held.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <unordered_set>

#include "pos/collector/leases.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::collector {

std::uint32_t partition_of(std::string_view store_id, std::string_view till_id) noexcept {
  return static_cast<std::uint32_t>(protocol::till_hash(store_id, till_id) % partition_count);
}

LeaseManager::LeaseManager(boost::asio::any_io_executor executor, std::unique_ptr<LeaseStore> store,
                           const common::Clock& clock, LeaseManagerOptions options)
    : m_executor(std::move(executor)),
      m_store(std::move(store)),
      m_clock(clock),
      m_options(options),
      m_timer(m_executor) {}

LeaseManager::~LeaseManager() {
  *m_alive = false;
  m_worker.stop();
}

void LeaseManager::start() {
  schedule(std::chrono::milliseconds(0));
}

void LeaseManager::schedule(std::chrono::milliseconds delay) {
  m_timer.expires_after(delay);
  m_timer.async_wait([this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
    if (ec || alive.expired() || m_stopped) {
      return;
    }
    run_round();
    schedule(m_options.renew_interval);
  });
}

void LeaseManager::run_round() {
  if (m_round_in_flight) {
    return;
  }
  const auto now = m_clock.now_steady();
  std::vector<std::uint32_t> release;
  for (const auto& [partition, held] : m_held) {
    if (!held.releasing) {
      continue;
    }
    const bool drained = !m_hooks.busy || !m_hooks.busy(partition);
    if (drained || now - held.releasing_since >= m_options.release_drain) {
      release.push_back(partition);
    }
  }
  m_round_in_flight = true;
  const bool queued =
      m_worker.post([this, alive = std::weak_ptr<bool>(m_alive), release, started = now] {
        auto round = m_store->run_round(release);
        boost::asio::post(m_executor,
                          [this, alive, round = std::move(round), started, release]() mutable {
                            if (alive.expired()) {
                              return;
                            }
                            on_round(std::move(round), started, release);
                          });
      });
  if (!queued) {
    m_round_in_flight = false;
  }
}

void LeaseManager::on_round(Result<LeaseRound> round, std::chrono::steady_clock::time_point started,
                            const std::vector<std::uint32_t>& released) {
  m_round_in_flight = false;
  if (m_stopped) {
    return;
  }
  ++m_stats.rounds;
  if (!round) {
    ++m_stats.round_failures;
    m_stats.healthy = false;
    const std::int64_t now_ms = m_clock.now_unix_ms();
    if (now_ms - m_last_failure_log_ms >= 10'000) {
      m_last_failure_log_ms = now_ms;
      spdlog::error("leases: {} ({} partition(s) held until their leases run out)",
                    round.error().message, m_held.size());
    }
    return;
  }
  if (!m_stats.healthy && m_stats.rounds > 1) {
    spdlog::info("leases: rounds succeed again");
  }
  m_stats.healthy = true;
  m_stats.live_collectors = round->live_collectors;
  for (const std::uint32_t partition : released) {
    m_held.erase(partition);
    ++m_stats.released;
  }
  const std::unordered_set<std::uint32_t> acquired(round->acquired.begin(), round->acquired.end());
  if (!acquired.empty() && m_hooks.adopt) {
    m_hooks.adopt(round->acquired_marks);
  }
  std::unordered_set<std::uint32_t> still_held;
  const auto valid_until = started + m_options.ttl - m_options.safety_margin;
  for (const Fence& fence : round->owned) {
    still_held.insert(fence.partition);
    Held& held = m_held[fence.partition];
    if (held.token != 0 && held.token != fence.token) {
      ++m_stats.lost;  // taken over and back between two of our rounds
    }
    held.token = fence.token;
    held.valid_until = valid_until;
  }
  for (auto it = m_held.begin(); it != m_held.end();) {
    if (!still_held.contains(it->first)) {
      ++m_stats.lost;
      spdlog::warn("leases: partition {} was taken over (our lease had run out)", it->first);
      it = m_held.erase(it);
    } else {
      ++it;
    }
  }
  m_stats.acquired += acquired.size();
  std::size_t releasing = 0;
  for (const auto& entry : m_held) {
    releasing += entry.second.releasing ? 1 : 0;
  }
  // Hand back the surplus, highest partitions first (claims take the lowest free ones).
  if (round->excess > releasing) {
    std::vector<std::uint32_t> candidates;
    for (const auto& [partition, held] : m_held) {
      if (!held.releasing) {
        candidates.push_back(partition);
      }
    }
    std::ranges::sort(candidates, std::greater<>());
    const std::size_t more = std::min(round->excess - releasing, candidates.size());
    for (std::size_t i = 0; i < more; ++i) {
      Held& held = m_held[candidates[i]];
      held.releasing = true;
      held.releasing_since = m_clock.now_steady();
    }
    releasing += more;
  }
  m_stats.releasing = releasing;
  m_stats.owned = m_held.size() - releasing;
  if (!acquired.empty()) {
    spdlog::info("leases: took {} partition(s); holding {} of {} with {} live collector(s)",
                 acquired.size(), m_stats.owned, partition_count, m_stats.live_collectors);
    if (m_hooks.acquired) {
      m_hooks.acquired(round->acquired_marks);
    }
  }
}

void LeaseManager::stop(std::function<void()> done) {
  m_stopped = true;
  m_timer.cancel();
  m_held.clear();
  m_stats.owned = 0;
  const bool queued = m_worker.post([this, alive = std::weak_ptr<bool>(m_alive), done] {
    if (auto freed = m_store->release_all(); !freed) {
      spdlog::warn("leases: could not free our partitions at shutdown (they expire): {}",
                   freed.error().message);
    }
    boost::asio::post(m_executor, done);
  });
  if (!queued) {
    boost::asio::post(m_executor, std::move(done));
  }
}

std::optional<Fence> LeaseManager::fence_for(std::string_view store_id,
                                             std::string_view till_id) const {
  const std::uint32_t partition = partition_of(store_id, till_id);
  const auto it = m_held.find(partition);
  if (it == m_held.end() || it->second.releasing ||
      m_clock.now_steady() >= it->second.valid_until) {
    return std::nullopt;
  }
  return Fence{partition, it->second.token};
}

bool LeaseManager::owns(std::uint32_t partition) const {
  const auto it = m_held.find(partition);
  return it != m_held.end() && !it->second.releasing &&
         m_clock.now_steady() < it->second.valid_until;
}

LeaseStats LeaseManager::stats() const {
  LeaseStats s = m_stats;
  s.owned = 0;
  for (const auto& entry : m_held) {
    s.owned += owns(entry.first) ? 1 : 0;
  }
  return s;
}

}  // namespace pos::collector
