// A till whose database goes back in time (VM snapshot reverted, disk image restored, a disk that
// loses fsynced writes) against the real broker, collector and Pub/Sub emulator: every event the
// agent answered `accepted`, before and after the restore, reaches Pub/Sub once, in order.
// Without epoch renewal the sales taken after the restore reuse seqs the collector already
// published and are dropped as duplicates (issue: "A restored or rolled-back agent database
// silently loses new sales").

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e_harness.hpp"
#include "integration/agent_harness.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

struct Posted {
  std::string pos_event_id;
  std::string event_id;  // as answered
};

// Posts the events as one JSON array; every one must be answered `accepted`.
std::vector<Posted> post_sales(Till& till, const std::string& prefix, int count) {
  std::string body = "[";
  std::vector<Posted> posted;
  for (int i = 1; i <= count; ++i) {
    const std::string id = prefix + std::to_string(i);
    body += (i > 1 ? "," : "") + sale_event(id, till.options().store, till.options().till, 1);
    posted.push_back({id, ""});
  }
  body += "]";
  const auto answer = http_request(till.port(), "POST", "/v1/events", "application/json", body);
  EXPECT_EQ(answer.status, 200) << answer.body;
  if (answer.status != 200) {
    return {};
  }
  const auto results = json::parse(answer.body).as_object().at("results").as_array();
  EXPECT_EQ(results.size(), posted.size());
  for (std::size_t i = 0; i < results.size() && i < posted.size(); ++i) {
    const auto& r = results[i].as_object();
    EXPECT_EQ(r.at("status").as_string(), "accepted") << answer.body;
    posted[i].event_id = std::string(r.at("event_id").as_string());
  }
  return posted;
}

std::int64_t status_int(Till& till, const char* key) {
  const auto status = till.status();
  const auto* v = status ? status->if_contains(key) : nullptr;
  return v && v->is_int64() ? v->as_int64() : -1;
}

bool drained(Till& till) {
  return status_int(till, "backlog_events") == 0 && status_int(till, "last_seq") > 0;
}

void copy_database(const fs::path& from_dir, const fs::path& to_dir) {
  fs::create_directories(to_dir);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const fs::path file = from_dir / (std::string("outbox.db") + suffix);
    fs::remove(to_dir / file.filename());
    if (fs::exists(file)) {
      fs::copy_file(file, to_dir / file.filename());
    }
  }
}

