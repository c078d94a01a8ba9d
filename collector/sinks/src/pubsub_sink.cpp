#include "pos/collector/pubsub_sink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>

#include "pos/common/backoff.hpp"
#include "pubsub_auth.hpp"
#include "pubsub_batching.hpp"
#include "pubsub_http.hpp"

namespace pos::collector {
namespace asio = boost::asio;
using detail::Outcome;
using SteadyClock = std::chrono::steady_clock;

std::string_view to_string(Destination destination) noexcept {
  return destination == Destination::events ? "events" : "dead_letter";
}

namespace {

// Pub/Sub's request size limit; a single message encoded larger than this can never be sent.
constexpr std::size_t api_max_request_bytes = 10'000'000;

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

struct Call {
  std::size_t remaining = 0;
  Sink::Done done;
  std::string completion_key;
  bool finished = false;
  Status status;
};

struct Item {
  std::string json;
  std::size_t billing_bytes = 0;
  std::shared_ptr<Call> call;
};

struct Queue {
  Queue(asio::any_io_executor executor, Destination d, std::string k)
      : destination(d), key(std::move(k)), timer(std::move(executor)) {}
  Destination destination;
  std::string key;
  std::deque<Item> items;
  std::size_t body_bytes = detail::publish_body_overhead;
  std::size_t in_flight = 0;
  SteadyClock::time_point first_enqueued{};
  SteadyClock::time_point next_send{};
  asio::steady_timer timer;
  std::optional<SteadyClock::time_point> timer_deadline;
  bool in_ready = false;
};

struct Request {
  std::uint64_t id = 0;
  Queue* queue = nullptr;
  std::vector<Item> items;
  std::string body;
  std::unique_ptr<common::ExponentialBackoff> backoff;
  std::optional<asio::steady_timer> retry_timer;
  unsigned failures = 0;
};

}  // namespace

struct PubSubSink::Impl : std::enable_shared_from_this<PubSubSink::Impl> {
  Impl(asio::any_io_executor executor, PubSubConfig config)
      : m_executor(std::move(executor)), m_config(std::move(config)), m_drain_timer(m_executor) {}

  void init();
  void publish(Destination destination, std::vector<OutMessage> messages, Done done);
  void stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped);
  void hard_stop();

  std::string topic_path(Destination destination) const {
    return "projects/" + m_config.project + "/topics/" +
           (destination == Destination::events ? m_config.topic : m_config.dead_letter_topic);
  }

  void schedule(Queue& queue);
  void arm(Queue& queue, SteadyClock::time_point deadline);
  void pump();
  void send_batch(Queue& queue);
  void attempt(const std::shared_ptr<Request>& request);
  void on_reply(const std::shared_ptr<Request>& request, Result<detail::HttpReply> reply);
  void retry_later(const std::shared_ptr<Request>& request, const std::string& why);
  void succeeded(const std::shared_ptr<Request>& request);
  void failed(const std::shared_ptr<Request>& request, const std::string& why);
  void release(const std::shared_ptr<Request>& request);
  void drop_item(Item& item);
  void finish_call(const std::shared_ptr<Call>& call, Status status);
  void check_drained();

  asio::any_io_executor m_executor;
  PubSubConfig m_config;
  detail::BatchLimits m_limits;
  detail::Origin m_origin;
  std::shared_ptr<detail::HttpClient> m_http;
  std::shared_ptr<detail::TokenSource> m_auth;
  std::map<std::pair<Destination, std::string>, std::unique_ptr<Queue>> m_queues;
  std::deque<Queue*> m_ready;
  std::map<std::uint64_t, std::shared_ptr<Request>> m_requests;
  std::map<std::string, std::deque<std::shared_ptr<Call>>> m_order;
  std::uint64_t m_next_request_id = 1;
  std::size_t m_in_flight = 0;
  std::mt19937_64 m_seed_rng{std::random_device{}()};
  std::atomic<std::size_t> m_pending_bytes{0};
  std::atomic<bool> m_healthy{true};
  PubSubStats m_stats;
  bool m_stopping = false;
  bool m_stopped = false;
  asio::steady_timer m_drain_timer;
  std::function<void()> m_on_stopped;
};

