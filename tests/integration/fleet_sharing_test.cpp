// Several collectors ([marks] type = "postgres") share their per-till counts in PostgreSQL: the
// table against a real PostgreSQL 15 server (sums per till, a restart), and two real collectors
// on one database, where counts made on one show in the other's /v1/fleet.

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "collector_harness.hpp"
#include "pos/collector/shared_counters.hpp"
#include "support/metrics.hpp"
#include "support/postgres.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
using collector::open_postgres_shared_counters;
using collector::SharedTillCounts;

TEST(FleetSharingStoreTest, OthersAreSummedPerTillAndARestartOnlyPausesIt) {
  PostgresServer server;
  auto c1 = open_postgres_shared_counters(server.dsn(), "c1");
  ASSERT_TRUE(c1) << c1.error().message;
  auto c2 = open_postgres_shared_counters(server.dsn(), "c2");
  ASSERT_TRUE(c2) << c2.error().message;
  auto c3 = open_postgres_shared_counters(server.dsn(), "c3");
  ASSERT_TRUE(c3) << c3.error().message;

  ASSERT_TRUE((*c1)->write({{"S07", "T1", 10, 1, 2, 3, 1000}, {"S\"7\\", "T,{2}", 4, 0, 0, 0, 0}}));
  ASSERT_TRUE((*c2)->write({{"S07", "T1", 20, 0, 0, 1, 5000}}));
  ASSERT_TRUE((*c1)->write({{"S07", "T1", 12, 1, 2, 3, 2000}})) << "an upsert, not a new row";

  auto seen = (*c3)->read_others(100);
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_EQ(seen->size(), 2U);
  std::optional<SharedTillCounts> t1;
  for (const auto& row : *seen) {
    if (row.till_id == "T1") {
      t1 = row;
    } else {
      EXPECT_EQ(row, (SharedTillCounts{"S\"7\\", "T,{2}", 4, 0, 0, 0, 0}));
    }
  }
  ASSERT_TRUE(t1);
  EXPECT_EQ(*t1, (SharedTillCounts{"S07", "T1", 32, 1, 2, 4, 5000}));
  auto without_own = (*c2)->read_others(100);
  ASSERT_TRUE(without_own);
  for (const auto& row : *without_own) {
    if (row.till_id == "T1") {
      EXPECT_EQ(row.published, 12U) << "a collector's own row is not read back";
    }
  }
  auto own = (*c1)->read_own(100);
  ASSERT_TRUE(own) << own.error().message;
  ASSERT_EQ(own->size(), 2U);
  EXPECT_EQ(own->front(), (SharedTillCounts{"S07", "T1", 12, 1, 2, 3, 2000}))
      << "the most recently updated first";
  auto capped = (*c3)->read_others(1);
  ASSERT_TRUE(capped);
  ASSERT_EQ(capped->size(), 1U);
  EXPECT_EQ(capped->front().till_id, "T1") << "the most recently updated first";

  server.stop();
  EXPECT_FALSE((*c1)->write({{"S07", "T1", 13, 1, 2, 3, 3000}}));
  EXPECT_FALSE((*c3)->read_others(100));
  server.start();
  bool written = false;
  for (int attempt = 0; attempt < 5 && !written; ++attempt) {
    written = (*c1)->write({{"S07", "T1", 13, 1, 2, 3, 3000}}).has_value();
  }
  ASSERT_TRUE(written) << "a new connection after the restart";
  std::optional<std::uint64_t> published;
  for (int attempt = 0; attempt < 5 && !published; ++attempt) {
    if (auto again = (*c3)->read_others(100)) {
      for (const auto& row : *again) {
        if (row.till_id == "T1") {
          published = row.published;
        }
      }
    }
  }
  EXPECT_EQ(published, 33U);
}

