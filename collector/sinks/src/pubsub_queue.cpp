#include "pubsub_queue.hpp"

#include <algorithm>

namespace pos::collector::detail {
namespace asio = boost::asio;

void finish_queued_call(QueuedCall& call, const Status& status) {
  if (call.finished) {
    return;
  }
  call.finished = true;
  if (call.on_outcome) {
    auto on_outcome = std::move(call.on_outcome);
    on_outcome(status);
  }
}

struct KeyedQueues::Queue {
  Queue(const asio::any_io_executor& executor, Destination d, std::string k)
      : destination(d), key(std::move(k)), timer(executor) {}
  Destination destination;
  std::string key;
  std::deque<QueuedMessage> messages;
  std::size_t body_bytes = publish_body_overhead;
  std::size_t in_flight = 0;
  Clock::time_point first_enqueued{};
  Clock::time_point next_send{};
  asio::steady_timer timer;
  std::optional<Clock::time_point> timer_deadline;
  bool in_ready = false;
};

struct KeyedQueues::Batch {
  Queue* queue = nullptr;
  std::vector<QueuedMessage> messages;
};

KeyedQueues::KeyedQueues(asio::any_io_executor executor, QueueConfig config,
                         std::shared_ptr<BatchPublisher> publisher)
    : m_executor(std::move(executor)), m_config(config), m_publisher(std::move(publisher)) {
  m_config.max_requests_in_flight = std::max<std::size_t>(1, m_config.max_requests_in_flight);
}

KeyedQueues::~KeyedQueues() = default;

void KeyedQueues::enqueue(Destination destination, std::vector<QueuedMessage> messages) {
  if (m_shutdown) {
    return;
  }
  const auto now = Clock::now();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    std::string key = m_config.ordering ? messages[i].ordering_key : std::string();
    auto& slot = m_queues[{destination, key}];
    if (!slot) {
      slot = std::make_unique<Queue>(m_executor, destination, std::move(key));
    }
    Queue& queue = *slot;
    if (queue.messages.empty()) {
      queue.first_enqueued = now;
    }
    queue.body_bytes += messages[i].json.size() + (queue.messages.empty() ? 0 : 1);
    m_pending_bytes += messages[i].json.size();
    queue.messages.push_back(std::move(messages[i]));
    if (i + 1 == messages.size() ||
        (m_config.ordering && messages[i + 1].ordering_key != queue.key)) {
      schedule(queue);
    }
  }
}

void KeyedQueues::drain() {
  m_draining = true;
  for (auto& [key, queue] : m_queues) {
    schedule(*queue);
  }
}

void KeyedQueues::schedule(Queue& queue) {
  if (m_shutdown || queue.messages.empty() || queue.in_ready) {
    return;
  }
  if (m_config.ordering && queue.in_flight > 0) {
    return;
  }
  const auto now = Clock::now();
  if (m_config.ordering && now < queue.next_send) {
    return arm(queue, queue.next_send);
  }
  const bool full = batch_full(queue.messages.size(), queue.body_bytes, m_config.limits);
  const auto due = queue.first_enqueued + m_config.batch_delay;
  if (!full && !m_draining && now < due) {
    return arm(queue, due);
  }
  queue.in_ready = true;
  m_ready.push_back(&queue);
  pump();
}

void KeyedQueues::arm(Queue& queue, Clock::time_point deadline) {
  if (queue.timer_deadline && *queue.timer_deadline <= deadline) {
    return;
  }
  queue.timer_deadline = deadline;
  queue.timer.expires_at(deadline);
  queue.timer.async_wait([self = shared_from_this(), q = &queue](boost::system::error_code ec) {
    if (ec || self->m_shutdown) {
      return;
    }
    q->timer_deadline.reset();
    self->schedule(*q);
  });
}

void KeyedQueues::pump() {
  while (!m_shutdown && m_in_flight < m_config.max_requests_in_flight && !m_ready.empty()) {
    Queue* queue = m_ready.front();
    m_ready.pop_front();
    queue->in_ready = false;
    send_batch(*queue);
    schedule(*queue);
  }
}

void KeyedQueues::send_batch(Queue& queue) {
  while (!queue.messages.empty() && queue.messages.front().call->finished) {
    queue.body_bytes -= queue.messages.front().json.size() + (queue.messages.size() > 1 ? 1 : 0);
    drop(queue.messages.front());
    queue.messages.pop_front();
  }
  if (queue.messages.empty()) {
    return;
  }
  const std::size_t count = batch_count(queue.messages, m_config.limits,
                                        [](const QueuedMessage& m) { return m.json.size(); });
  auto batch = std::make_shared<Batch>();
  batch->queue = &queue;
  std::string body = "{\"messages\":[";
  std::size_t billing = 0;
  for (std::size_t i = 0; i < count; ++i) {
    QueuedMessage& message = queue.messages.front();
    if (i > 0) {
      body += ',';
    }
    body += message.json;
    billing += message.billing_bytes;
    queue.body_bytes -= message.json.size() + (queue.messages.size() > 1 ? 1 : 0);
    batch->messages.push_back(std::move(message));
    queue.messages.pop_front();
  }
  body += "]}";
  queue.next_send = std::max(Clock::now(), queue.next_send) +
                    std::chrono::duration_cast<Clock::duration>(
                        pacing_interval(billing, m_config.key_bytes_per_second));
  ++queue.in_flight;
  ++m_in_flight;
  m_publisher->publish(queue.destination, std::move(body), count,
                       [self = shared_from_this(), batch](const Status& status) {
                         if (!self->m_shutdown) {
                           self->on_result(batch, status);
                         }
                       });
}

void KeyedQueues::on_result(const std::shared_ptr<Batch>& batch, const Status& status) {
  Queue& queue = *batch->queue;
  if (status) {
    for (QueuedMessage& message : batch->messages) {
      drop(message);
      if (!message.call->finished && --message.call->remaining == 0) {
        finish_queued_call(*message.call, Status{});
      }
    }
  } else {
    for (QueuedMessage& message : batch->messages) {
      drop(message);
      finish_queued_call(*message.call, status);
    }
    if (m_config.ordering) {
      for (QueuedMessage& message : queue.messages) {
        drop(message);
        finish_queued_call(*message.call, status);
      }
      queue.messages.clear();
      queue.body_bytes = publish_body_overhead;
    }
  }
  release(queue);
}

void KeyedQueues::release(Queue& queue) {
  --queue.in_flight;
  --m_in_flight;
  schedule(queue);
  pump();
  if (queue.messages.empty() && queue.in_flight == 0 && !queue.timer_deadline && !queue.in_ready &&
      queue.next_send <= Clock::now()) {
    m_queues.erase({queue.destination, queue.key});
  }
}

void KeyedQueues::drop(QueuedMessage& message) {
  m_pending_bytes -= message.json.size();
  message.json.clear();
  message.json.shrink_to_fit();
}

void KeyedQueues::shutdown() {
  if (m_shutdown) {
    return;
  }
  m_shutdown = true;
  for (auto& [key, queue] : m_queues) {
    queue->timer.cancel();
  }
  m_ready.clear();
  m_queues.clear();
  m_pending_bytes = 0;
  m_publisher->shutdown();
}

}  // namespace pos::collector::detail