void PubSubSink::Impl::init() {
  if (m_config.project.empty()) throw std::runtime_error("pubsub: project is empty");
  if (m_config.topic.empty()) throw std::runtime_error("pubsub: topic is empty");
  if (m_config.dead_letter_topic.empty()) {
    throw std::runtime_error("pubsub: dead_letter_topic is empty");
  }
  m_limits.max_messages = std::clamp<std::size_t>(m_config.max_batch_messages, 1, 1000);
  m_limits.max_bytes =
      std::clamp<std::size_t>(m_config.max_batch_bytes, 1024, api_max_request_bytes);
  m_config.max_requests_in_flight = std::max<std::size_t>(1, m_config.max_requests_in_flight);
  const std::string emulator =
      m_config.emulator_host.empty() ? env_or("PUBSUB_EMULATOR_HOST", "") : m_config.emulator_host;
  std::shared_ptr<asio::ssl::context> tls;
  if (!emulator.empty()) {
    auto origin = detail::parse_host_port(emulator);
    if (!origin) throw std::runtime_error("PUBSUB_EMULATOR_HOST: " + origin.error().message);
    m_origin = std::move(*origin);
    m_auth = detail::make_no_auth(m_executor);
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
      if (!in) throw std::runtime_error("pubsub: cannot read key file " + key_file);
      std::ostringstream text;
      text << in.rdbuf();
      auto key = detail::parse_service_account_key(text.str());
      if (!key) throw std::runtime_error(key_file + ": " + key.error().message);
      auto probe = detail::rs256_sign(key->private_key_pem, "probe");
      if (!probe) throw std::runtime_error(key_file + ": " + probe.error().message);
      auth = detail::make_service_account_auth(m_executor, std::move(*key), tls);
    } else {
      auth = detail::make_metadata_auth(m_executor,
                                        env_or("GCE_METADATA_HOST", "metadata.google.internal"));
    }
    if (!auth) throw std::runtime_error("pubsub: " + auth.error().message);
    m_auth = std::move(*auth);
  }
  m_http = std::make_shared<detail::HttpClient>(m_executor, m_origin, tls,
                                                m_config.max_requests_in_flight,
                                                m_config.request_timeout, 1024 * 1024);
}

void PubSubSink::Impl::publish(Destination destination, std::vector<OutMessage> messages,
                               Done done) {
  if (m_stopping) {
    asio::post(m_executor, [done = std::move(done)] { done(fail("sink stopped")); });
    return;
  }
  auto call = std::make_shared<Call>();
  call->done = std::move(done);
  call->remaining = messages.size();
  if (!messages.empty()) call->completion_key = messages.front().ordering_key;
  m_order[call->completion_key].push_back(call);
  std::vector<Item> items;
  items.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    Item item{detail::encode_message(messages[i], m_config.ordering),
              detail::message_billing_bytes(messages[i]), call};
    if (item.json.size() + detail::publish_body_overhead > api_max_request_bytes) {
      finish_call(call, fail("message " + std::to_string(i) + " for " + topic_path(destination) +
                             " is " + std::to_string(item.json.size()) +
                             " bytes encoded; a publish request holds at most 10 MB"));
      return;
    }
    items.push_back(std::move(item));
  }
  if (messages.empty()) {
    finish_call(call, Status{});
    return;
  }
  const auto now = SteadyClock::now();
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string key = m_config.ordering ? messages[i].ordering_key : std::string();
    auto& slot = m_queues[{destination, key}];
    if (!slot) slot = std::make_unique<Queue>(m_executor, destination, std::move(key));
    Queue& queue = *slot;
    if (queue.items.empty()) queue.first_enqueued = now;
    queue.body_bytes += items[i].json.size() + (queue.items.empty() ? 0 : 1);
    m_pending_bytes += items[i].json.size();
    queue.items.push_back(std::move(items[i]));
    if (i + 1 == items.size() ||
        (m_config.ordering && messages[i + 1].ordering_key != messages[i].ordering_key)) {
      schedule(queue);
    }
  }
}

void PubSubSink::Impl::schedule(Queue& queue) {
  if (m_stopped || queue.items.empty() || queue.in_ready) return;
  if (m_config.ordering && queue.in_flight > 0) return;
  const auto now = SteadyClock::now();
  if (m_config.ordering && now < queue.next_send) return arm(queue, queue.next_send);
  const bool full = detail::batch_full(queue.items.size(), queue.body_bytes, m_limits);
  const auto due = queue.first_enqueued + m_config.batch_delay;
  if (!full && !m_stopping && now < due) return arm(queue, due);
  queue.in_ready = true;
  m_ready.push_back(&queue);
  pump();
}

