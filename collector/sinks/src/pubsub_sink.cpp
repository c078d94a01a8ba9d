#include "pos/collector/pubsub_sink.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

#include "pos/common/backoff.hpp"
#include "pubsub_auth.hpp"
#include "pubsub_batching.hpp"
#include "pubsub_http.hpp"
#include "pubsub_queue.hpp"
#include "pubsub_retry.hpp"

namespace pos::collector {
namespace asio = boost::asio;

std::string_view to_string(Destination destination) noexcept {
  switch (destination) {
    case Destination::events:
      return "events";
    case Destination::dead_letter:
      return "dead_letter";
    case Destination::health:
      return "health";
  }
  return "events";
}

namespace {

/// projects/{project}/topics/{the destination's topic}; empty when it has none.
std::string topic_path_of(const PubSubConfig& config, Destination destination) {
  const std::string& topic = destination == Destination::events        ? config.topic
                             : destination == Destination::dead_letter ? config.dead_letter_topic
                                                                       : config.health_topic;
  return topic.empty() ? std::string() : "projects/" + config.project + "/topics/" + topic;
}

}  // namespace

namespace {

// Pub/Sub's request size limit; a single message encoded larger than this can never be sent.
constexpr std::size_t api_max_request_bytes = 10'000'000;

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

// A publish() call as the sink's front end sees it: its `done`, and its outcome once known.
struct SinkCall {
  Sink::Done done;
  std::string completion_key;
  bool finished = false;
  Status status;
};

}  // namespace

// The front end of the publisher stack: checks and encodes messages, keeps calls of one
// ordering key completing in call order, and runs stop(). Below it: KeyedQueues (per-key queues,
// batching, pacing) → PublishRetrier (retries with backoff) → AuthorizedSender (tokens, 401) →
// HttpClient (the wire).
struct PubSubSink::Impl : std::enable_shared_from_this<PubSubSink::Impl> {
  Impl(asio::any_io_executor executor, PubSubConfig config)
      : m_executor(std::move(executor)), m_config(std::move(config)), m_drain_timer(m_executor) {}

  void init();
  void publish(Destination destination, std::vector<OutMessage> messages, Done done);
  void stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped);
  void hard_stop();

  std::string topic_path(Destination destination) const {
    return topic_path_of(m_config, destination);
  }

  void finish_call(const std::shared_ptr<SinkCall>& call, Status status);
  void check_drained();

  asio::any_io_executor m_executor;
  PubSubConfig m_config;
  detail::Origin m_origin;
  std::shared_ptr<detail::AuthorizedSender> m_auth;
  std::shared_ptr<detail::PublishRetrier> m_retry;
  std::shared_ptr<detail::KeyedQueues> m_queues;
  std::map<std::string, std::deque<std::shared_ptr<SinkCall>>> m_order;
  bool m_stopping = false;
  bool m_stopped = false;
  asio::steady_timer m_drain_timer;
  std::function<void()> m_on_stopped;
};

