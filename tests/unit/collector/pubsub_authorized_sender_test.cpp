// The auth layer (AuthorizedSender) between a fake token source and a scripted transport.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>

#include "pubsub_auth.hpp"
#include "pubsub_fakes.hpp"

namespace pos::collector::detail {
namespace {
using fakes::CountingTokens;
using fakes::run_until;
using fakes::ScriptedSender;

class AuthorizedSenderTest : public ::testing::Test {
 protected:
  Result<HttpReply> send(HttpSender& sender) {
    std::optional<Result<HttpReply>> reply;
    HttpCall call;
    call.target = "/v1/projects/p/topics/t:publish";
    call.body = "BODY";
    sender.request(std::move(call), [&](Result<HttpReply> r) { reply.emplace(std::move(r)); });
    EXPECT_FALSE(reply) << "never inline";
    if (!run_until(m_io, [&] { return reply.has_value(); })) {
      return fail("timed out");
    }
    return std::move(*reply);
  }

  boost::asio::io_context m_io;
  std::shared_ptr<CountingTokens> m_tokens = std::make_shared<CountingTokens>(m_io);
  std::shared_ptr<ScriptedSender> m_transport = std::make_shared<ScriptedSender>(m_io);
  std::shared_ptr<AuthorizedSender> m_sender =
      std::make_shared<AuthorizedSender>(m_tokens, m_transport);
};

TEST_F(AuthorizedSenderTest, SendsTheCachedBearerToken) {
  ASSERT_TRUE(send(*m_sender));
  ASSERT_TRUE(send(*m_sender));
  ASSERT_EQ(m_transport->sent.size(), 2u);
  EXPECT_EQ(m_transport->authorization(0), "Bearer tok1");
  EXPECT_EQ(m_transport->authorization(1), "Bearer tok1");
  EXPECT_EQ(m_transport->sent[0].call.body, "BODY");
  EXPECT_EQ(m_tokens->fetches, 1);
  EXPECT_EQ(m_sender->resends(), 0u);
}

TEST_F(AuthorizedSenderTest, A401IsResentOnceWithANewToken) {
  m_transport->script = {HttpReply{401, "expired"}};
  auto reply = send(*m_sender);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->status, 200u);
  ASSERT_EQ(m_transport->sent.size(), 2u);
  EXPECT_EQ(m_transport->authorization(0), "Bearer tok1");
  EXPECT_EQ(m_transport->authorization(1), "Bearer tok2");
  EXPECT_EQ(m_transport->sent[1].call.body, "BODY");
  EXPECT_EQ(m_tokens->invalidations, 1);
  EXPECT_EQ(m_sender->resends(), 1u);
}

TEST_F(AuthorizedSenderTest, ASecond401GoesToTheCallerAndTheNextRequestGetsANewToken) {
  m_transport->script = {HttpReply{401, ""}, HttpReply{401, ""}};
  auto reply = send(*m_sender);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 401u);
  EXPECT_EQ(m_transport->sent.size(), 2u);
  EXPECT_EQ(m_tokens->invalidations, 2);
  ASSERT_TRUE(send(*m_sender));
  EXPECT_EQ(m_transport->authorization(2), "Bearer tok3");
}

TEST_F(AuthorizedSenderTest, OtherStatusesAndTransportErrorsAreHandedUpAsTheyAre) {
  m_transport->script = {HttpReply{403, "denied"}, fail("read: timeout")};
  auto denied = send(*m_sender);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403u);
  auto error = send(*m_sender);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().message, "read: timeout");
  EXPECT_EQ(m_transport->sent.size(), 2u);
  EXPECT_EQ(m_tokens->invalidations, 0);
}

TEST_F(AuthorizedSenderTest, ATokenThatCannotBeHadFailsTheRequestUnsent) {
  m_tokens->error = "metadata server: connect refused";
  auto reply = send(*m_sender);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().message, "auth: metadata server: connect refused");
  EXPECT_TRUE(m_transport->sent.empty());
}

TEST_F(AuthorizedSenderTest, WithoutAuthNoHeaderIsSent) {
  auto sender = std::make_shared<AuthorizedSender>(make_no_auth(m_io.get_executor()), m_transport);
  ASSERT_TRUE(send(*sender));
  ASSERT_EQ(m_transport->sent.size(), 1u);
  EXPECT_TRUE(m_transport->sent[0].call.headers.empty());
}

TEST_F(AuthorizedSenderTest, ShutdownStopsBothLayersAndDropsTheAnswer) {
  bool called = false;
  m_sender->request(HttpCall{}, [&](Result<HttpReply>) { called = true; });
  m_sender->shutdown();
  EXPECT_EQ(m_transport->shutdowns, 1);
  EXPECT_EQ(m_tokens->shutdowns, 1);
  m_io.run();
  EXPECT_FALSE(called);
  EXPECT_TRUE(m_transport->sent.empty());
}

}  // namespace
}  // namespace pos::collector::detail
