#include "pos/collector/observed_sink.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <string>
#include <utility>

namespace pos::collector {

/// The data of one events call, held until it completes. Its bytes leave the shared counter when
/// released or, if the inner sink abandons the call (stop), when the completion is destroyed.
struct ObservedSink::Held {
  std::vector<std::string> data;
  std::size_t bytes = 0;
  std::shared_ptr<std::atomic<std::size_t>> counter;

  Held(std::vector<std::string> d, std::size_t b, std::shared_ptr<std::atomic<std::size_t>> c)
      : data(std::move(d)), bytes(b), counter(std::move(c)) {
    counter->fetch_add(bytes);
  }
  ~Held() { release(); }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

  void release() noexcept {
    counter->fetch_sub(bytes);
    bytes = 0;
    data.clear();
    data.shrink_to_fit();
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
  std::vector<std::string> data;
  data.reserve(messages.size());
  std::size_t bytes = 0;
  for (const auto& message : messages) {
    data.push_back(message.data);
    bytes += message.data.size();
  }
  auto held = std::make_shared<Held>(std::move(data), bytes, m_held_bytes);
  m_inner.publish(destination, std::move(messages),
                  [this, alive = std::weak_ptr<bool>(m_alive), held = std::move(held),
                   done = std::move(done)](Status status) {
                    if (!alive.expired()) {
                      if (status) {
                        observe(held->data);
                      } else {
                        ++m_stats.calls_failed;
                      }
                    }
                    held->release();
                    done(std::move(status));
                  });
}

void ObservedSink::observe(const std::vector<std::string>& data) {
  try {
    const std::int64_t now_ms = m_clock.now_unix_ms();
    for (const auto& text : data) {
      ++m_stats.events_observed;
      auto facts = m_reader.read(text);
      if (!facts) {
        ++m_stats.events_unreadable;
        m_kpis.record_malformed();
        spdlog::debug("live view: published event not readable: {}", facts.error().message);
        continue;
      }
      m_latency.record(now_ms, now_ms - facts->received_ms);
      m_kpis.add(*facts);
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
