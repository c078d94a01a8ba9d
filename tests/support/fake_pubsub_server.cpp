#include "support/fake_pubsub_server.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace pos::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

std::string fake_status_name(unsigned status) {
  switch (status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 503:
      return "UNAVAILABLE";
    default:
      return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
  }
}

std::string fake_error_body(unsigned status, const std::string& message) {
  json::object error{{"code", status}, {"message", message}, {"status", fake_status_name(status)}};
  return json::serialize(json::object{{"error", std::move(error)}});
}

std::string fake_form_field(std::string_view body, std::string_view name) {
  const std::string prefix = std::string(name) + "=";
  std::size_t start = 0;
  while (start <= body.size()) {
    const auto end = std::min(body.find('&', start), body.size());
    const auto part = body.substr(start, end - start);
    if (part.starts_with(prefix)) {
      std::string out;
      const auto value = part.substr(prefix.size());
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '%' && i + 2 < value.size()) {
          out += static_cast<char>(std::stoi(std::string(value.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          out += value[i];
        }
      }
      return out;
    }
    start = end + 1;
  }
  return {};
}

// What the fake does with one request.
struct FakeAnswer {
  unsigned status = 200;  // 0: close without an answer
  std::string body;
  std::chrono::milliseconds delay{0};
};

}  // namespace

struct FakePubSubServer::State {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  mutable std::mutex mutex;
  std::vector<FakeRule> rules;
  std::vector<FakePublish> publishes;
  std::set<std::string> valid_tokens;
  bool tokens_required = false;
  int tokens_issued = 0;
  std::uint64_t next_message_id = 1;

  FakeAnswer token_answer() {
    std::lock_guard lock(mutex);
    const std::string token = "fake-token-" + std::to_string(++tokens_issued);
    valid_tokens.insert(token);
    return {200,
            json::serialize(json::object{
                {"access_token", token}, {"expires_in", 3600}, {"token_type", "Bearer"}}),
            {}};
  }

  FakeAnswer publish(const http::request<http::string_body>& request) {
    const std::string target(request.target());
    FakePublish received;
    received.at = std::chrono::steady_clock::now();
    const auto topics = target.find("/topics/");
    received.topic = target.substr(topics + 8, target.size() - topics - 8 - 8);
    received.authorization = std::string(request[http::field::authorization]);
    boost::system::error_code ec;
    const json::value body = json::parse(request.body(), ec);
    if (ec || !body.is_object() || !body.as_object().contains("messages")) {
      return {400, fake_error_body(400, "fake: not a publish request"), {}};
    }
    for (const auto& item : body.at("messages").as_array()) {
      const auto& object = item.as_object();
      PubSubMessage message;
      if (const auto* data = object.if_contains("data")) {
        message.data = base64_decode(data->as_string());
      }
      if (const auto* key = object.if_contains("orderingKey")) {
        message.ordering_key = std::string(key->as_string());
      }
      if (const auto* attributes = object.if_contains("attributes")) {
        for (const auto& [name, value] : attributes->as_object()) {
          message.attributes[std::string(name)] = std::string(value.as_string());
        }
      }
      received.messages.push_back(std::move(message));
    }
    const std::string key =
        received.messages.empty() ? std::string() : received.messages.front().ordering_key;

    std::lock_guard lock(mutex);
    FakeAnswer answer;
    const std::string authorization = received.authorization;
    if (tokens_required &&
        !(authorization.starts_with("Bearer ") && valid_tokens.contains(authorization.substr(7)))) {
      answer = {401, fake_error_body(401, "Request had invalid authentication credentials."), {}};
    } else {
      for (auto& rule : rules) {
        if (rule.times == 0 || (!rule.topic.empty() && rule.topic != received.topic) ||
            (!rule.ordering_key.empty() && rule.ordering_key != key)) {
          continue;
        }
        if (rule.times > 0) {
          --rule.times;
        }
        answer.status = rule.status;
        answer.delay = rule.delay;
        answer.body =
            rule.body.empty() && rule.status != 200 && rule.status != 0
                ? fake_error_body(rule.status, "fake: scripted " + std::to_string(rule.status))
                : rule.body;
        break;
      }
    }
    if (answer.status == 200 && answer.body.empty()) {
      json::array ids;
      for (auto& message : received.messages) {
        message.message_id = std::to_string(next_message_id++);
        ids.emplace_back(message.message_id);
      }
      answer.body = json::serialize(json::object{{"messageIds", std::move(ids)}});
    }
    received.status = answer.status;
    publishes.push_back(std::move(received));
    return answer;
  }

  FakeAnswer answer(const http::request<http::string_body>& request) {
    const std::string target(request.target());
    if (request.method() == http::verb::post && target == "/token") {
      if (fake_form_field(request.body(), "grant_type") !=
              "urn:ietf:params:oauth:grant-type:jwt-bearer" ||
          fake_form_field(request.body(), "assertion").empty()) {
        return {400, R"({"error":"invalid_grant","error_description":"fake: bad form"})", {}};
      }
      return token_answer();
    }
    if (request.method() == http::verb::get &&
        target == "/computeMetadata/v1/instance/service-accounts/default/token" &&
        request["Metadata-Flavor"] == "Google") {
      return token_answer();
    }
    if (request.method() == http::verb::post && target.starts_with("/v1/projects/") &&
        target.find("/topics/") != std::string::npos && target.ends_with(":publish")) {
      return publish(request);
    }
    return {404, fake_error_body(404, "fake: no such path " + target), {}};
  }
};

