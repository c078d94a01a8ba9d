#include "agent_harness.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "pos/protocol/batch.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::test {

namespace beast = boost::beast;
namespace http = beast::http;

HttpAnswer http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& content_type, const std::string& body,
                        std::chrono::milliseconds timeout,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpAnswer reply;
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    beast::error_code ec;
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port),
                   ec);
    if (ec) {
      return reply;
    }
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) {
      request.set(http::field::content_type, content_type);
    }
    for (const auto& [name, value] : headers) {
      request.set(name, value);
    }
    request.body() = body;
    request.prepare_payload();
    // A server may answer (413) and close before the whole body is written: read the answer even
    // when the write failed.
    http::write(stream, request, ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(method == "HEAD");
    http::read(stream, buffer, parser, ec);
    if (ec) {
      return reply;
    }
    const auto& response = parser.get();
    reply.status = response.result_int();
    reply.body = response.body();
    for (const auto& field : response) {
      reply.headers[std::string(field.name_string())] = std::string(field.value());
    }
  } catch (const std::exception&) {
    reply.status = 0;
  }
  return reply;
}

std::string sale_event(const std::string& pos_event_id, const std::string& store,
                       const std::string& till, int lines) {
  std::ostringstream out;
  out << R"({"type":"sale","pos_event_id":")" << pos_event_id
      << R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",)"
      << R"("customer":{"id":"C-1029","type":"returning"},"lines":[)";
  for (int i = 0; i < lines; ++i) {
    out << (i ? "," : "") << R"({"sku":"TOP-)" << 1000 + i
        << R"(-M-BLK","category":"tops","qty":1,"unit_price_minor":199000,)"
        << R"("unit_cost_minor":80000,"discount_minor":0})";
  }
  out << R"(],"payment":{"method":"qris"},"store_id":")" << store << R"(","till_id":")" << till
      << R"("})";
  return out.str();
}

void expect_same_startup_error(const std::string& binary, const std::filesystem::path& config,
                               const std::string& fragment) {
  const std::string program = std::filesystem::path(binary).filename().string();
  std::string message;
  for (const std::string command : {"check-config", "run"}) {
    const auto log = config.string() + "." + command + ".log";
    ChildProcess process({binary, command, "--config", config.string()}, log);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (process.running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const bool exited = !process.running();
    const int code = exited ? process.wait() : process.terminate();
    const auto output = read_text_file(log);
    EXPECT_TRUE(exited) << command << " " << config << " kept running:\n" << output;
    EXPECT_EQ(code, 2) << command << " " << config << ":\n" << output;
    if (command == "check-config") {
      const auto prefix = output.find(program + ": ");
      if (prefix == std::string::npos) {
        ADD_FAILURE() << "check-config " << config << " printed no error:\n" << output;
        continue;
      }
      const auto start = prefix + program.size() + 2;
      message = output.substr(start, output.find('\n', start) - start);
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "check-config " << config << " does not name " << fragment << ":\n"
          << output;
    } else if (!message.empty()) {
      EXPECT_NE(output.find(message), std::string::npos)
          << "run " << config << " does not say what check-config said (" << message << "):\n"
          << output;
    }
  }
}

std::string toml_uri_value(const std::string& uri) {
  return uri.starts_with("[") ? uri : "\"" + uri + "\"";
}

std::string toml_uri_array(const std::vector<std::string>& uris) {
  std::string out = "[";
  for (const auto& uri : uris) {
    out += (out.size() > 1 ? ", \"" : "\"") + uri + "\"";
  }
  return out + "]";
}

AgentProcess::AgentProcess(std::filesystem::path dir, TestPki& pki, std::string broker_uri,
                           std::string store, std::string till, std::string extra_forward_toml,
                           std::string extra_top_toml, std::string extra_mqtt_toml,
                           std::filesystem::path data_dir, std::string extra_ingest_toml)
    : m_dir(std::move(dir)),
      m_data_dir(data_dir.empty() ? m_dir / "data" : std::move(data_dir)),
      m_config(m_dir / "posagent.toml"),
      m_port(free_tcp_port()) {
  std::filesystem::create_directories(m_dir);
  const auto cert = pki.issue_client(till_common_name(store, till));
  std::ofstream out(m_config);
  out << "store_id = \"" << store << "\"\ntill_id = \"" << till << "\"\ndata_dir = \""
      << m_data_dir.string() << "\"\nlog_level = \"debug\"\n"
      << extra_top_toml << "\n[ingest]\nlisten = \"127.0.0.1:" << m_port << "\"\n"
      << extra_ingest_toml << "\n[mqtt]\nuri = " << toml_uri_value(broker_uri) << "\nca_file = \""
      << pki.ca_cert().string() << "\"\ncert_file = \"" << cert.cert.string() << "\"\nkey_file = \""
      << cert.key.string() << "\"\n"
      << extra_mqtt_toml << "\n[forward]\nreconnect_initial_ms = 100\nreconnect_max_ms = 1000\n"
      << "ack_timeout_ms = 2000\nheartbeat_s = 5\n"
      << extra_forward_toml << "\n[shutdown]\ndrain_timeout_ms = 1000\n";
}

AgentProcess::~AgentProcess() = default;

void AgentProcess::start(std::chrono::milliseconds timeout) {
  ++m_runs;
  m_process.emplace(std::vector<std::string>{POSAGENT_BIN, "run", "--config", m_config.string()},
                    m_dir / "posagent.log");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!m_process->running()) {
      throw std::runtime_error("posagent exited at start; log:\n" + log());
    }
    if (http_request(m_port, "GET", "/healthz", "", "", std::chrono::milliseconds(500)).status ==
        200) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("posagent not healthy in time; log:\n" + log());
}

