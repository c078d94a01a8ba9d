// Google's Pub/Sub emulator on a free loopback port, with a small synchronous REST client.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace pos::test {

struct PubSubMessage {
  std::string data;  // base64-decoded
  std::map<std::string, std::string> attributes;
  std::string ordering_key;
  std::string message_id;
  std::string ack_id;
};

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

inline constexpr const char* pubsub_emulator_path =
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator";

// Starts the emulator (a Java program, in its own process group; log in a temp dir) on
// 127.0.0.1:free port. The constructor returns when GET /v1/projects/test-project/topics
// answers; it throws std::runtime_error (with the log) when the emulator is missing, exits, or
// does not answer within 60 s. The emulator keeps its state in memory: a restart() loses every
// topic, subscription and message. Topic and subscription names need >= 3 characters.
// REST calls throw std::runtime_error on a transport error or a non-2xx answer (with the body).
// Not thread-safe. The destructor kills the whole process group.
class PubSubEmulator {
 public:
  PubSubEmulator();
  ~PubSubEmulator();
  PubSubEmulator(const PubSubEmulator&) = delete;
  PubSubEmulator& operator=(const PubSubEmulator&) = delete;

  // SIGTERM to the group (SIGKILL after the deadline); returns when no process of the group is
  // left. No-op when stopped.
  void stop(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  void kill9();
  // Starts again on the same port (empty state); no-op when running.
  void start();
  void restart() {
    stop();
    start();
  }
  bool running();
  // Process (group) id of the emulator's Java process, -1 when stopped.
  pid_t pid() const;

  std::uint16_t port() const noexcept { return m_port; }
  // "127.0.0.1:PORT", the value for PUBSUB_EMULATOR_HOST.
  std::string host_port() const;
  const std::filesystem::path& log_path() const noexcept { return m_log_path; }

  void create_topic(std::string_view project, std::string_view topic);
  void create_subscription(std::string_view project, std::string_view subscription,
                           std::string_view topic, bool ordering = true);
  // Returns the message id.
  std::string publish(std::string_view project, std::string_view topic, std::string_view data,
                      const std::map<std::string, std::string>& attributes = {},
                      std::string_view ordering_key = {});
  // One pull with returnImmediately: up to max_messages, possibly none.
  std::vector<PubSubMessage> pull(std::string_view project, std::string_view subscription,
                                  int max_messages = 100);
  void acknowledge(std::string_view project, std::string_view subscription,
                   const std::vector<std::string>& ack_ids);
  // Pulls and acknowledges until expected_count messages arrived or the timeout; returns them
  // in delivery order (may be fewer, or more when more were waiting).
  std::vector<PubSubMessage> pull_all(std::string_view project, std::string_view subscription,
                                      std::size_t expected_count,
                                      std::chrono::milliseconds timeout);

  // One HTTP/1.1 request to the emulator (JSON body); any status is returned.
  HttpReply request(std::string_view method, std::string_view target, std::string_view body);

 private:
  HttpReply checked(std::string_view method, const std::string& target, const std::string& body);

  TempDir m_dir;
  std::uint16_t m_port = 0;
  std::filesystem::path m_log_path;
  std::unique_ptr<ChildProcess> m_process;
};

// Standard base64 (with padding). decode throws std::runtime_error on invalid input.
std::string base64_encode(std::string_view in);
std::string base64_decode(std::string_view in);

}  // namespace pos::test
