#pragma once
// OAuth2 access tokens for Pub/Sub: none (emulator), a service-account key (JWT RS256 assertion
// exchanged at token_uri) or the GCE/GKE metadata server. Tokens are cached and refreshed a few
// minutes before they expire.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"
#include "pubsub_http.hpp"

namespace pos::collector::detail {

inline constexpr std::string_view pubsub_scope = "https://www.googleapis.com/auth/pubsub";

struct ServiceAccountKey {
  std::string client_email;
  std::string private_key_pem;
  std::string private_key_id;
  std::string token_uri = "https://oauth2.googleapis.com/token";
};

/// Parses a service-account key file's JSON ("type": "service_account").
Result<ServiceAccountKey> parse_service_account_key(std::string_view json);

/// Signs `data` with RS256 (RSA PKCS#1 v1.5, SHA-256) using a PEM private key.
Result<std::string> rs256_sign(std::string_view private_key_pem, std::string_view data);

/// The signed JWT assertion for the token exchange: header {"alg":"RS256","typ":"JWT","kid"},
/// claims {"iss","scope","aud": token_uri,"iat": now,"exp": now + 3600}.
Result<std::string> build_jwt_assertion(const ServiceAccountKey& key, std::int64_t now_unix_s,
                                        std::string_view scope = pubsub_scope);

struct AccessToken {
  std::string token;
  std::chrono::seconds expires_in{0};
};

/// Parses {"access_token","expires_in",...}; errors quote the token endpoint's "error" fields.
Result<AccessToken> parse_token_response(std::string_view body);

/// Supplies the Authorization header value. Not thread-safe: one executor thread.
class TokenSource {
 public:
  using Done = std::function<void(Result<std::string>)>;
  virtual ~TokenSource() = default;
  /// Calls `done` on the executor with "Bearer ..." (or "" when no auth is needed), fetching a
  /// new token when none is cached or it expires within the refresh margin. Concurrent calls share
  /// one fetch. Errors name the endpoint and its answer.
  virtual void authorization(Done done) = 0;
  /// Drops the cached token (after a 401).
  virtual void invalidate() = 0;
  virtual void shutdown() = 0;
};

/// The auth layer of the publisher stack: sends each request through `transport` with the
/// Authorization header from `tokens` (none when the source gives ""). A 401 drops the cached
/// token; the first 401 of a request is resent at once with a freshly fetched token, a second
/// one is handed to the caller (the retry layer backs off and tries again, with a new token).
/// A token that cannot be had fails the request with "auth: ..." (transient for the caller).
/// Not thread-safe: one executor thread.
class AuthorizedSender final : public HttpSender,
                               public std::enable_shared_from_this<AuthorizedSender> {
 public:
  AuthorizedSender(std::shared_ptr<TokenSource> tokens, std::shared_ptr<HttpSender> transport);

  void request(HttpCall call, Done done) override;
  /// Shuts down the transport and the token source; callbacks pending in either are dropped.
  void shutdown() override;

  /// Requests resent after a 401 with a new token.
  std::uint64_t resends() const noexcept { return m_resends; }

 private:
  void attempt(std::shared_ptr<HttpCall> call, Done done, bool resent);

  std::shared_ptr<TokenSource> m_tokens;
  std::shared_ptr<HttpSender> m_transport;
  std::uint64_t m_resends = 0;
  bool m_shutdown = false;
};

/// No authentication (the emulator).
std::shared_ptr<TokenSource> make_no_auth(boost::asio::any_io_executor executor);

/// Service-account key. Fails for a token_uri that is not a URL.
Result<std::shared_ptr<TokenSource>> make_service_account_auth(
    boost::asio::any_io_executor executor, ServiceAccountKey key,
    std::shared_ptr<boost::asio::ssl::context> tls,
    std::chrono::seconds refresh_margin = std::chrono::minutes(5));

/// Metadata server at `host` ("metadata.google.internal", or GCE_METADATA_HOST), plain HTTP.
Result<std::shared_ptr<TokenSource>> make_metadata_auth(
    boost::asio::any_io_executor executor, std::string host,
    std::chrono::seconds refresh_margin = std::chrono::minutes(5));

}  // namespace pos::collector::detail