void PubSubSink::Impl::arm(Queue& queue, SteadyClock::time_point deadline) {
  if (queue.timer_deadline && *queue.timer_deadline <= deadline) return;
  queue.timer_deadline = deadline;
  queue.timer.expires_at(deadline);
  queue.timer.async_wait([self = shared_from_this(), q = &queue](boost::system::error_code ec) {
    if (ec || self->m_stopped) return;
    q->timer_deadline.reset();
    self->schedule(*q);
  });
}

void PubSubSink::Impl::pump() {
  while (!m_stopped && m_in_flight < m_config.max_requests_in_flight && !m_ready.empty()) {
    Queue* queue = m_ready.front();
    m_ready.pop_front();
    queue->in_ready = false;
    send_batch(*queue);
    schedule(*queue);
  }
}

void PubSubSink::Impl::send_batch(Queue& queue) {
  while (!queue.items.empty() && queue.items.front().call->finished) {
    queue.body_bytes -= queue.items.front().json.size() + (queue.items.size() > 1 ? 1 : 0);
    drop_item(queue.items.front());
    queue.items.pop_front();
  }
  if (queue.items.empty()) return;
  const std::size_t count =
      detail::batch_count(queue.items, m_limits, [](const Item& item) { return item.json.size(); });
  auto request = std::make_shared<Request>();
  request->id = m_next_request_id++;
  request->queue = &queue;
  request->body = "{\"messages\":[";
  std::size_t billing = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Item& item = queue.items.front();
    if (i > 0) request->body += ',';
    request->body += item.json;
    billing += item.billing_bytes;
    queue.body_bytes -= item.json.size() + (queue.items.size() > 1 ? 1 : 0);
    request->items.push_back(std::move(item));
    queue.items.pop_front();
  }
  request->body += "]}";
  const auto now = SteadyClock::now();
  queue.next_send = std::max(now, queue.next_send) +
                    std::chrono::duration_cast<SteadyClock::duration>(
                        detail::pacing_interval(billing, m_config.key_bytes_per_second));
  ++queue.in_flight;
  ++m_in_flight;
  m_requests.emplace(request->id, request);
  attempt(request);
}

void PubSubSink::Impl::attempt(const std::shared_ptr<Request>& request) {
  ++m_stats.requests_sent;
  m_auth->authorization([self = shared_from_this(), request](Result<std::string> authorization) {
    if (self->m_stopped) return;
    if (!authorization) {
      return self->retry_later(request, "auth: " + authorization.error().message);
    }
    detail::HttpCall call;
    call.target = "/v1/" + self->topic_path(request->queue->destination) + ":publish";
    call.body = request->body;
    if (!authorization->empty()) call.headers.emplace_back("Authorization", *authorization);
    self->m_http->request(std::move(call), [self, request](Result<detail::HttpReply> reply) {
      if (!self->m_stopped) self->on_reply(request, std::move(reply));
    });
  });
}

void PubSubSink::Impl::on_reply(const std::shared_ptr<Request>& request,
                                Result<detail::HttpReply> reply) {
  const std::string path = topic_path(request->queue->destination);
  if (!reply) return retry_later(request, "publish to " + path + ": " + reply.error().message);
  switch (detail::classify_status(reply->status)) {
    case Outcome::ok: {
      auto ids = detail::parse_publish_response(reply->body);
      if (!ids) return retry_later(request, "publish to " + path + ": " + ids.error().message);
      if (*ids != request->items.size()) {
        return retry_later(request, "publish to " + path + ": " + std::to_string(*ids) +
                                        " ids for " + std::to_string(request->items.size()) +
                                        " messages");
      }
      return succeeded(request);
    }
    case Outcome::retryable:
      if (reply->status == 401) m_auth->invalidate();
      return retry_later(request, detail::publish_error(path, reply->status, reply->body));
    case Outcome::permanent:
      return failed(request, detail::publish_error(path, reply->status, reply->body));
  }
}

void PubSubSink::Impl::retry_later(const std::shared_ptr<Request>& request,
                                   const std::string& why) {
  ++m_stats.requests_retried;
  m_healthy = false;
  if (!request->backoff) {
    request->backoff = std::make_unique<common::ExponentialBackoff>(
        m_config.retry_initial, m_config.retry_cap, m_seed_rng());
    request->retry_timer.emplace(m_executor);
  }
  const auto delay = request->backoff->next_delay();
  // First failure and then every power of two, so an outage does not flood the log.
  if (const unsigned n = ++request->failures; (n & (n - 1)) == 0) {
    spdlog::warn("pubsub: {} ({} messages, failure {}); retrying in {} ms", why,
                 request->items.size(), n, delay.count());
  }
  request->retry_timer->expires_after(delay);
  request->retry_timer->async_wait(
      [self = shared_from_this(), request](boost::system::error_code ec) {
        if (!ec && !self->m_stopped) self->attempt(request);
      });
}

