#include "collector_harness.hpp"

#include <fstream>
#include <stdexcept>
#include <thread>

#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/messages.hpp"

namespace pos::test {

void create_pubsub_resources(PubSubEmulator& emulator) {
  emulator.create_topic(test_project, events_topic);
  emulator.create_topic(test_project, dlq_topic);
  emulator.create_subscription(test_project, events_sub, events_topic, true);
  emulator.create_subscription(test_project, dlq_sub, dlq_topic, true);
}

CollectorProcess::CollectorProcess(std::filesystem::path dir, TestPki& pki, std::string broker_uri,
                                   std::string emulator_host_port, std::filesystem::path data_dir,
                                   std::string collector_id, std::string extra_toml)
    : m_dir(std::move(dir)),
      m_config(m_dir / "poscollector.toml"),
      m_emulator(std::move(emulator_host_port)),
      m_port(free_tcp_port()) {
  std::filesystem::create_directories(m_dir);
  // The production broker config makes the certificate's CN the client id: one per collector.
  const auto cert = pki.issue_client(collector_id);
  std::ofstream out(m_config);
  out << "collector_id = \"" << collector_id << "\"\ndata_dir = \""
      << (data_dir.empty() ? m_dir / "data" : data_dir).string() << "\"\n"
      << "[mqtt]\nuri = " << toml_uri_value(broker_uri) << "\ntopic_prefix = \"pos/v1\"\n"
      << "share_group = \"pos-collectors\"\nca_file = \"" << pki.ca_cert().string()
      << "\"\ncert_file = \"" << cert.cert.string() << "\"\nkey_file = \"" << cert.key.string()
      << "\"\n[sink]\ntype = \"pubsub\"\nproject = \"" << test_project << "\"\ntopic = \""
      << events_topic << "\"\ndead_letter_topic = \"" << dlq_topic << "\"\nordering = true\n"
      << "[http]\nlisten = \"127.0.0.1:" << m_port << "\"\n"
      << extra_toml;
}

ChildProcess start_collector(const std::filesystem::path& config, const std::filesystem::path& log,
                             std::uint16_t port, std::map<std::string, std::string> env,
                             std::chrono::milliseconds timeout) {
  ChildProcess process(
      std::vector<std::string>{POSCOLLECTOR_BIN, "run", "--config", config.string()}, log,
      std::move(env));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process.running()) {
      throw std::runtime_error("poscollector exited at start; log:\n" + read_text_file(log));
    }
    if (http_request(port, "GET", "/readyz", "", "", std::chrono::milliseconds(500)).status ==
        200) {
      return process;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("poscollector not ready in time; log:\n" + read_text_file(log));
}

void CollectorProcess::start(std::chrono::milliseconds timeout) {
  m_process.reset();
  m_process.emplace(start_collector(m_config, m_dir / "poscollector.log", m_port,
                                    {{"PUBSUB_EMULATOR_HOST", m_emulator}}, timeout));
}

int CollectorProcess::kill9() {
  return m_process ? m_process->kill9() : 0;
}
int CollectorProcess::terminate(std::chrono::milliseconds deadline) {
  return m_process ? m_process->terminate(deadline) : 0;
}
bool CollectorProcess::running() {
  return m_process && m_process->running();
}
std::string CollectorProcess::log() const {
  return read_text_file(m_dir / "poscollector.log");
}

std::vector<std::string> stamped_lines(const std::string& store, const std::string& till,
                                       std::uint64_t epoch, std::uint64_t first_seq,
                                       std::uint32_t count, const std::string& id_prefix) {
  std::vector<std::string> lines;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t seq = first_seq + i;
    auto event = protocol::parse_pos_event(
        sale_event(id_prefix + "-" + store + "-" + till + "-" + std::to_string(seq), store, till));
    if (!event) {
      throw std::runtime_error("stamped_lines: " + event.error().message);
    }
    lines.push_back(
        protocol::make_payload_line(*event, {store, till, epoch, seq, "2026-11-22T03:00:00.000Z"}));
  }
  return lines;
}

FakeTill::FakeTill(const MosquittoBroker& broker, TestPki& pki, std::string store, std::string till)
    : m_store(std::move(store)),
      m_till(std::move(till)),
      m_client(TestMqttClientOptions{broker.uri(), "faketill-" + m_store + "-" + m_till,
                                     pki.ca_cert(),
                                     pki.issue_client(till_common_name(m_store, m_till))}) {
  m_client.connect();
  m_client.subscribe("pos/v1/" + m_store + "/" + m_till + "/ack", 1);
}

void FakeTill::send(std::uint64_t epoch, std::uint64_t first_seq, std::uint32_t count,
                    const std::string& id_prefix) {
  const auto lines = stamped_lines(m_store, m_till, epoch, first_seq, count, id_prefix);
  protocol::BatchEncoder encoder;
  auto batch = encoder.encode(epoch, first_seq, lines);
  if (!batch) {
    throw std::runtime_error("FakeTill::send: " + batch.error().message);
  }
  send_raw(*batch);
}

void FakeTill::send_raw(const std::string& payload) {
  const int rc = m_client.publish("pos/v1/" + m_store + "/" + m_till + "/batch", payload, 1);
  if (rc != 0) {
    throw std::runtime_error("FakeTill: publish refused, reason " + std::to_string(rc));
  }
}

void FakeTill::send_status(const std::string& json) {
  const int rc = m_client.publish("pos/v1/" + m_store + "/" + m_till + "/status", json, 1, true);
  if (rc != 0) {
    throw std::runtime_error("FakeTill: status refused, reason " + std::to_string(rc));
  }
}

std::uint64_t FakeTill::wait_ack(std::uint64_t epoch, std::uint64_t at_least,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    for (const auto& message :
         m_client.wait_for_messages("pos/v1/+/+/ack", 1, std::chrono::milliseconds(100))) {
      if (auto ack = protocol::parse_ack(message.payload)) {
        auto& mark = m_acked[ack->epoch];
        mark = std::max(mark, ack->through_seq);
      }
    }
    if (m_acked[epoch] >= at_least) {
      break;
    }
  } while (std::chrono::steady_clock::now() < deadline);
  return m_acked[epoch];
}

std::vector<std::string> FakeTill::take_acks(std::chrono::milliseconds wait) {
  std::vector<std::string> out;
  for (const auto& message : m_client.wait_for_messages("pos/v1/+/+/ack", 1000000, wait)) {
    out.push_back(message.payload);
    if (auto ack = protocol::parse_ack(message.payload)) {
      auto& mark = m_acked[ack->epoch];
      mark = std::max(mark, ack->through_seq);
    }
  }
  return out;
}

}  // namespace pos::test
