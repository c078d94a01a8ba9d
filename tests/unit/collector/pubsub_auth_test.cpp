#include "pubsub_auth.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "pos/collector/pubsub_sink.hpp"
#include "pos/common/http_server.hpp"
#include "pos/common/openssl_handles.hpp"
#include "pubsub_batching.hpp"

namespace pos::collector::detail {
namespace {
namespace json = boost::json;

using PkeyPtr = common::ossl::Pkey;
using BioPtr = common::ossl::Bio;

std::string base64url_decode(std::string_view in) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '-') v = 62;
    if (c == '_') v = 63;
    if (v < 0) throw std::runtime_error("bad base64url");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

std::string url_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::string form_field(std::string_view body, std::string_view name) {
  const std::string prefix = std::string(name) + "=";
  std::size_t start = 0;
  while (start <= body.size()) {
    const auto end = std::min(body.find('&', start), body.size());
    const auto part = body.substr(start, end - start);
    if (part.starts_with(prefix)) return url_decode(part.substr(prefix.size()));
    start = end + 1;
  }
  return {};
}

class RsaKey {
 public:
  RsaKey() : m_key(EVP_RSA_gen(2048)) {
    if (!m_key) throw std::runtime_error("EVP_RSA_gen");
  }
  std::string private_pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), m_key.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
      throw std::runtime_error("PEM_write_bio_PrivateKey");
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
  }
  bool verify(std::string_view data, std::string_view signature) const {
    common::ossl::MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, m_key.get()) != 1) {
      return false;
    }
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size()) == 1;
  }

 private:
  PkeyPtr m_key;
};

const RsaKey& test_key() {
  static const RsaKey key;
  return key;
}

ServiceAccountKey make_key(std::string token_uri = "https://oauth2.googleapis.com/token") {
  ServiceAccountKey key;
  key.client_email = "collector@fastyle-prod.iam.gserviceaccount.com";
  key.private_key_pem = test_key().private_pem();
  key.private_key_id = "kid-1";
  key.token_uri = std::move(token_uri);
  return key;
}

// Checks the JWT's header, claims and RS256 signature; returns the claims.
json::object check_jwt(const std::string& jwt, const ServiceAccountKey& key) {
  const auto first = jwt.find('.');
  const auto second = jwt.find('.', first + 1);
  EXPECT_NE(second, std::string::npos);
  const auto header = json::parse(base64url_decode(jwt.substr(0, first))).as_object();
  EXPECT_EQ(header.at("alg").as_string(), "RS256");
  EXPECT_EQ(header.at("typ").as_string(), "JWT");
  EXPECT_EQ(header.at("kid").as_string(), key.private_key_id);
  EXPECT_TRUE(test_key().verify(jwt.substr(0, second), base64url_decode(jwt.substr(second + 1))));
  return json::parse(base64url_decode(jwt.substr(first + 1, second - first - 1))).as_object();
}

