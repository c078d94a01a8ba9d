// A scripted fake of the Pub/Sub REST API (projects.topics.publish) and of Google's OAuth2 token
// endpoint, on a free loopback port, for the paths the real emulator never takes: 401, 429, 5xx,
// permanent errors for one ordering key, answers that never come, connections closed mid-request.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/pubsub_emulator.hpp"

namespace pos::test {

// One scripted answer to :publish requests. A request is matched against the rules in the order
// they were added; the first that matches and has answers left answers it (and counts down).
// Requests no rule takes are accepted: 200 with one message id per message.
struct FakeRule {
  std::string topic;         // topic id ("events-1"); empty: any topic
  std::string ordering_key;  // of the request's first message; empty: any key
  // HTTP status; 0: close the connection without an answer. 200 accepts the messages as usual.
  unsigned status = 503;
  std::string body;  // empty: a Pub/Sub-style error {"error":{"code","message","status"}}
  std::chrono::milliseconds delay{0};  // wait before answering (or closing)
  int times = 1;                       // answers left; -1: every matching request, forever

  FakeRule& for_key(std::string key) {
    ordering_key = std::move(key);
    return *this;
  }
  FakeRule& with_body(std::string text) {
    body = std::move(text);
    return *this;
  }
  FakeRule& after(std::chrono::milliseconds wait) {
    delay = wait;
    return *this;
  }
};

// A rule answering `status` to the next `times` matching requests (-1: forever).
inline FakeRule answer(unsigned status, int times = 1) {
  FakeRule rule;
  rule.status = status;
  rule.times = times;
  return rule;
}

// One :publish request as the fake received it, with what it answered.
struct FakePublish {
  std::string topic;                         // topic id from the target
  std::string authorization;                 // the Authorization header, "" when absent
  std::vector<PubSubMessage> messages;       // data decoded; message_id set when accepted
  unsigned status = 0;                       // answered status; 0: closed without an answer
  std::chrono::steady_clock::time_point at;  // when the request had been read
};

// Serves on 127.0.0.1 from its own thread:
// - POST /v1/projects/{project}/topics/{topic}:publish: scripted by FakeRule, else accepted.
//   With tokens required (require_tokens), a request without "Bearer <a token this fake issued
//   and has not revoked>" gets 401 before any rule is tried.
// - POST /token (form grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...):
//   {"access_token":"fake-token-N","expires_in":3600}; any other grant_type gets 400.
// - GET /computeMetadata/v1/instance/service-accounts/default/token with Metadata-Flavor: Google:
//   the same token answer (the metadata server).
// Anything else gets 404. Every member is thread-safe. The constructor throws std::runtime_error
// when it cannot listen; the destructor stops the thread and closes every connection.
class FakePubSubServer {
 public:
  FakePubSubServer();
  ~FakePubSubServer();
  FakePubSubServer(const FakePubSubServer&) = delete;
  FakePubSubServer& operator=(const FakePubSubServer&) = delete;

  std::uint16_t port() const noexcept;
  // "127.0.0.1:PORT" (for PubSubConfig::emulator_host) and "http://127.0.0.1:PORT" (endpoint).
  std::string host_port() const;
  std::string url() const;
  // url() + "/token", for a service-account key's token_uri.
  std::string token_uri() const;

  void add_rule(FakeRule rule);
  void require_tokens(bool on);
  // Tokens issued so far are refused (401) from now on; new ones are accepted.
  void revoke_tokens();

  std::vector<FakePublish> publishes() const;
  // Messages answered with 200 for `topic`, in the order they were accepted.
  std::vector<PubSubMessage> accepted(const std::string& topic) const;
  // Token requests answered with a token, from /token and the metadata path together.
  int tokens_issued() const;

  struct State;

 private:
  std::shared_ptr<State> m_state;
};

// Writes a service-account key file (a new 2048-bit RSA key) with this token_uri, mode 0600.
// Throws std::runtime_error on failure.
void write_service_account_key(const std::filesystem::path& path, const std::string& token_uri);

}  // namespace pos::test