namespace {

class FakeSession : public std::enable_shared_from_this<FakeSession> {
 public:
  FakeSession(tcp::socket socket, std::shared_ptr<FakePubSubServer::State> state)
      : m_stream(std::move(socket)), m_timer(m_stream.get_executor()), m_state(std::move(state)) {}

  void read() {
    m_request = {};
    http::async_read(m_stream, m_buffer, m_request,
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) {
                         return self->close();
                       }
                       self->answer(self->m_state->answer(self->m_request));
                     });
  }

 private:
  void answer(FakeAnswer answer) {
    if (answer.delay.count() > 0) {
      m_timer.expires_after(answer.delay);
      m_timer.async_wait([self = shared_from_this(), answer](boost::system::error_code ec) mutable {
        if (!ec) {
          answer.delay = {};
          self->answer(std::move(answer));
        }
      });
      return;
    }
    if (answer.status == 0) {
      return close();
    }
    m_response = {};
    m_response.version(11);
    m_response.result(answer.status);
    m_response.set(http::field::content_type, "application/json");
    m_response.body() = std::move(answer.body);
    m_response.keep_alive(m_request.keep_alive());
    m_response.prepare_payload();
    http::async_write(m_stream, m_response,
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (ec || !self->m_response.keep_alive()) {
                          return self->close();
                        }
                        self->read();
                      });
  }

  void close() {
    boost::system::error_code ignored;
    m_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    m_stream.socket().close(ignored);
  }

  beast::tcp_stream m_stream;
  asio::steady_timer m_timer;
  std::shared_ptr<FakePubSubServer::State> m_state;
  beast::flat_buffer m_buffer;
  http::request<http::string_body> m_request;
  http::response<http::string_body> m_response;
};

void fake_accept(const std::shared_ptr<FakePubSubServer::State>& state) {
  state->acceptor.async_accept([state](boost::system::error_code ec, tcp::socket socket) {
    if (ec) {
      return;
    }
    std::make_shared<FakeSession>(std::move(socket), state)->read();
    fake_accept(state);
  });
}

}  // namespace

FakePubSubServer::FakePubSubServer() : m_state(std::make_shared<State>()) {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  m_state->acceptor.open(endpoint.protocol());
  m_state->acceptor.set_option(tcp::acceptor::reuse_address(true));
  m_state->acceptor.bind(endpoint);
  m_state->acceptor.listen();
  fake_accept(m_state);
  m_state->thread = std::thread([state = m_state] { state->io.run(); });
}

FakePubSubServer::~FakePubSubServer() {
  m_state->io.stop();
  m_state->thread.join();
}

std::uint16_t FakePubSubServer::port() const noexcept {
  return m_state->acceptor.local_endpoint().port();
}

std::string FakePubSubServer::host_port() const {
  return "127.0.0.1:" + std::to_string(port());
}

std::string FakePubSubServer::url() const {
  return "http://" + host_port();
}

std::string FakePubSubServer::token_uri() const {
  return url() + "/token";
}

void FakePubSubServer::add_rule(FakeRule rule) {
  std::lock_guard lock(m_state->mutex);
  m_state->rules.push_back(std::move(rule));
}

void FakePubSubServer::require_tokens(bool on) {
  std::lock_guard lock(m_state->mutex);
  m_state->tokens_required = on;
}

void FakePubSubServer::revoke_tokens() {
  std::lock_guard lock(m_state->mutex);
  m_state->valid_tokens.clear();
}

std::vector<FakePublish> FakePubSubServer::publishes() const {
  std::lock_guard lock(m_state->mutex);
  return m_state->publishes;
}

std::vector<PubSubMessage> FakePubSubServer::accepted(const std::string& topic) const {
  std::lock_guard lock(m_state->mutex);
  std::vector<PubSubMessage> out;
  for (const auto& publish : m_state->publishes) {
    if (publish.topic == topic && publish.status == 200) {
      out.insert(out.end(), publish.messages.begin(), publish.messages.end());
    }
  }
  return out;
}

int FakePubSubServer::tokens_issued() const {
  std::lock_guard lock(m_state->mutex);
  return m_state->tokens_issued;
}

void write_service_account_key(const std::filesystem::path& path, const std::string& token_uri) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), &EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!key || !bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("write_service_account_key: cannot make an RSA key");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  const json::object file{{"type", "service_account"},
                          {"project_id", "test-project"},
                          {"private_key_id", "fake-key-1"},
                          {"private_key", std::string(data, static_cast<std::size_t>(size))},
                          {"client_email", "collector@test-project.iam.gserviceaccount.com"},
                          {"token_uri", token_uri}};
  {
    std::ofstream out(path);
    out << json::serialize(file);
    if (!out) {
      throw std::runtime_error("write_service_account_key: cannot write " + path.string());
    }
  }
  ::chmod(path.c_str(), 0600);
}

}  // namespace pos::test
