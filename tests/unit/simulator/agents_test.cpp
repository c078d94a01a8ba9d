#include "pos/simulator/agents.hpp"

#include <gtest/gtest.h>

namespace pos::simulator {
namespace {

TEST(Agents, ParsesAFileWithCommentsAndBlankLines) {
  const auto parsed = parse_agents_file(
      "# store till url\n\nS01 T1 http://127.0.0.1:8411\n  S01\tT2   http://127.0.0.1:8412/  # "
      "second till\r\nWH01 T1 http://localhost:9000\n",
      "agents.txt");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 3U);
  EXPECT_EQ((*parsed)[0].till, (TillRef{"S01", "T1"}));
  EXPECT_EQ((*parsed)[0].host, "127.0.0.1");
  EXPECT_EQ((*parsed)[0].port, "8411");
  EXPECT_EQ((*parsed)[1].till, (TillRef{"S01", "T2"}));
  EXPECT_EQ((*parsed)[1].port, "8412");
  EXPECT_EQ((*parsed)[2].host, "localhost");
  EXPECT_TRUE(check_agents(Layout(1), *parsed));
}

TEST(Agents, FileErrorsNameTheLineAndTheProblem) {
  auto r = parse_agents_file("S01 T1 http://127.0.0.1:1\nS01 T2\n", "a.txt");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "a.txt:2: expected STORE TILL URL, got 'S01 T2'");
  r = parse_agents_file("S01 T1 https://127.0.0.1:1\n", "a.txt");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "a.txt:1: must be http://HOST:PORT, got 'https://127.0.0.1:1'");
  r = parse_agents_file("S01 T1 http://127.0.0.1\n", "a.txt");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "a.txt:1: needs a host and a port, got 'http://127.0.0.1'");
  r = parse_agents_file("S01 T1 http://127.0.0.1:70000\n", "a.txt");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "a.txt:1: port must be 1-65535, got '70000'");
  r = parse_agents_file("S01 T1 http://127.0.0.1:1/v1/events\n", "a.txt");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message.starts_with("a.txt:1: must not have a path")) << r.error().message;
  r = parse_agents_file("S0!1 T1 http://127.0.0.1:1\n", "a.txt");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "a.txt:1: bad store or till id in 'S0!1 T1 http://127.0.0.1:1'");
  r = parse_agents_file("S01 T1 http://127.0.0.1:1\nS01 T2 http://127.0.0.1:2\n", "a.txt", 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "a.txt:2: more than 1 agents");
}

TEST(Agents, CheckedAgainstTheLayout) {
  const Layout layout(1);
  auto r = check_agents(layout, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "no agents: give --agent STORE/TILL=URL or --agents-file FILE");
  auto a = parse_agent_option("S01/T9=http://127.0.0.1:1");
  ASSERT_TRUE(a);
  r = check_agents(layout, {*a});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "S01/T9: not a till of the layout (see possim layout)");
  a = parse_agent_option("S01/T1=http://127.0.0.1:1");
  ASSERT_TRUE(a);
  r = check_agents(layout, {*a, *a});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "S01/T1: listed twice");
}

TEST(Agents, OptionForm) {
  const auto a = parse_agent_option("WH01/T1=http://127.0.0.1:8411");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->till, (TillRef{"WH01", "T1"}));
  EXPECT_EQ(a->url, "http://127.0.0.1:8411");
  auto bad = parse_agent_option("S01/T1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "--agent: must be STORE/TILL=http://HOST:PORT, got 'S01/T1'");
  bad = parse_agent_option("S01-T1=http://127.0.0.1:1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "--agent: must be STORE/TILL such as S07/T1, got 'S01-T1'");
}

}  // namespace
}  // namespace pos::simulator
