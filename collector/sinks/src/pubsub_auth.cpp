#include "pubsub_auth.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <climits>
#include <ctime>
#include <optional>

#include "pos/common/openssl_handles.hpp"
#include "pubsub_batching.hpp"

namespace pos::collector::detail {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

using BioPtr = common::ossl::Bio;
using PkeyPtr = common::ossl::Pkey;
using MdCtxPtr = common::ossl::MdCtx;

std::string openssl_error(std::string_view what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return std::string(what);
  }
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return std::string(what) + ": " + buffer;
}

std::string text_or_empty(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

std::string url_encode(std::string_view in) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

std::string truncated(std::string_view text, std::size_t max = 300) {
  return text.size() > max ? std::string(text.substr(0, max)) + "..." : std::string(text);
}

class NoAuth final : public TokenSource {
 public:
  explicit NoAuth(asio::any_io_executor executor) : m_executor(std::move(executor)) {}
  void authorization(Done done) override {
    asio::post(m_executor, [done = std::move(done)] { done(std::string()); });
  }
  void invalidate() override {}
  void shutdown() override {}

 private:
  asio::any_io_executor m_executor;
};

// Caches one token; fetch() gets a new one from the endpoint.
class CachingTokenSource : public TokenSource,
                           public std::enable_shared_from_this<CachingTokenSource> {
 public:
  CachingTokenSource(asio::any_io_executor executor, std::shared_ptr<HttpClient> client,
                     std::chrono::seconds refresh_margin)
      : m_executor(std::move(executor)),
        m_client(std::move(client)),
        m_refresh_margin(refresh_margin) {}

  void authorization(Done done) override {
    if (m_token && std::chrono::steady_clock::now() + m_refresh_margin < m_expires_at) {
      asio::post(m_executor,
                 [done = std::move(done), value = "Bearer " + *m_token] { done(value); });
      return;
    }
    m_waiters.push_back(std::move(done));
    if (m_waiters.size() > 1) {
      return;
    }
    const auto requested_at = std::chrono::steady_clock::now();
    auto call = make_call();
    if (!call) {
      return complete(fail(call.error()));
    }
    m_client->request(std::move(*call),
                      [weak = weak_from_this(), requested_at](Result<HttpReply> reply) {
                        if (auto self = weak.lock()) {
                          self->fetched(std::move(reply), requested_at);
                        }
                      });
  }

  void invalidate() override { m_token.reset(); }
  void shutdown() override {
    m_client->shutdown();
    m_waiters.clear();
  }

 protected:
  virtual Result<HttpCall> make_call() = 0;
  virtual std::string what() const = 0;

 private:
  void fetched(Result<HttpReply> reply, std::chrono::steady_clock::time_point requested_at) {
    if (!reply) {
      return complete(fail(what() + ": " + reply.error().message));
    }
    if (reply->status != 200) {
      return complete(
          fail(what() + ": HTTP " + std::to_string(reply->status) + ": " + truncated(reply->body)));
    }
    auto token = parse_token_response(reply->body);
    if (!token) {
      return complete(fail(what() + ": " + token.error().message));
    }
    m_token = token->token;
    m_expires_at = requested_at + token->expires_in;
    complete(std::string("Bearer ") + token->token);
  }

  void complete(const Result<std::string>& result) {
    auto waiters = std::move(m_waiters);
    m_waiters.clear();
    for (auto& done : waiters) {
      asio::post(m_executor, [done = std::move(done), result] { done(result); });
    }
  }

  asio::any_io_executor m_executor;
  std::shared_ptr<HttpClient> m_client;
  std::chrono::seconds m_refresh_margin;
  std::optional<std::string> m_token;
  std::chrono::steady_clock::time_point m_expires_at{};
  std::vector<Done> m_waiters;
};

class ServiceAccountAuth final : public CachingTokenSource {
 public:
  ServiceAccountAuth(asio::any_io_executor executor, std::shared_ptr<HttpClient> client,
                     std::chrono::seconds margin, ServiceAccountKey key, std::string target)
      : CachingTokenSource(std::move(executor), std::move(client), margin),
        m_key(std::move(key)),
        m_target(std::move(target)) {}

 protected:
  Result<HttpCall> make_call() override {
    auto assertion = build_jwt_assertion(m_key, static_cast<std::int64_t>(std::time(nullptr)));
    if (!assertion) {
      return fail(what() + ": " + assertion.error().message);
    }
    HttpCall call;
    call.target = m_target;
    call.content_type = "application/x-www-form-urlencoded";
    call.body = "grant_type=" + url_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                "&assertion=" + url_encode(*assertion);
    return call;
  }
  std::string what() const override {
    return "token exchange for " + m_key.client_email + " at " + m_key.token_uri;
  }

 private:
  ServiceAccountKey m_key;
  std::string m_target;
};

class MetadataAuth final : public CachingTokenSource {
 public:
  MetadataAuth(asio::any_io_executor executor, std::shared_ptr<HttpClient> client,
               std::chrono::seconds margin, std::string host)
      : CachingTokenSource(std::move(executor), std::move(client), margin),
        m_host(std::move(host)) {}

 protected:
  Result<HttpCall> make_call() override {
    HttpCall call;
    call.post = false;
    call.target = "/computeMetadata/v1/instance/service-accounts/default/token";
    call.headers = {{"Metadata-Flavor", "Google"}};
    return call;
  }
  std::string what() const override { return "metadata server " + m_host; }

 private:
  std::string m_host;
};

}  // namespace