void PubSubSink::Impl::init() {
  if (m_config.project.empty()) {
    throw std::runtime_error("pubsub: project is empty");
  }
  if (m_config.topic.empty()) {
    throw std::runtime_error("pubsub: topic is empty");
  }
  if (m_config.dead_letter_topic.empty()) {
    throw std::runtime_error("pubsub: dead_letter_topic is empty");
  }
  detail::QueueConfig queue_config;
  queue_config.ordering = m_config.ordering;
  queue_config.limits.max_messages = std::clamp<std::size_t>(m_config.max_batch_messages, 1, 1000);
  queue_config.limits.max_bytes =
      std::clamp<std::size_t>(m_config.max_batch_bytes, 1024, api_max_request_bytes);
  queue_config.batch_delay = m_config.batch_delay;
  queue_config.key_bytes_per_second = m_config.key_bytes_per_second;
  queue_config.max_requests_in_flight = std::max<std::size_t>(1, m_config.max_requests_in_flight);
  const std::string emulator =
      m_config.emulator_host.empty() ? env_or("PUBSUB_EMULATOR_HOST", "") : m_config.emulator_host;
  std::shared_ptr<asio::ssl::context> tls;
  std::shared_ptr<detail::TokenSource> tokens;
  if (!emulator.empty()) {
    auto origin = detail::parse_host_port(emulator);
    if (!origin) {
      throw std::runtime_error("PUBSUB_EMULATOR_HOST: " + origin.error().message);
    }
    m_origin = std::move(*origin);
    tokens = detail::make_no_auth(m_executor);
  } else {
    auto url = detail::parse_url(m_config.endpoint);
    if (!url || url->target != "/") {
      throw std::runtime_error("pubsub: endpoint '" + m_config.endpoint +
                               "': must be https://host[:port]");
    }
    m_origin = std::move(url->origin);
    tls = detail::make_tls_context();
    const std::string key_file = m_config.credentials_file.empty()
                                     ? env_or("GOOGLE_APPLICATION_CREDENTIALS", "")
                                     : m_config.credentials_file;
    Result<std::shared_ptr<detail::TokenSource>> auth = fail("no auth");
    if (!key_file.empty()) {
      std::ifstream in(key_file);
      if (!in) {
        throw std::runtime_error("pubsub: cannot read key file " + key_file);
      }
      std::ostringstream text;
      text << in.rdbuf();
      auto key = detail::parse_service_account_key(text.str());
      if (!key) {
        throw std::runtime_error(key_file + ": " + key.error().message);
      }
      auto probe = detail::rs256_sign(key->private_key_pem, "probe");
      if (!probe) {
        throw std::runtime_error(key_file + ": " + probe.error().message);
      }
      auth = detail::make_service_account_auth(m_executor, std::move(*key), tls);
    } else {
      auth = detail::make_metadata_auth(m_executor,
                                        env_or("GCE_METADATA_HOST", "metadata.google.internal"));
    }
    if (!auth) {
      throw std::runtime_error("pubsub: " + auth.error().message);
    }
    tokens = std::move(*auth);
  }
  auto http = std::make_shared<detail::HttpClient>(m_executor, m_origin, tls,
                                                   queue_config.max_requests_in_flight,
                                                   m_config.request_timeout, 1024 * 1024);
  m_auth = std::make_shared<detail::AuthorizedSender>(std::move(tokens), std::move(http));
  m_retry = std::make_shared<detail::PublishRetrier>(
      m_executor, m_auth,
      [config = m_config](Destination destination) { return topic_path_of(config, destination); },
      [initial = m_config.retry_initial, cap = m_config.retry_cap,
       seeds = std::make_shared<std::mt19937_64>(std::random_device{}())]() {
        return std::make_unique<common::ExponentialBackoff>(initial, cap, (*seeds)());
      });
  m_queues = std::make_shared<detail::KeyedQueues>(m_executor, queue_config, m_retry);
}

void PubSubSink::Impl::publish(Destination destination, std::vector<OutMessage> messages,
                               Done done) {
  if (m_stopping) {
    asio::post(m_executor, [done = std::move(done)] { done(fail("sink stopped")); });
    return;
  }
  if (topic_path(destination).empty()) {
    asio::post(m_executor, [done = std::move(done), destination] {
      done(fail("no topic configured for " + std::string(to_string(destination))));
    });
    return;
  }
  auto call = std::make_shared<SinkCall>();
  call->done = std::move(done);
  if (!messages.empty()) {
    call->completion_key = messages.front().ordering_key;
  }
  m_order[call->completion_key].push_back(call);
  auto queued = std::make_shared<detail::QueuedCall>();
  queued->remaining = messages.size();
  queued->on_outcome = [weak = weak_from_this(), call](Status status) {
    if (auto self = weak.lock()) {
      self->finish_call(call, std::move(status));
    }
  };
  std::vector<detail::QueuedMessage> items;
  items.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    detail::QueuedMessage item{messages[i].ordering_key,
                               detail::encode_message(messages[i], m_config.ordering),
                               detail::message_billing_bytes(messages[i]), queued};
    if (item.json.size() + detail::publish_body_overhead > api_max_request_bytes) {
      detail::finish_queued_call(
          *queued, fail("message " + std::to_string(i) + " for " + topic_path(destination) +
                        " is " + std::to_string(item.json.size()) +
                        " bytes encoded; a publish request holds at most 10 MB"));
      return;
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) {
    detail::finish_queued_call(*queued, Status{});
    return;
  }
  m_queues->enqueue(destination, std::move(items));
}

