#include "pos/collector/observed_sink.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <string>
#include <utility>

namespace pos::collector {

/// The facts of one events call, held until it completes (an empty entry: an event whose data
/// the EventReader refused). Its bytes leave the shared counter when released or, if the inner
/// sink abandons the call (stop), when the completion is destroyed.
struct ObservedSink::Held {
  std::vector<std::optional<EventDigest>> digests;
  std::size_t bytes = 0;
  std::shared_ptr<std::atomic<std::size_t>> counter;

  Held(std::vector<std::optional<EventDigest>> d, std::size_t b,
       std::shared_ptr<std::atomic<std::size_t>> c)
      : digests(std::move(d)), bytes(b), counter(std::move(c)) {
    counter->fetch_add(bytes);
  }
  ~Held() { release(); }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

  void release() noexcept {
    counter->fetch_sub(bytes);
    bytes = 0;
    digests.clear();
    digests.shrink_to_fit();
  }
};

ObservedSink::ObservedSink(Sink& inner, const common::Clock& clock, SalesKpis& kpis,
                           EndToEndLatency& latency)
    : m_inner(inner), m_clock(clock), m_kpis(kpis), m_latency(latency) {}

ObservedSink::~ObservedSink() {
  *m_alive = false;
}

void ObservedSink::publish(Destination destination, std::vector<OutMessage> messages, Done done) {
  if (destination != Destination::events) {
    m_inner.publish(destination, std::move(messages), std::move(done));
    return;
  }
  std::vector<std::optional<EventDigest>> digests;
  try {
    digests.reserve(messages.size());
    for (auto& message : messages) {
      digests.push_back(digest_of(message));
    }
  } catch (const std::exception& e) {  // bad_alloc: publish unobserved rather than not at all
    ++m_stats.observer_errors;
    spdlog::error("live view: keeping the facts of a publish failed: {}", e.what());
    m_inner.publish(destination, std::move(messages), std::move(done));
    return;
  }
  std::size_t bytes = 0;
  for (const auto& digest : digests) {
    bytes += digest ? digest->bytes() : sizeof(digest);
  }
  auto held = std::make_shared<Held>(std::move(digests), bytes, m_held_bytes);
  m_inner.publish(destination, std::move(messages),
                  [this, alive = std::weak_ptr<bool>(m_alive), held = std::move(held),
                   done = std::move(done)](Status status) {
                    if (!alive.expired()) {
                      if (status) {
                        observe(held->digests);
                      } else {
                        ++m_stats.calls_failed;
                      }
                    }
                    held->release();
                    done(std::move(status));
                  });
}

std::optional<EventDigest> ObservedSink::digest_of(OutMessage& message) {
  if (message.digest) {
    auto digest = std::move(message.digest);
    message.digest.reset();
    return digest;
  }
  auto facts = m_reader.read(message.data);
  if (!facts) {
    spdlog::debug("live view: published event not readable: {}", facts.error().message);
    return std::nullopt;
  }
  return EventDigest(*facts);
}

void ObservedSink::observe(const std::vector<std::optional<EventDigest>>& digests) {
  try {
    const std::int64_t now_ms = m_clock.now_unix_ms();
    for (const auto& digest : digests) {
      ++m_stats.events_observed;
      if (!digest) {
        ++m_stats.events_unreadable;
        m_kpis.record_malformed();
        continue;
      }
      const EventFacts facts = digest->facts(m_lines);
      m_latency.record(now_ms, now_ms - facts.received_ms);
      m_kpis.add(facts);
    }
  } catch (const std::exception& e) {
    ++m_stats.observer_errors;
    spdlog::error("live view: observing a publish failed: {}", e.what());
  }
}

std::size_t ObservedSink::pending_bytes() const {
  return m_inner.pending_bytes() + m_held_bytes->load();
}

bool ObservedSink::healthy() const {
  return m_inner.healthy();
}

void ObservedSink::stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped) {
  m_inner.stop(drain_timeout, std::move(stopped));
}

}  // namespace pos::collector