Result<ServiceAccountKey> parse_service_account_key(std::string_view text) {
  boost::system::error_code ec;
  const json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) {
    return fail("service-account key: not a JSON object");
  }
  const auto& object = value.as_object();
  if (const auto type = text_or_empty(object, "type"); type != "service_account") {
    return fail("service-account key: \"type\" is '" + type + "', expected 'service_account'");
  }
  ServiceAccountKey key;
  key.client_email = text_or_empty(object, "client_email");
  key.private_key_pem = text_or_empty(object, "private_key");
  key.private_key_id = text_or_empty(object, "private_key_id");
  if (auto uri = text_or_empty(object, "token_uri"); !uri.empty()) {
    key.token_uri = std::move(uri);
  }
  if (key.client_email.empty()) {
    return fail("service-account key: \"client_email\" is missing");
  }
  if (key.private_key_pem.empty()) {
    return fail("service-account key: \"private_key\" is missing");
  }
  return key;
}

Result<std::string> rs256_sign(std::string_view private_key_pem, std::string_view data) {
  if (private_key_pem.size() > INT_MAX) {
    return fail("private key: too large");
  }
  BioPtr bio(BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  if (!bio) {
    return fail(openssl_error("private key: BIO_new_mem_buf"));
  }
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return fail(openssl_error("private key: not a PEM private key"));
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return fail("private key: not an RSA key");
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) {
    return fail(openssl_error("EVP_MD_CTX_new"));
  }
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    return fail(openssl_error("EVP_DigestSignInit"));
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, bytes, data.size()) != 1) {
    return fail(openssl_error("EVP_DigestSign"));
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, bytes,
                     data.size()) != 1) {
    return fail(openssl_error("EVP_DigestSign"));
  }
  signature.resize(length);
  return signature;
}

Result<std::string> build_jwt_assertion(const ServiceAccountKey& key, std::int64_t now_unix_s,
                                        std::string_view scope) {
  json::object header{{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key.private_key_id.empty()) {
    header["kid"] = key.private_key_id;
  }
  const json::object claims{{"iss", key.client_email},
                            {"scope", scope},
                            {"aud", key.token_uri},
                            {"iat", now_unix_s},
                            {"exp", now_unix_s + 3600}};
  std::string signing_input =
      base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(claims));
  auto signature = rs256_sign(key.private_key_pem, signing_input);
  if (!signature) {
    return fail("jwt for " + key.client_email + ": " + signature.error().message);
  }
  return signing_input + "." + base64url_encode(*signature);
}

