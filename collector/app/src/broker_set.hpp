#pragma once
// The brokers a collector takes batches from (SPEC: `[mqtt] uri` as an array = "take batches
// from every broker listed"): one MQTT connection per broker, each reconnecting with its own
// backoff and subscribing to the same filters. Publishes (acks) go back through the broker that
// last delivered a message of the till, so an ack reaches the till on the broker it is connected
// to; a till not seen yet gets the publish on every connected broker. Private to the app.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pos/common/backoff.hpp"
#include "pos/common/paho_transport.hpp"
#include "pos/common/transport.hpp"

namespace pos::collector {

struct BrokerSetOptions {
  std::vector<common::PahoTransportOptions> brokers;  ///< one per uri, at least one
  std::string topic_prefix = "pos/v1";
  std::vector<std::string> filters;  ///< subscribed on every broker after each connect
  std::chrono::milliseconds reconnect_initial{500};
  std::chrono::milliseconds reconnect_max{30'000};
  std::size_t max_routes = 100'000;  ///< tills whose broker is remembered; beyond: forgotten
};

/// A Transport over several brokers. Handlers: on_message for every broker's messages,
/// on_connected when a broker's subscriptions are all in place, on_disconnected when one is lost.
/// Io executor only; never throws after construction (which throws StartupError for a bad uri).
class BrokerSet final : public common::Transport {
 public:
  BrokerSet(boost::asio::any_io_executor executor, BrokerSetOptions options);
  ~BrokerSet() override;
  BrokerSet(const BrokerSet&) = delete;
  BrokerSet& operator=(const BrokerSet&) = delete;

  void set_handlers(Handlers handlers) override { m_handlers = std::move(handlers); }
  /// Connects every broker (then keeps reconnecting until disconnect()).
  void connect() override;
  /// Routed as above; `done` runs once: ok when one broker took it.
  void publish(std::string topic, std::string payload, bool retained,
               std::function<void(Status)> done) override;
  /// On every connected broker (and after each reconnect); `done` after the first answer.
  void subscribe(std::string topic_filter, std::function<void(Status)> done) override;
  /// Stops reconnecting and disconnects every broker; `done` when all have.
  void disconnect(std::chrono::milliseconds timeout, std::function<void()> done) override;
  /// True when at least one broker is connected with its subscriptions in place.
  bool is_connected() const override;
  /// The brokers connected with their subscriptions in place, for logs (`ssl://a:8883` or
  /// `[ssl://a:8883, ssl://b:8883]`); empty when none.
  std::string connected_uri() const override;

  /// Brokers configured, and connected with their subscriptions in place.
  std::size_t size() const noexcept { return m_brokers.size(); }
  std::size_t ready_count() const;
  /// "uri" of broker `index`, for logs and metrics.
  const std::string& uri(std::size_t index) const;

 private:
  struct Broker;
  void on_connected(Broker& broker);
  void on_disconnected(Broker& broker, const std::string& reason);
  void remember_route(const std::string& topic, std::size_t index);

  boost::asio::any_io_executor m_executor;
  BrokerSetOptions m_options;
  Handlers m_handlers;
  std::vector<std::unique_ptr<Broker>> m_brokers;
  std::unordered_map<std::string, std::size_t> m_routes;  ///< "{store}/{till}" -> broker
  bool m_stopping = false;
};

}  // namespace pos::collector