int AgentProcess::kill9() {
  return m_process ? m_process->kill9() : 0;
}

int AgentProcess::terminate(std::chrono::milliseconds deadline) {
  return m_process ? m_process->terminate(deadline) : 0;
}

bool AgentProcess::running() {
  return m_process && m_process->running();
}

std::string AgentProcess::log() const {
  return read_text_file(m_dir / "posagent.log");
}

AckingCollector::AckingCollector(const MosquittoBroker& broker, TestPki& pki, std::string prefix)
    : m_prefix(std::move(prefix)),
      m_client(TestMqttClientOptions{broker.uri(), "acking-collector", pki.ca_cert(),
                                     pki.issue_client(collector_common_name)}) {
  m_client.connect();
  m_client.subscribe(m_prefix + "/+/+/batch", 1);
  m_thread = std::thread([this] { loop(); });
}

AckingCollector::AckingCollector(const MosquittoBroker& broker,
                                 const std::filesystem::path& ca_file, CertKey collector_cert,
                                 std::string prefix)
    : m_prefix(std::move(prefix)),
      m_client(TestMqttClientOptions{broker.uri(), "acking-collector", ca_file,
                                     std::move(collector_cert)}) {
  m_client.connect();
  m_client.subscribe(m_prefix + "/+/+/batch", 1);
  m_thread = std::thread([this] { loop(); });
}

AckingCollector::~AckingCollector() {
  m_stop = true;
  m_thread.join();
  m_client.disconnect();
}

void AckingCollector::loop() {
  while (!m_stop) {
    for (const auto& message :
         m_client.wait_for_messages(m_prefix + "/+/+/batch", 1, std::chrono::milliseconds(50))) {
      handle(message);
    }
  }
}

void AckingCollector::handle(const MqttMessage& message) {
  auto topic = protocol::parse_topic(m_prefix, message.topic);
  if (!topic) {
    return;
  }
  protocol::BatchDecoder decoder;
  auto batch = decoder.decode(message.payload);
  if (!batch) {
    return;
  }
  const auto& header = batch->header;
  const std::string key = topic->store_id + "/" + topic->till_id;
  std::uint64_t mark = 0;
  {
    std::lock_guard lock(m_mutex);
    auto& till = m_tills[key];
    const std::string epoch = protocol::format_epoch(header.epoch);
    if (till.epoch != epoch) {
      till = ReceivedTill{};
      till.epoch = epoch;
    }
    ++till.batches;
    if (header.first_seq > till.mark + 1) {
      ++till.gaps;
      return;
    }
    for (std::uint32_t i = 0; i < header.count; ++i) {
      const std::uint64_t seq = header.first_seq + i;
      if (seq <= till.mark) {
        ++till.duplicates;
        continue;
      }
      till.lines[seq] = std::string(batch->lines[i]);
      till.mark = seq;
    }
    mark = till.mark;
  }
  if (m_acking) {
    m_client.publish(m_prefix + "/" + key + "/ack", protocol::encode_ack({header.epoch, mark}), 1,
                     false);
  }
}

::testing::AssertionResult AckingCollector::wait_for_mark(const std::string& store,
                                                          const std::string& till,
                                                          std::uint64_t seq,
                                                          std::chrono::milliseconds timeout) {
  auto reached = wait_until([&] { return this->till(store, till).mark >= seq; }, timeout,
                            store + "/" + till + " mark " + std::to_string(seq),
                            std::chrono::milliseconds(20));
  if (!reached) {
    reached << " (mark " << this->till(store, till).mark << ")";
  }
  return reached;
}

ReceivedTill AckingCollector::till(const std::string& store, const std::string& till) const {
  std::lock_guard lock(m_mutex);
  auto it = m_tills.find(store + "/" + till);
  return it == m_tills.end() ? ReceivedTill{} : it->second;
}

}  // namespace pos::test
