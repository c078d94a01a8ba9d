#include "support/pubsub_emulator.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <stdexcept>
#include <thread>

namespace pos::test {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view b64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::size_t max_response_bytes = 64 * 1024 * 1024;

std::string path_of(std::string_view project, std::string_view kind, std::string_view name) {
  return "/v1/projects/" + std::string(project) + "/" + std::string(kind) + "/" + std::string(name);
}

std::string string_field(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return {};
  }
  return std::string(v->get_string());
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += b64_alphabet[(v >> 6) & 63];
    out += b64_alphabet[v & 63];
  }
  if (const std::size_t rest = in.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) {
      v |= static_cast<unsigned char>(in[i + 1]) << 8;
    }
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += rest == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view in) {
  std::array<int, 256> table{};
  table.fill(-1);
  for (std::size_t i = 0; i < b64_alphabet.size(); ++i) {
    table[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<int>(i);
  }
  while (!in.empty() && in.back() == '=') {
    in.remove_suffix(1);
  }
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = table[static_cast<unsigned char>(c)];
    if (v < 0) {
      throw std::runtime_error("base64_decode: invalid character");
    }
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

PubSubEmulator::PubSubEmulator() : m_dir("pos-pubsub") {
  if (!find_executable(pubsub_emulator_path)) {
    throw std::runtime_error(std::string("PubSubEmulator: the emulator is missing at ") +
                             pubsub_emulator_path +
                             " (install google-cloud-sdk's pubsub-emulator)");
  }
  if (!find_executable("java")) {
    throw std::runtime_error("PubSubEmulator: java is missing (the emulator needs a JRE)");
  }
  m_port = free_tcp_port();
  m_log_path = m_dir.path() / "pubsub-emulator.log";
  start();
}

PubSubEmulator::~PubSubEmulator() = default;

void PubSubEmulator::start() {
  if (running()) {
    return;
  }
  m_process = std::make_unique<ChildProcess>(
      std::vector<std::string>{pubsub_emulator_path, "--host=127.0.0.1",
                               "--port=" + std::to_string(m_port)},
      m_log_path);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::string last_error;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!m_process->running()) {
      const int status = m_process->wait();
      throw std::runtime_error("PubSubEmulator: exited with " + std::to_string(status) +
                               "; log:\n" + read_text_file(m_log_path));
    }
    if (wait_for_tcp(m_port, 200ms)) {
      try {
        if (request("GET", "/v1/projects/test-project/topics", "").status == 200) {
          return;
        }
      } catch (const std::exception& e) {
        last_error = e.what();
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  m_process->kill9();
  throw std::runtime_error("PubSubEmulator: not answering on port " + std::to_string(m_port) +
                           " after 60 s (" + last_error + "); log:\n" + read_text_file(m_log_path));
}

void PubSubEmulator::stop(std::chrono::milliseconds deadline) {
  if (m_process) {
    m_process->terminate(deadline);
  }
  m_process.reset();
}

void PubSubEmulator::kill9() {
  if (m_process) {
    m_process->kill9();
  }
  m_process.reset();
}

bool PubSubEmulator::running() {
  return m_process && m_process->running();
}

pid_t PubSubEmulator::pid() const {
  return m_process ? m_process->pid() : -1;
}

std::string PubSubEmulator::host_port() const {
  return "127.0.0.1:" + std::to_string(m_port);
}

HttpReply PubSubEmulator::request(std::string_view method, std::string_view target,
                                  std::string_view body) {
  asio::io_context ioc;
  asio::ip::tcp::socket socket(ioc);
  socket.connect({asio::ip::make_address_v4("127.0.0.1"), m_port});
  // Blocking socket: kernel timeouts bound every read and write.
  timeval tv{30, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  http::request<http::string_body> req{http::string_to_verb(method), std::string(target), 11};
  req.set(http::field::host, host_port());
  req.set(http::field::connection, "close");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.prepare_payload();
  http::write(socket, req);

  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_response_bytes);
  http::read(socket, buffer, parser);
  boost::system::error_code ec;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  return {parser.get().result_int(), parser.get().body()};
}

HttpReply PubSubEmulator::checked(std::string_view method, const std::string& target,
                                  const std::string& body) {
  HttpReply reply;
  try {
    reply = request(method, target, body);
  } catch (const std::exception& e) {
    throw std::runtime_error("PubSubEmulator: " + std::string(method) + " " + target + ": " +
                             e.what());
  }
  if (reply.status < 200 || reply.status >= 300) {
    throw std::runtime_error("PubSubEmulator: " + std::string(method) + " " + target +
                             " answered " + std::to_string(reply.status) + ": " + reply.body);
  }
  return reply;
}

void PubSubEmulator::create_topic(std::string_view project, std::string_view topic) {
  checked("PUT", path_of(project, "topics", topic), "{}");
}

void PubSubEmulator::create_subscription(std::string_view project, std::string_view subscription,
                                         std::string_view topic, bool ordering) {
  const json::object body{
      {"topic", "projects/" + std::string(project) + "/topics/" + std::string(topic)},
      {"enableMessageOrdering", ordering},
      {"ackDeadlineSeconds", 60}};
  checked("PUT", path_of(project, "subscriptions", subscription), json::serialize(body));
}

std::string PubSubEmulator::publish(std::string_view project, std::string_view topic,
                                    std::string_view data,
                                    const std::map<std::string, std::string>& attributes,
                                    std::string_view ordering_key) {
  json::object attrs;
  for (const auto& [k, v] : attributes) {
    attrs[k] = v;
  }
  json::object message{{"data", base64_encode(data)}, {"attributes", std::move(attrs)}};
  if (!ordering_key.empty()) {
    message["orderingKey"] = ordering_key;
  }
  const json::object body{{"messages", json::array{std::move(message)}}};
  const auto reply =
      checked("POST", path_of(project, "topics", topic) + ":publish", json::serialize(body));
  const auto parsed = json::parse(reply.body);
  const auto& ids = parsed.at("messageIds").as_array();
  if (ids.empty()) {
    throw std::runtime_error("PubSubEmulator: publish returned no message id");
  }
  return std::string(ids.at(0).as_string());
}

std::vector<PubSubMessage> PubSubEmulator::pull(std::string_view project,
                                                std::string_view subscription, int max_messages) {
  const json::object body{{"maxMessages", max_messages}, {"returnImmediately", true}};
  const auto reply = checked("POST", path_of(project, "subscriptions", subscription) + ":pull",
                             json::serialize(body));
  std::vector<PubSubMessage> out;
  const auto parsed = json::parse(reply.body);
  const auto* received = parsed.as_object().if_contains("receivedMessages");
  if (received == nullptr) {
    return out;
  }
  for (const auto& item : received->as_array()) {
    const auto& obj = item.as_object();
    const auto& msg = obj.at("message").as_object();
    PubSubMessage m;
    m.ack_id = string_field(obj, "ackId");
    m.data = base64_decode(string_field(msg, "data"));
    m.message_id = string_field(msg, "messageId");
    m.ordering_key = string_field(msg, "orderingKey");
    if (const auto* attrs = msg.if_contains("attributes"); attrs != nullptr && attrs->is_object()) {
      for (const auto& [k, v] : attrs->as_object()) {
        m.attributes[std::string(k)] = v.is_string() ? std::string(v.get_string()) : "";
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

void PubSubEmulator::acknowledge(std::string_view project, std::string_view subscription,
                                 const std::vector<std::string>& ack_ids) {
  if (ack_ids.empty()) {
    return;
  }
  json::array ids;
  for (const auto& id : ack_ids) {
    ids.emplace_back(id);
  }
  const json::object body{{"ackIds", std::move(ids)}};
  checked("POST", path_of(project, "subscriptions", subscription) + ":acknowledge",
          json::serialize(body));
}

std::vector<PubSubMessage> PubSubEmulator::pull_all(std::string_view project,
                                                    std::string_view subscription,
                                                    std::size_t expected_count,
                                                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<PubSubMessage> out;
  while (out.size() < expected_count) {
    auto batch = pull(project, subscription, 1000);
    std::vector<std::string> ack_ids;
    for (auto& m : batch) {
      ack_ids.push_back(m.ack_id);
      out.push_back(std::move(m));
    }
    acknowledge(project, subscription, ack_ids);
    if (out.size() >= expected_count || std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    if (batch.empty()) {
      std::this_thread::sleep_for(100ms);
    }
  }
  return out;
}

}  // namespace pos::test