Result<AccessToken> parse_token_response(std::string_view body) {
  boost::system::error_code ec;
  const json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) {
    return fail("token response: not a JSON object");
  }
  const auto& object = value.as_object();
  AccessToken token;
  token.token = text_or_empty(object, "access_token");
  if (token.token.empty()) {
    return fail("token response: no access_token (" + text_or_empty(object, "error") + " " +
                text_or_empty(object, "error_description") + ")");
  }
  const json::value* expires = object.if_contains("expires_in");
  if (expires == nullptr || !expires->is_number()) {
    return fail("token response: no expires_in");
  }
  const double seconds = expires->to_number<double>(ec);
  if (ec || seconds <= 0 || seconds > 86400.0 * 7) {
    return fail("token response: bad expires_in");
  }
  token.expires_in = std::chrono::seconds(static_cast<std::int64_t>(seconds));
  return token;
}

AuthorizedSender::AuthorizedSender(std::shared_ptr<TokenSource> tokens,
                                   std::shared_ptr<HttpSender> transport)
    : m_tokens(std::move(tokens)), m_transport(std::move(transport)) {}

void AuthorizedSender::request(HttpCall call, Done done) {
  attempt(std::make_shared<HttpCall>(std::move(call)), std::move(done), false);
}

void AuthorizedSender::attempt(std::shared_ptr<HttpCall> call, Done done, bool resent) {
  m_tokens->authorization([self = shared_from_this(), call = std::move(call),
                           done = std::move(done), resent](Result<std::string> authorization) {
    if (self->m_shutdown) {
      return;
    }
    if (!authorization) {
      return done(fail("auth: " + authorization.error().message));
    }
    HttpCall sent = *call;
    if (!authorization->empty()) {
      sent.headers.emplace_back("Authorization", *authorization);
    }
    self->m_transport->request(std::move(sent),
                               [self, call, done, resent](Result<HttpReply> reply) {
                                 if (self->m_shutdown) {
                                   return;
                                 }
                                 if (reply && reply->status == 401) {
                                   self->m_tokens->invalidate();
                                   if (!resent) {
                                     ++self->m_resends;
                                     return self->attempt(call, done, true);
                                   }
                                 }
                                 done(std::move(reply));
                               });
  });
}

void AuthorizedSender::shutdown() {
  if (m_shutdown) {
    return;
  }
  m_shutdown = true;
  m_transport->shutdown();
  m_tokens->shutdown();
}

std::shared_ptr<TokenSource> make_no_auth(asio::any_io_executor executor) {
  return std::make_shared<NoAuth>(std::move(executor));
}

Result<std::shared_ptr<TokenSource>> make_service_account_auth(
    asio::any_io_executor executor, ServiceAccountKey key, std::shared_ptr<asio::ssl::context> tls,
    std::chrono::seconds refresh_margin) {
  auto url = parse_url(key.token_uri);
  if (!url) {
    return fail("service-account key: token_uri: " + url.error().message);
  }
  auto client = std::make_shared<HttpClient>(executor, url->origin, std::move(tls), 1,
                                             std::chrono::seconds(30), 64 * 1024);
  return std::shared_ptr<TokenSource>(
      std::make_shared<ServiceAccountAuth>(std::move(executor), std::move(client), refresh_margin,
                                           std::move(key), std::move(url->target)));
}

Result<std::shared_ptr<TokenSource>> make_metadata_auth(asio::any_io_executor executor,
                                                        std::string host,
                                                        std::chrono::seconds refresh_margin) {
  auto origin =
      host.find(':') == std::string::npos ? parse_host_port(host + ":80") : parse_host_port(host);
  if (!origin) {
    return fail("metadata server: " + origin.error().message);
  }
  auto client = std::make_shared<HttpClient>(executor, std::move(*origin), nullptr, 1,
                                             std::chrono::seconds(10), 64 * 1024);
  return std::shared_ptr<TokenSource>(std::make_shared<MetadataAuth>(
      std::move(executor), std::move(client), refresh_margin, std::move(host)));
}

}  // namespace pos::collector::detail