// The cost of a round at 5,000 tills and 3 collectors: a write of a full round (2,000 rows) and
// a read summing the others' 10,000 rows (printed; bounded loosely so that only a missing index
// or a per-row round trip fails it).
TEST(FleetSharingStoreTest, ARoundAtFiveThousandTillsAndThreeCollectors) {
  PostgresServer server;
  std::vector<std::unique_ptr<collector::SharedCounterStore>> stores;
  for (const char* id : {"c1", "c2", "c3"}) {
    auto store = open_postgres_shared_counters(server.dsn(), id);
    ASSERT_TRUE(store) << store.error().message;
    stores.push_back(std::move(*store));
  }
  constexpr int tills = 5000;
  constexpr int per_round = 2000;
  std::vector<SharedTillCounts> rows;
  for (int i = 0; i < tills; ++i) {
    rows.push_back({"S" + std::to_string(i / 10), "T" + std::to_string(i % 10),
                    static_cast<std::uint64_t>(i), 1, 0, 0, 1000});
  }
  for (std::size_t c = 0; c < 2; ++c) {
    for (int first = 0; first < tills; first += per_round) {
      const auto end = rows.begin() + std::min(tills, first + per_round);
      ASSERT_TRUE(stores[c]->write({rows.begin() + first, end}));
    }
  }
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(stores[2]->write({rows.begin(), rows.begin() + per_round}));
  const auto written = std::chrono::steady_clock::now();
  auto others = stores[2]->read_others(10'000);
  const auto read = std::chrono::steady_clock::now();
  ASSERT_TRUE(others) << others.error().message;
  EXPECT_EQ(others->size(), static_cast<std::size_t>(tills));
  const auto ms = [](auto d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0;
  };
  std::cout << "[ share    ] 5,000 tills, 3 collectors: write of " << per_round << " rows "
            << ms(written - started) << " ms, read of the others' sums " << ms(read - written)
            << " ms\n";
  EXPECT_LT(read - started, 5s);
}

/// published_total of store/till in GET /v1/fleet on `port`; nullopt when absent.
std::optional<std::uint64_t> fleet_published(std::uint16_t port, const std::string& store,
                                             const std::string& till) {
  const auto reply = http_request(port, "GET", "/v1/fleet");
  if (reply.status != 200) {
    return std::nullopt;
  }
  const boost::json::value doc = boost::json::parse(reply.body);
  for (const auto& row : doc.at("tills").as_array()) {
    const auto& o = row.as_object();
    if (o.at("store_id").as_string() == store && o.at("till_id").as_string() == till) {
      return static_cast<std::uint64_t>(o.at("published_total").as_int64());
    }
  }
  return std::nullopt;
}

// Counts made on collector A show in collector B's /v1/fleet within a few seconds, without being
// counted twice in A's.
TEST(FleetSharingCollectorsTest, CountsMadeOnOneCollectorShowInTheOthersFleet) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  MosquittoOptions broker_options;
  broker_options.collector_users = {"collector-a", "collector-b"};  // the ACL's collector users
  MosquittoBroker broker(pki, broker_options);
  PubSubEmulator emulator;
  create_pubsub_resources(emulator);
  PostgresServer postgres;
  const std::string extra = "[marks]\ntype = \"postgres\"\ndsn = \"" + postgres.dsn() +
                            "\"\n[fleet]\nshare_interval_ms = 200\n";
  CollectorProcess a(dir.path() / "a", pki, broker.uri(), emulator.host_port(), {}, "collector-a",
                     extra);
  a.start();
  // Alone, A holds every partition: it publishes and acks the till's batch.
  FakeTill till(broker, pki, "S07", "T1");
  constexpr std::uint64_t epoch = 0x0123456789abcdefULL;
  till.send(epoch, 1, 25);
  ASSERT_EQ(till.wait_ack(epoch, 25, 20s), 25U) << a.log();
  ASSERT_TRUE(wait_until([&] { return fleet_published(a.port(), "S07", "T1") == 25U; }, 10s,
                         "A counts the batch"));

  CollectorProcess b(dir.path() / "b", pki, broker.uri(), emulator.host_port(), {}, "collector-b",
                     extra);
  b.start();
  EXPECT_TRUE(wait_until([&] { return fleet_published(b.port(), "S07", "T1") == 25U; }, 10s,
                         "B shows A's counts"))
      << fleet_published(b.port(), "S07", "T1").value_or(0) << "\n"
      << b.log();
  const auto metrics = http_request(b.port(), "GET", "/metrics");
  EXPECT_EQ(metric_value(metrics.body, "poscollector_fleet_share_healthy"), 1.0);
  EXPECT_GE(metric_value(metrics.body, "poscollector_fleet_share_rows_read_total").value_or(0),
            1.0);
  // B's rounds ran (it read A's row); A reads B's (empty for this till) and keeps 25, not 50.
  const auto a_rounds = [&] {
    return metric_value(http_request(a.port(), "GET", "/metrics").body,
                        "poscollector_fleet_share_rounds_total")
        .value_or(0);
  };
  const double rounds_before = a_rounds();
  ASSERT_TRUE(wait_until([&] { return a_rounds() >= rounds_before + 2; }, 10s, "two more rounds"));
  EXPECT_EQ(fleet_published(a.port(), "S07", "T1"), 25U);
}

}  // namespace
}  // namespace pos::test
