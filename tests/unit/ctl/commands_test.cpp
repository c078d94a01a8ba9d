#include "pos/ctl/commands.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "ctl_test_support.hpp"

namespace pos::ctl {
namespace {

namespace fs = std::filesystem;

class CommandsTest : public ::testing::Test {
 protected:
  test::TempDir m_tmp;
  fs::path m_ca = m_tmp.path() / "ca";
  std::ostringstream m_out;
  std::ostringstream m_err;
};

TEST_F(CommandsTest, BadArgumentsAreUsageErrors) {
  EXPECT_EQ(pki_issue(till_request("S 07", "T1"), IssueArgs{m_ca, {}, false}, m_out, m_err),
            exit_usage);
  EXPECT_EQ(m_err.str(), "posctl: --store: must match [A-Za-z0-9_-]{1,32}\n");
  EXPECT_EQ(pki_revoke(m_ca, std::nullopt, std::nullopt, "unspecified", 30, m_out, m_err),
            exit_usage);
  EXPECT_EQ(
      pki_revoke(m_ca, std::string("A1"), std::string("S1/T1"), "unspecified", 30, m_out, m_err),
      exit_usage);
  EXPECT_EQ(pki_revoke(m_ca, std::string("A1"), std::nullopt, "lost", 30, m_out, m_err),
            exit_usage);
  EXPECT_NE(m_err.str().find("--reason \"lost\""), std::string::npos) << m_err.str();
  EXPECT_EQ(fleet("ftp://x", false, 0, m_out, m_err), exit_failure);
  EXPECT_NE(m_err.str().find("--url ftp://x: must be http://"), std::string::npos);
}

TEST_F(CommandsTest, MissingCaIsAFailureNamingInit) {
  EXPECT_EQ(pki_issue(till_request("S07", "T1"), IssueArgs{m_ca, {}, false}, m_out, m_err),
            exit_failure);
  EXPECT_NE(m_err.str().find("posctl pki init --dir " + m_ca.string()), std::string::npos)
      << m_err.str();
}

TEST_F(CommandsTest, IssueListRevoke) {
  ASSERT_EQ(pki_init(m_ca, CaOptions{}, m_out, m_err), exit_ok) << m_err.str();
  ASSERT_EQ(pki_issue(till_request("S07", "T1"), IssueArgs{m_ca, {}, false}, m_out, m_err), exit_ok)
      << m_err.str();
  EXPECT_TRUE(fs::exists(m_ca / "issued" / "S07-T1.crt"));
  EXPECT_EQ(test::mode_of(m_ca / "issued" / "S07-T1.key"), 0600U);
  ASSERT_EQ(
      pki_revoke(m_ca, std::nullopt, std::string("S07/T1"), "keyCompromise", 30, m_out, m_err),
      exit_ok)
      << m_err.str();
  std::ostringstream list;
  ASSERT_EQ(pki_list(m_ca, true, list, m_err), exit_ok);
  EXPECT_NE(list.str().find(R"("common_name":"S07/T1")"), std::string::npos) << list.str();
  EXPECT_NE(list.str().find(R"("revoked":true)"), std::string::npos) << list.str();
  EXPECT_NE(list.str().find(R"("reason":"keyCompromise")"), std::string::npos) << list.str();
}

TEST_F(CommandsTest, TrainDictionaryNeedsSamples) {
  const fs::path samples = m_tmp.path() / "few.ndjson";
  std::ofstream(samples) << "{\"type\":\"sale\"}\n";
  EXPECT_EQ(train_dictionary(TrainArgs{samples, 16 * 1024, 0, m_tmp.path() / "d"}, m_out, m_err),
            exit_failure);
  EXPECT_NE(m_err.str().find(samples.string()), std::string::npos) << m_err.str();
  EXPECT_FALSE(fs::exists(m_tmp.path() / "d"));
  EXPECT_EQ(train_dictionary(TrainArgs{samples, 10, 0, m_tmp.path() / "d"}, m_out, m_err),
            exit_usage);
}

}  // namespace
}  // namespace pos::ctl