TEST(E2eRestoredDisk, SalesAfterARestoredDatabaseReachPubSubOnceInOrder) {
  SystemOptions options;
  auto till_options = layout_tills().front();
  till_options.mqtt_via_proxy = true;
  options.tills = {till_options};
  E2eSystem system(options);
  Till& till = system.till(0);

  std::vector<Posted> expected;
  auto a = post_sales(till, "A", 20);
  expected.insert(expected.end(), a.begin(), a.end());
  ASSERT_TRUE(wait_until([&] { return drained(till); }, 30s, "till drained", 100ms))
      << system.diagnostics();
  ASSERT_EQ(till.terminate(), 0);
  const fs::path snapshot = system.dir() / "snapshot";
  copy_database(till.data_dir(), snapshot);  // the backup / VM snapshot

  till.start();
  auto b = post_sales(till, "B", 20);  // published, then lost with the disk
  expected.insert(expected.end(), b.begin(), b.end());
  ASSERT_TRUE(wait_until([&] { return drained(till) && status_int(till, "last_seq") == 40; }, 30s,
                         "till drained through seq 40", 100ms))
      << system.diagnostics();
  ASSERT_EQ(till.terminate(), 0);
  copy_database(snapshot, till.data_dir());  // the restore: seqs 21-40 are gone from the till

  // Sales taken while the uplink is down after the restore: answered before the agent can know.
  till.proxy()->cut();
  till.start();
  auto c = post_sales(till, "C", 10);
  expected.insert(expected.end(), c.begin(), c.end());
  EXPECT_EQ(status_int(till, "last_seq"), 30);
  till.proxy()->restore();
  EXPECT_TRUE(wait_until([&] { return status_int(till, "epoch_renewals") == 1; }, 30s,
                         "an epoch renewal", 100ms))
      << "the agent did not notice that its database is behind the collector\n"
      << till.log() << system.diagnostics();
  auto d = post_sales(till, "D", 10);  // after the renewal
  expected.insert(expected.end(), d.begin(), d.end());
  ASSERT_TRUE(wait_until([&] { return drained(till); }, 60s, "till drained", 100ms))
      << till.log() << system.diagnostics();

  const auto messages = drain_subscription(system.emulator(), test_project, events_sub, 3s, 60s);
  std::map<std::string, std::string> published;  // pos_event_id -> event_id of first delivery
  std::vector<std::string> order;
  std::size_t duplicates = 0;
  std::set<std::string> message_ids;
  for (const auto& m : messages) {
    if (!message_ids.insert(m.message_id).second) {
      continue;  // a redelivery of the same message
    }
    const auto data = json::parse(m.data).as_object();
    const std::string pos_id(data.at("pos_event_id").as_string());
    if (published.count(pos_id) != 0) {
      ++duplicates;
      continue;
    }
    published[pos_id] = std::string(data.at("event_id").as_string());
    order.push_back(pos_id);
  }
  std::vector<std::string> expected_order;
  for (const auto& e : expected) {
    expected_order.push_back(e.pos_event_id);
    EXPECT_EQ(published.count(e.pos_event_id), 1U) << e.pos_event_id << " never reached Pub/Sub";
  }
  EXPECT_EQ(order, expected_order) << "per-till order broken";
  EXPECT_EQ(duplicates, 0U);
  // The events answered after the renewal keep their ids; those answered before it move to the
  // new epoch (their first ids were already the collector's: docs/agent.md).
  for (const auto& e : d) {
    EXPECT_EQ(published[e.pos_event_id], e.event_id);
  }
  for (const auto& e : c) {
    EXPECT_NE(published[e.pos_event_id], e.event_id);
  }
  std::cout << "[ e2e      ] restored disk: " << expected.size() << " accepted, "
            << published.size() << " published once, " << duplicates << " duplicates\n";

  // The fleet page shows it (the agent publishes its status at the renewal; the collector
  // evaluates alerts every second).
  std::string fleet_body;
  const auto shown = wait_until(
      [&] {
        const auto fleet = http_request(system.collector().port(), "GET", "/v1/fleet");
        fleet_body = fleet.body;
        if (fleet.status != 200) {
          return false;
        }
        const auto doc = json::parse(fleet.body).as_object();
        const auto& row = doc.at("tills").as_array().at(0).as_object();
        bool alerted = false;
        for (const auto& alert : doc.at("alerts").as_array()) {
          alerted |= alert.as_object().at("rule").as_string() == "database_rolled_back";
        }
        return row.at("epoch_renewals").as_int64() == 1 && alerted;
      },
      10s, "the fleet page shows the renewal and its alert", 100ms);
  EXPECT_TRUE(shown) << fleet_body;
}

// Two agents must never share one database.
TEST(E2eRestoredDisk, SecondAgentOnTheSameDataDirIsRefused) {
  SystemOptions options;
  options.tills = {layout_tills().front()};
  E2eSystem system(options);
  Till& till = system.till(0);
  TempDir dir("pos-second-agent");
  const auto log = dir.path() / "second.log";
  ChildProcess second({POSAGENT_BIN, "run", "--config", till.config_path().string()}, log);
  ASSERT_TRUE(wait_until([&] { return !second.running(); }, 15s, "the second agent exits", 100ms))
      << "a second agent on the same data_dir kept running";
  EXPECT_NE(second.wait(), 0);
  EXPECT_NE(read_text_file(log).find("is in use by another posagent"), std::string::npos)
      << read_text_file(log);
  EXPECT_TRUE(till.running());
  EXPECT_EQ(status_int(till, "last_seq"), 0);
}

}  // namespace
}  // namespace pos::test
