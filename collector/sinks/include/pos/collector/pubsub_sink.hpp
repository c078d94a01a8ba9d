#pragma once
// Google Cloud Pub/Sub publisher over the REST API (projects.topics.publish) on Boost.Beast.
// See docs/collector.md, "Pub/Sub sink".

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pos/collector/sink.hpp"

namespace pos::collector {

/// Where the Pub/Sub sink publishes unless `[sink] endpoint` says otherwise (or the emulator is
/// used): the global endpoint, which routes each request to a nearby region.
inline constexpr std::string_view default_pubsub_endpoint = "https://pubsub.googleapis.com";

/// Checks a `[sink] endpoint`: scheme://host[:port] with nothing after, https:// unless the host
/// is this machine. Fails naming what is wrong.
Status check_pubsub_endpoint(std::string_view endpoint);

struct PubSubConfig {
  std::string project;            ///< e.g. "fastyle-prod"
  std::string topic;              ///< events topic id (not the full path)
  std::string dead_letter_topic;  ///< dead-letter topic id
  std::string health_topic;       ///< alert transitions' topic id; empty: none (see Destination)
  bool ordering = true;           ///< send ordering keys; one request in flight per key
  /// "host:port" of the emulator (plain HTTP, no auth). Empty: PUBSUB_EMULATOR_HOST, read once at
  /// construction; when that is unset too, `endpoint` with OAuth2.
  std::string emulator_host;
  /// The Pub/Sub API origin, "https://host[:port]": the global endpoint by default, or a
  /// regional one ("https://europe-west1-pubsub.googleapis.com"). Unused with the emulator.
  std::string endpoint = std::string(default_pubsub_endpoint);
  /// Service-account key file (JSON). Empty: GOOGLE_APPLICATION_CREDENTIALS, else the GCE/GKE
  /// metadata server.
  std::string credentials_file;
  std::size_t max_batch_messages = 1000;          ///< API limit: 1000
  std::size_t max_batch_bytes = 9 * 1024 * 1024;  ///< request body; API limit: 10 MB
  std::chrono::milliseconds batch_delay{5};       ///< how long a partial batch waits for more
  /// Per ordering key (ordering on only): real Pub/Sub accepts 1 MB/s per key. 0: no pacing.
  std::size_t key_bytes_per_second = 900 * 1024;
  std::size_t max_requests_in_flight = 16;  ///< also the connection pool size
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_cap{30'000};
};

/// Counters, read on the sink's executor.
struct PubSubStats {
  /// publish requests attempted (retries and resends after a 401 included)
  std::uint64_t requests_sent = 0;
  std::uint64_t requests_ok = 0;
  /// failed transiently (a 401 included), will be (or were) retried
  std::uint64_t requests_retried = 0;
  std::uint64_t messages_published = 0;
  std::uint64_t permanent_errors = 0;
};

/// Publishes to Pub/Sub (see Sink for the contract). Batches per (destination, ordering key) up
/// to max_batch_messages / max_batch_bytes, flushed after batch_delay or when full. With
/// ordering on, a key has at most one request in flight and is paced to key_bytes_per_second.
/// Retries 408/409/429/499/5xx, 401 (resent at once with a new token, then retried), connection
/// errors and timeouts; other statuses are permanent, with Pub/Sub's error text in the message.
/// Built from layers (queues, retry, auth, HTTP): see docs/collector.md, "Layers".
/// All work runs on `executor` (one thread). Not thread-safe except pending_bytes()/healthy().
class PubSubSink final : public Sink {
 public:
  /// Throws std::runtime_error on bad configuration (empty project/topic, unreadable or invalid
  /// key file, bad emulator host or endpoint).
  PubSubSink(boost::asio::any_io_executor executor, PubSubConfig config);
  /// Abandons outstanding calls (as stop() with no drain time) without calling their `done`.
  ~PubSubSink() override;
  PubSubSink(const PubSubSink&) = delete;
  PubSubSink& operator=(const PubSubSink&) = delete;

  void publish(Destination destination, std::vector<OutMessage> messages, Done done) override;
  std::size_t pending_bytes() const override;
  bool healthy() const override;
  void stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped) override;

  PubSubStats stats() const;
  /// "http://127.0.0.1:8085" (emulator) or the configured endpoint, e.g.
  /// "https://pubsub.googleapis.com".
  std::string endpoint() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> m_impl;
};

}  // namespace pos::collector
