#include "pubsub_retry.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "pubsub_batching.hpp"

namespace pos::collector::detail {
namespace asio = boost::asio;

struct PublishRetrier::Request {
  std::uint64_t id = 0;
  std::string topic_path;
  std::string body;
  std::size_t count = 0;
  Done done;
  std::unique_ptr<common::Backoff> backoff;
  std::optional<asio::steady_timer> timer;
  unsigned failures = 0;
};

PublishRetrier::PublishRetrier(asio::any_io_executor executor, std::shared_ptr<HttpSender> sender,
                               std::function<std::string(Destination)> topic_path,
                               BackoffFactory backoff)
    : m_executor(std::move(executor)),
      m_sender(std::move(sender)),
      m_topic_path(std::move(topic_path)),
      m_backoff(std::move(backoff)) {}

void PublishRetrier::publish(Destination destination, std::string body, std::size_t count,
                             Done done) {
  if (m_shutdown) {
    return;
  }
  auto request = std::make_shared<Request>();
  request->id = m_next_id++;
  request->topic_path = m_topic_path(destination);
  request->body = std::move(body);
  request->count = count;
  request->done = std::move(done);
  m_requests.emplace(request->id, request);
  attempt(request);
}

void PublishRetrier::attempt(const std::shared_ptr<Request>& request) {
  ++m_stats.attempts;
  HttpCall call;
  call.target = "/v1/" + request->topic_path + ":publish";
  call.body = request->body;
  m_sender->request(std::move(call), [self = shared_from_this(), request](Result<HttpReply> reply) {
    if (!self->m_shutdown) {
      self->on_reply(request, std::move(reply));
    }
  });
}

void PublishRetrier::on_reply(const std::shared_ptr<Request>& request, Result<HttpReply> reply) {
  const std::string& path = request->topic_path;
  if (!reply) {
    return retry_later(request, "publish to " + path + ": " + reply.error().message);
  }
  switch (classify_status(reply->status)) {
    case Outcome::ok: {
      auto ids = parse_publish_response(reply->body);
      if (!ids) {
        return retry_later(request, "publish to " + path + ": " + ids.error().message);
      }
      if (*ids != request->count) {
        return retry_later(request, "publish to " + path + ": " + std::to_string(*ids) +
                                        " ids for " + std::to_string(request->count) + " messages");
      }
      m_healthy = true;
      ++m_stats.accepted;
      m_stats.messages_accepted += request->count;
      return finish(request, Status{});
    }
    case Outcome::retryable:
      return retry_later(request, publish_error(path, reply->status, reply->body));
    case Outcome::permanent: {
      ++m_stats.permanent_errors;
      std::string why = publish_error(path, reply->status, reply->body);
      spdlog::error("pubsub: {} ({} messages)", why, request->count);
      return finish(request, fail(std::move(why)));
    }
  }
}

void PublishRetrier::retry_later(const std::shared_ptr<Request>& request, const std::string& why) {
  ++m_stats.retried;
  m_healthy = false;
  if (!request->backoff) {
    request->backoff = m_backoff();
    request->timer.emplace(m_executor);
  }
  const auto delay = request->backoff->next_delay();
  // First failure and then every power of two, so an outage does not flood the log.
  if (const unsigned n = ++request->failures; (n & (n - 1)) == 0) {
    spdlog::warn("pubsub: {} ({} messages, failure {}); retrying in {} ms", why, request->count, n,
                 delay.count());
  }
  request->timer->expires_after(delay);
  request->timer->async_wait([self = shared_from_this(), request](boost::system::error_code ec) {
    if (!ec && !self->m_shutdown) {
      self->attempt(request);
    }
  });
}

void PublishRetrier::finish(const std::shared_ptr<Request>& request, Status status) {
  m_requests.erase(request->id);
  auto done = std::move(request->done);
  done(std::move(status));
}

void PublishRetrier::shutdown() {
  if (m_shutdown) {
    return;
  }
  m_shutdown = true;
  for (auto& [id, request] : m_requests) {
    if (request->timer) {
      request->timer->cancel();
    }
  }
  m_requests.clear();
  m_sender->shutdown();
}

}  // namespace pos::collector::detail