TEST(JwtAssertion, IsSignedWithRs256AndHasGoogleClaims) {
  const auto key = make_key();
  auto jwt = build_jwt_assertion(key, 1'700'000'000);
  ASSERT_TRUE(jwt) << jwt.error().message;
  const auto claims = check_jwt(*jwt, key);
  EXPECT_EQ(claims.at("iss").as_string(), key.client_email);
  EXPECT_EQ(claims.at("scope").as_string(), "https://www.googleapis.com/auth/pubsub");
  EXPECT_EQ(claims.at("aud").as_string(), key.token_uri);
  EXPECT_EQ(claims.at("iat").as_int64(), 1'700'000'000);
  EXPECT_EQ(claims.at("exp").as_int64(), 1'700'003'600);
}

TEST(JwtAssertion, TamperedSignatureFailsVerification) {
  auto jwt = *build_jwt_assertion(make_key(), 1'700'000'000);
  const auto second = jwt.rfind('.');
  auto signature = base64url_decode(jwt.substr(second + 1));
  signature[10] = static_cast<char>(signature[10] ^ 1);
  EXPECT_FALSE(test_key().verify(jwt.substr(0, second), signature));
}

TEST(JwtAssertion, RejectsBadKeys) {
  EXPECT_FALSE(rs256_sign("not a pem", "x"));
  auto key = make_key();
  key.private_key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  auto jwt = build_jwt_assertion(key, 1);
  ASSERT_FALSE(jwt);
  EXPECT_NE(jwt.error().message.find(key.client_email), std::string::npos);
}

TEST(JwtAssertion, ParsesServiceAccountKeyFiles) {
  json::object file{{"type", "service_account"},
                    {"client_email", "a@b.iam.gserviceaccount.com"},
                    {"private_key", "PEM"},
                    {"private_key_id", "k"},
                    {"token_uri", "https://oauth2.googleapis.com/token"}};
  auto key = parse_service_account_key(json::serialize(file));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->client_email, "a@b.iam.gserviceaccount.com");
  file["type"] = "authorized_user";
  EXPECT_FALSE(parse_service_account_key(json::serialize(file)));
  EXPECT_FALSE(parse_service_account_key("[]"));
}

TEST(JwtAssertion, ParsesTokenResponses) {
  auto token =
      parse_token_response(R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->token, "ya29.x");
  EXPECT_EQ(token->expires_in, std::chrono::seconds(3599));
  auto error =
      parse_token_response(R"({"error":"invalid_grant","error_description":"Invalid JWT"})");
  ASSERT_FALSE(error);
  EXPECT_NE(error.error().message.find("invalid_grant"), std::string::npos);
}

// A fake token endpoint on common::HttpServer: the auth classes' seam.
class TokenEndpoint {
 public:
  explicit TokenEndpoint(boost::asio::io_context& io, int expires_in = 3600)
      : m_server(
            io.get_executor(), "127.0.0.1:0", {},
            [this, expires_in](common::HttpRequest request, common::HttpServer::Respond respond) {
              requests.push_back(request);
              ++count;
              common::HttpResponse response;
              if (status != 200) {
                response.status = status;
                response.body = R"({"error":"invalid_grant","error_description":"bad"})";
              } else {
                response.body = "{\"access_token\":\"tok" + std::to_string(count) +
                                "\",\"expires_in\":" + std::to_string(expires_in) + "}";
              }
              respond(std::move(response));
            }) {
    if (auto started = m_server.start(); !started)
      throw std::runtime_error(started.error().message);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_server.local_port()); }

  std::vector<common::HttpRequest> requests;
  int count = 0;
  int status = 200;

 private:
  common::HttpServer m_server;
};

Result<std::string> get(boost::asio::io_context& io, TokenSource& source) {
  std::optional<Result<std::string>> result;
  source.authorization([&](Result<std::string> r) { result.emplace(std::move(r)); });
  io.restart();
  while (!result && io.run_one_for(std::chrono::seconds(10)) > 0) {
  }
  if (!result) return fail("timed out");
  return std::move(*result);
}

TEST(JwtTokenSource, ServiceAccountExchangesASignedJwtAndCachesTheToken) {
  boost::asio::io_context io;
  TokenEndpoint endpoint(io);
  const auto key = make_key(endpoint.url() + "/token");
  auto source = make_service_account_auth(io.get_executor(), key, nullptr);
  ASSERT_TRUE(source) << source.error().message;

  auto first = get(io, **source);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, "Bearer tok1");
  ASSERT_EQ(endpoint.requests.size(), 1u);
  const auto& request = endpoint.requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/token");
  EXPECT_EQ(request.content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(form_field(request.body, "grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
  const auto claims = check_jwt(form_field(request.body, "assertion"), key);
  EXPECT_EQ(claims.at("aud").as_string(), key.token_uri);

  EXPECT_EQ(*get(io, **source), "Bearer tok1");
  EXPECT_EQ(endpoint.count, 1);
  (*source)->invalidate();
  EXPECT_EQ(*get(io, **source), "Bearer tok2");
  (*source)->shutdown();
}

TEST(JwtTokenSource, RefreshesATokenThatExpiresWithinTheMargin) {
  boost::asio::io_context io;
  TokenEndpoint endpoint(io, 60);
  auto source = make_service_account_auth(io.get_executor(), make_key(endpoint.url() + "/token"),
                                          nullptr, std::chrono::minutes(5));
  ASSERT_TRUE(source);
  EXPECT_EQ(*get(io, **source), "Bearer tok1");
  EXPECT_EQ(*get(io, **source), "Bearer tok2");
  (*source)->shutdown();
}

TEST(JwtTokenSource, EndpointErrorsAreReportedWithTheAnswer) {
  boost::asio::io_context io;
  TokenEndpoint endpoint(io);
  endpoint.status = 400;
  auto source =
      make_service_account_auth(io.get_executor(), make_key(endpoint.url() + "/token"), nullptr);
  ASSERT_TRUE(source);
  auto result = get(io, **source);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("HTTP 400"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("invalid_grant"), std::string::npos);
  (*source)->shutdown();
}

TEST(JwtTokenSource, MetadataServerTokenIsFetchedWithGet) {
  boost::asio::io_context io;
  TokenEndpoint endpoint(io);
  auto source = make_metadata_auth(io.get_executor(), endpoint.url().substr(7));
  ASSERT_TRUE(source) << source.error().message;
  EXPECT_EQ(*get(io, **source), "Bearer tok1");
  ASSERT_EQ(endpoint.requests.size(), 1u);
  EXPECT_EQ(endpoint.requests[0].method, "GET");
  EXPECT_EQ(endpoint.requests[0].target,
            "/computeMetadata/v1/instance/service-accounts/default/token");
  (*source)->shutdown();
}

TEST(JwtTokenSource, UnreachableEndpointIsAnError) {
  boost::asio::io_context io;
  auto source =
      make_service_account_auth(io.get_executor(), make_key("http://127.0.0.1:1/token"), nullptr);
  ASSERT_TRUE(source);
  auto result = get(io, **source);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("127.0.0.1:1"), std::string::npos);
}

// `[sink] endpoint`: the sink publishes to the configured origin (here a plain-HTTP stand-in on
// loopback, as config allows), with a token from the key file's token endpoint.
TEST(PubSubSinkEndpoint, PublishesToTheConfiguredEndpoint) {
  boost::asio::io_context io;
  TokenEndpoint token(io);
  std::vector<common::HttpRequest> published;
  common::HttpServer pubsub(
      io.get_executor(), "127.0.0.1:0", {},
      [&](common::HttpRequest request, common::HttpServer::Respond respond) {
        published.push_back(request);
        respond(common::HttpResponse{200, "application/json", R"({"messageIds":["1"]})", {}});
      });
  ASSERT_TRUE(pubsub.start());
  const auto key_file = std::filesystem::temp_directory_path() /
                        ("pubsub-endpoint-key-" + std::to_string(::getpid()) + ".json");
  {
    json::object key{{"type", "service_account"},
                     {"client_email", "collector@fastyle-prod.iam.gserviceaccount.com"},
                     {"private_key", test_key().private_pem()},
                     {"private_key_id", "kid-1"},
                     {"token_uri", token.url() + "/token"}};
    std::ofstream(key_file) << json::serialize(key);
  }
  // The emulator would win over the endpoint: make sure this process does not point at one.
  const char* emulator = std::getenv("PUBSUB_EMULATOR_HOST");
  const std::string saved = emulator ? emulator : "";
  ::unsetenv("PUBSUB_EMULATOR_HOST");
  PubSubConfig config;
  config.project = "fastyle-test";
  config.topic = "pos-events";
  config.dead_letter_topic = "pos-events-dlq";
  config.credentials_file = key_file.string();
  config.endpoint = "http://127.0.0.1:" + std::to_string(pubsub.local_port());
  std::optional<Status> done;
  {
    PubSubSink sink(io.get_executor(), config);
    if (!saved.empty()) ::setenv("PUBSUB_EMULATOR_HOST", saved.c_str(), 1);
    EXPECT_EQ(sink.endpoint(), config.endpoint);
    std::vector<OutMessage> messages(1);
    messages[0].data = R"({"type":"sale"})";
    messages[0].ordering_key = "S01/T1";
    sink.publish(Destination::events, std::move(messages),
                 [&](Status status) { done.emplace(std::move(status)); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(std::chrono::milliseconds(20));
    }
    sink.stop(std::chrono::milliseconds(0), [] {});
    io.restart();
    io.poll();
  }
  std::filesystem::remove(key_file);
  ASSERT_TRUE(done) << "no answer within 10 s";
  EXPECT_TRUE(*done) << done->error().message;
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0].target, "/v1/projects/fastyle-test/topics/pos-events:publish");
  EXPECT_EQ(token.count, 1);
}

}  // namespace
}  // namespace pos::collector::detail