void PubSubSink::Impl::succeeded(const std::shared_ptr<Request>& request) {
  m_healthy = true;
  ++m_stats.requests_ok;
  m_stats.messages_published += request->items.size();
  for (Item& item : request->items) {
    auto call = item.call;
    drop_item(item);
    if (!call->finished && --call->remaining == 0) finish_call(call, Status{});
  }
  release(request);
}

void PubSubSink::Impl::failed(const std::shared_ptr<Request>& request, const std::string& why) {
  ++m_stats.permanent_errors;
  spdlog::error("pubsub: {} ({} messages)", why, request->items.size());
  for (Item& item : request->items) {
    auto call = item.call;
    drop_item(item);
    finish_call(call, fail(why));
  }
  // With ordering, later messages of the key must not overtake the failed ones.
  if (m_config.ordering) {
    Queue& queue = *request->queue;
    for (Item& item : queue.items) {
      auto call = item.call;
      drop_item(item);
      finish_call(call, fail(why));
    }
    queue.items.clear();
    queue.body_bytes = detail::publish_body_overhead;
  }
  release(request);
}

void PubSubSink::Impl::release(const std::shared_ptr<Request>& request) {
  Queue& queue = *request->queue;
  --queue.in_flight;
  --m_in_flight;
  m_requests.erase(request->id);
  schedule(queue);
  pump();
  if (queue.items.empty() && queue.in_flight == 0 && !queue.timer_deadline && !queue.in_ready &&
      queue.next_send <= SteadyClock::now()) {
    m_queues.erase({queue.destination, queue.key});
  }
  check_drained();
}

void PubSubSink::Impl::drop_item(Item& item) {
  m_pending_bytes -= item.json.size();
  item.json.clear();
  item.json.shrink_to_fit();
}

void PubSubSink::Impl::finish_call(const std::shared_ptr<Call>& call, Status status) {
  if (call->finished) return;
  call->finished = true;
  call->status = std::move(status);
  auto it = m_order.find(call->completion_key);
  if (it == m_order.end()) return;
  auto& calls = it->second;
  while (!calls.empty() && calls.front()->finished) {
    asio::post(m_executor, [done = std::move(calls.front()->done), result = calls.front()->status] {
      done(result);
    });
    calls.pop_front();
  }
  if (calls.empty()) m_order.erase(it);
}

void PubSubSink::Impl::stop(std::chrono::milliseconds drain_timeout,
                            std::function<void()> stopped) {
  if (m_stopping) {
    if (stopped) asio::post(m_executor, std::move(stopped));
    return;
  }
  m_stopping = true;
  m_on_stopped = std::move(stopped);
  for (auto& [key, queue] : m_queues) schedule(*queue);
  m_drain_timer.expires_after(drain_timeout);
  m_drain_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->hard_stop();
  });
  check_drained();
}

void PubSubSink::Impl::check_drained() {
  if (m_stopping && !m_stopped && m_order.empty()) hard_stop();
}

void PubSubSink::Impl::hard_stop() {
  if (m_stopped) return;
  m_stopping = true;
  m_stopped = true;
  m_drain_timer.cancel();
  for (auto& [key, queue] : m_queues) queue->timer.cancel();
  for (auto& [id, request] : m_requests) {
    if (request->retry_timer) request->retry_timer->cancel();
  }
  m_http->shutdown();
  m_auth->shutdown();
  m_ready.clear();
  m_order.clear();
  m_pending_bytes = 0;
  if (m_on_stopped) asio::post(m_executor, std::move(m_on_stopped));
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
  return m_impl->m_pending_bytes.load();
}

bool PubSubSink::healthy() const {
  return m_impl->m_healthy.load();
}

void PubSubSink::stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped) {
  m_impl->stop(drain_timeout, std::move(stopped));
}

PubSubStats PubSubSink::stats() const {
  return m_impl->m_stats;
}

std::string PubSubSink::endpoint() const {
  return m_impl->m_origin.to_string();
}

// http:// only to this machine, because the OAuth2 token travels with every request.
Status check_pubsub_endpoint(std::string_view endpoint) {
  auto url = detail::parse_url(endpoint);
  if (!url) return fail(url.error().message);
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