void PubSubSink::Impl::finish_call(const std::shared_ptr<SinkCall>& call, Status status) {
  if (call->finished) {
    return;
  }
  call->finished = true;
  call->status = std::move(status);
  auto it = m_order.find(call->completion_key);
  if (it == m_order.end()) {
    return;
  }
  auto& calls = it->second;
  while (!calls.empty() && calls.front()->finished) {
    asio::post(m_executor, [done = std::move(calls.front()->done), result = calls.front()->status] {
      done(result);
    });
    calls.pop_front();
  }
  if (calls.empty()) {
    m_order.erase(it);
  }
  // Called from inside the queues: stop them only after they have returned.
  if (m_stopping && m_order.empty()) {
    asio::post(m_executor, [self = shared_from_this()] { self->check_drained(); });
  }
}

void PubSubSink::Impl::stop(std::chrono::milliseconds drain_timeout,
                            std::function<void()> stopped) {
  if (m_stopping) {
    if (stopped) {
      asio::post(m_executor, std::move(stopped));
    }
    return;
  }
  m_stopping = true;
  m_on_stopped = std::move(stopped);
  m_queues->drain();
  m_drain_timer.expires_after(drain_timeout);
  m_drain_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) {
      self->hard_stop();
    }
  });
  check_drained();
}

void PubSubSink::Impl::check_drained() {
  if (m_stopping && !m_stopped && m_order.empty()) {
    hard_stop();
  }
}

void PubSubSink::Impl::hard_stop() {
  if (m_stopped) {
    return;
  }
  m_stopping = true;
  m_stopped = true;
  m_drain_timer.cancel();
  m_queues->shutdown();
  m_order.clear();
  if (m_on_stopped) {
    asio::post(m_executor, std::move(m_on_stopped));
  }
  m_on_stopped = nullptr;
}

PubSubSink::PubSubSink(asio::any_io_executor executor, PubSubConfig config)
    : m_impl(std::make_shared<Impl>(std::move(executor), std::move(config))) {
  m_impl->init();
}

PubSubSink::~PubSubSink() {
  m_impl->hard_stop();
}

void PubSubSink::publish(Destination destination, std::vector<OutMessage> messages, Done done) {
  m_impl->publish(destination, std::move(messages), std::move(done));
}

std::size_t PubSubSink::pending_bytes() const {
  return m_impl->m_queues->pending_bytes();
}

bool PubSubSink::healthy() const {
  return m_impl->m_retry->healthy();
}

void PubSubSink::stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped) {
  m_impl->stop(drain_timeout, std::move(stopped));
}

PubSubStats PubSubSink::stats() const {
  const detail::RetryStats& retry = m_impl->m_retry->stats();
  const std::uint64_t resends = m_impl->m_auth->resends();
  PubSubStats stats;
  stats.requests_sent = retry.attempts + resends;
  stats.requests_ok = retry.accepted;
  stats.requests_retried = retry.retried + resends;
  stats.messages_published = retry.messages_accepted;
  stats.permanent_errors = retry.permanent_errors;
  return stats;
}

std::string PubSubSink::endpoint() const {
  return m_impl->m_origin.to_string();
}

// http:// only to this machine, because the OAuth2 token travels with every request.
Status check_pubsub_endpoint(std::string_view endpoint) {
  auto url = detail::parse_url(endpoint);
  if (!url) {
    return fail(url.error().message);
  }
  if (url->target != "/" || endpoint.ends_with("/")) {
    return fail("'" + std::string(endpoint) + "': give scheme://host[:port] only, no path");
  }
  const auto& host = url->origin.host;
  if (!url->origin.tls && host != "127.0.0.1" && host != "localhost" && host != "::1") {
    return fail("'" + std::string(endpoint) +
                "': plain http:// only to 127.0.0.1, localhost or [::1]; use https://");
  }
  return {};
}

}  // namespace pos::collector
