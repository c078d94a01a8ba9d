// See broker_set.hpp.

#include "broker_set.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include <boost/asio/post.hpp>

#include "pos/protocol/topics.hpp"

namespace pos::collector {

struct BrokerSet::Broker {
  Broker(const boost::asio::any_io_executor& executor, common::PahoTransportOptions options,
         std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : uri(options.mqtt.uris.empty() ? std::string() : options.mqtt.uris.front()),
        transport(executor, std::move(options)),
        backoff(initial, max),
        reconnect_timer(executor) {}
  std::size_t index = 0;
  std::string uri;
  common::PahoTransport transport;
  common::ExponentialBackoff backoff;
  boost::asio::steady_timer reconnect_timer;
  std::size_t subscribed = 0;
  bool ready = false;
};

BrokerSet::BrokerSet(boost::asio::any_io_executor executor, BrokerSetOptions options)
    : m_executor(std::move(executor)), m_options(std::move(options)) {
  for (auto& broker_options : m_options.brokers) {
    auto broker = std::make_unique<Broker>(m_executor, broker_options, m_options.reconnect_initial,
                                           m_options.reconnect_max);
    broker->index = m_brokers.size();
    m_brokers.push_back(std::move(broker));
  }
  for (auto& broker : m_brokers) {
    Broker* b = broker.get();
    b->transport.set_handlers({
        .on_connected = [this, b] { on_connected(*b); },
        .on_disconnected = [this, b](const std::string& reason) { on_disconnected(*b, reason); },
        .on_message =
            [this, b](common::TransportMessage message) {
              remember_route(message.topic, b->index);
              if (m_handlers.on_message) {
                m_handlers.on_message(std::move(message));
              }
            },
    });
  }
}

BrokerSet::~BrokerSet() = default;

void BrokerSet::connect() {
  for (auto& broker : m_brokers) {
    broker->transport.connect();
  }
}

void BrokerSet::on_connected(Broker& broker) {
  if (m_stopping) {
    return;
  }
  broker.backoff.reset();
  broker.subscribed = 0;
  broker.ready = false;
  spdlog::info("connected to {}; subscribing", broker.uri);
  for (const auto& filter : m_options.filters) {
    broker.transport.subscribe(filter, [this, &broker, filter](const Status& status) {
      if (!status) {
        spdlog::error("{}: subscribe {}: {}", broker.uri, filter, status.error().message);
        return;
      }
      if (++broker.subscribed == m_options.filters.size()) {
        broker.ready = true;
        if (m_handlers.on_connected) {
          m_handlers.on_connected();
        }
      }
    });
  }
}

void BrokerSet::on_disconnected(Broker& broker, const std::string& reason) {
  broker.subscribed = 0;
  broker.ready = false;
  if (m_stopping) {
    return;
  }
  if (m_handlers.on_disconnected) {
    m_handlers.on_disconnected(broker.uri + ": " + reason);
  }
  const auto delay = broker.backoff.next_delay();
  spdlog::warn("broker {}: {}; reconnecting in {} ms", broker.uri, reason, delay.count());
  broker.reconnect_timer.expires_after(delay);
  broker.reconnect_timer.async_wait([this, &broker](boost::system::error_code ec) {
    if (!ec && !m_stopping) {
      broker.transport.connect();
    }
  });
}

void BrokerSet::remember_route(const std::string& topic, std::size_t index) {
  if (m_brokers.size() < 2) {
    return;
  }
  auto parsed = protocol::parse_topic(m_options.topic_prefix, topic);
  if (!parsed) {
    return;
  }
  std::string till;
  till.append(parsed->store_id).append("/").append(parsed->till_id);
  const auto it = m_routes.find(till);
  if (it != m_routes.end()) {
    it->second = index;
    return;
  }
  if (m_routes.size() >= m_options.max_routes) {
    m_routes.clear();  // forgotten tills get their acks on every broker until seen again
  }
  m_routes.emplace(std::move(till), index);
}

void BrokerSet::publish(std::string topic, std::string payload, bool retained,
                        std::function<void(Status)> done) {
  if (m_brokers.size() == 1) {
    m_brokers.front()->transport.publish(std::move(topic), std::move(payload), retained,
                                         std::move(done));
    return;
  }
  if (auto parsed = protocol::parse_topic(m_options.topic_prefix, topic)) {
    const auto route = m_routes.find(parsed->store_id + "/" + parsed->till_id);
    if (route != m_routes.end() && m_brokers[route->second]->transport.is_connected()) {
      m_brokers[route->second]->transport.publish(std::move(topic), std::move(payload), retained,
                                                  std::move(done));
      return;
    }
  }
  // Not seen on any broker (or its broker is down): every connected broker, ok when one took it.
  struct Outcome {
    std::size_t left = 0;
    bool ok = false;
    std::string error;
    std::function<void(Status)> done;
  };
  auto outcome = std::make_shared<Outcome>();
  outcome->done = std::move(done);
  for (auto& broker : m_brokers) {
    if (broker->transport.is_connected()) {
      ++outcome->left;
    }
  }
  if (outcome->left == 0) {
    boost::asio::post(m_executor, [outcome] { outcome->done(fail("no broker connected")); });
    return;
  }
  for (auto& broker : m_brokers) {
    if (!broker->transport.is_connected()) {
      continue;
    }
    broker->transport.publish(topic, payload, retained, [outcome](const Status& status) {
      if (status) {
        outcome->ok = true;
      } else if (outcome->error.empty()) {
        outcome->error = status.error().message;
      }
      if (--outcome->left == 0) {
        outcome->done(outcome->ok ? Status{} : Status{fail(outcome->error)});
      }
    });
  }
}

void BrokerSet::subscribe(std::string topic_filter, std::function<void(Status)> done) {
  for (auto& broker : m_brokers) {
    if (!broker->transport.is_connected()) {
      continue;
    }
    // The first connected broker answers; the others subscribe silently.
    broker->transport.subscribe(
        topic_filter, done ? std::exchange(done, {}) : [](const Status&) {});
  }
  m_options.filters.push_back(std::move(topic_filter));
  if (done) {
    boost::asio::post(m_executor, [done = std::move(done)] { done(Status{}); });
  }
}

void BrokerSet::disconnect(std::chrono::milliseconds timeout, std::function<void()> done) {
  m_stopping = true;
  auto left = std::make_shared<std::size_t>(m_brokers.size());
  auto finished = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& broker : m_brokers) {
    broker->reconnect_timer.cancel();
    broker->transport.disconnect(timeout, [left, finished] {
      if (--*left == 0) {
        (*finished)();
      }
    });
  }
}

bool BrokerSet::is_connected() const {
  return ready_count() > 0;
}

std::string BrokerSet::connected_uri() const {
  std::vector<std::string> ready;
  for (const auto& broker : m_brokers) {
    if (broker->ready && broker->transport.is_connected()) {
      ready.push_back(broker->uri);
    }
  }
  return ready.empty() ? std::string() : common::describe_uris(ready);
}

std::size_t BrokerSet::ready_count() const {
  std::size_t ready = 0;
  for (const auto& broker : m_brokers) {
    ready += broker->ready && broker->transport.is_connected() ? 1 : 0;
  }
  return ready;
}

const std::string& BrokerSet::uri(std::size_t index) const {
  return m_brokers.at(index)->uri;
}

}  // namespace pos::collector
