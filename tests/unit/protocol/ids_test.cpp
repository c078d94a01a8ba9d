#include "pos/protocol/ids.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace pos::protocol {
namespace {

TEST(Ids, ValidIds) {
  for (std::string_view id :
       {"S07", "T1", "a", "store_01-x", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", "0", "-", "_"}) {
    EXPECT_TRUE(is_valid_id(id)) << id;
    EXPECT_TRUE(check_id("store_id", id).has_value()) << id;
  }
}

TEST(Ids, InvalidIds) {
  for (std::string_view id : {"", "S 7", "S/7", "S+7", "S#7", "S.7", "S:7", "é", "$SYS",
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"}) {
    EXPECT_FALSE(is_valid_id(id)) << id;
  }
  EXPECT_FALSE(is_valid_id(std::string_view("S\0", 2)));
  const Status status = check_id("till_id", "T/1");
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().message, "till_id: must match [A-Za-z0-9_-]{1,32}");
}

TEST(Ids, FormatEpoch) {
  EXPECT_EQ(format_epoch(0), "0000000000000000");
  EXPECT_EQ(format_epoch(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(format_epoch(~0ULL), "ffffffffffffffff");
}

TEST(Ids, ParseEpoch) {
  EXPECT_EQ(parse_epoch("0123456789abcdef").value(), 0x0123456789abcdefULL);
  EXPECT_EQ(parse_epoch("0123456789ABCDEF").value(), 0x0123456789abcdefULL);
  EXPECT_EQ(parse_epoch("ffffffffffffffff").value(), ~0ULL);
  for (std::uint64_t e : {0ULL, 1ULL, 0x8000000000000000ULL, 0xdeadbeefcafef00dULL}) {
    EXPECT_EQ(parse_epoch(format_epoch(e)).value(), e);
  }
  for (std::string_view bad : {"", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg",
                               "0x23456789abcdef", " 123456789abcdef", "-123456789abcdef"}) {
    const auto epoch = parse_epoch(bad);
    ASSERT_FALSE(epoch.has_value()) << bad;
    EXPECT_EQ(epoch.error().message, "epoch: must be 16 hex digits");
  }
}

TEST(Ids, MakeEventId) {
  EXPECT_EQ(make_event_id("S07", "T1", 0x0123456789abcdefULL, 42), "S07-T1-0123456789abcdef-42");
  EXPECT_EQ(make_event_id("S07_b", "WH_1", 0, 1), "S07_b-WH_1-0000000000000000-1");
  EXPECT_EQ(make_event_id("S", "T", ~0ULL, ~0ULL), "S-T-ffffffffffffffff-18446744073709551615");
  // A '-' in the till id is kept; a '-' in the store id is written '.', so the first '-' always
  // ends the store part.
  EXPECT_EQ(make_event_id("S07", "T-1", 0, 1), "S07-T-1-0000000000000000-1");
  EXPECT_EQ(make_event_id("S-07", "WH_1", 0, 1), "S.07-WH_1-0000000000000000-1");
}

// The pair of the issue: store "A-B" with till "C" and store "A" with till "B-C" used to share
// every event id ("A-B-C-{epoch}-{seq}").
TEST(Ids, DashedIdsGiveDifferentEventIds) {
  EXPECT_NE(make_event_id("A-B", "C", 7, 1), make_event_id("A", "B-C", 7, 1));
  EXPECT_NE(till_key("A-B", "C"), till_key("A", "B-C"));
  EXPECT_EQ(till_key("S07", "T1"), "S07-T1");
  EXPECT_EQ(till_key("A-B", "C"), "A.B-C");
  EXPECT_EQ(till_key("A", "B-C"), "A-B-C");
}

// Ids that start, end or consist of '-' and '_', and the longest ones: every combination gives a
// distinct event id that parses back to exactly its parts.
TEST(Ids, EventIdIsInjectiveAndRoundTrips) {
  const std::vector<std::string> ids = {"A",
                                        "B",
                                        "C",
                                        "A-B",
                                        "B-C",
                                        "-",
                                        "--",
                                        "---",
                                        "-A",
                                        "A-",
                                        "-A-",
                                        "A--B",
                                        "_",
                                        "_-",
                                        "-_",
                                        "a_b",
                                        "0",
                                        "00",
                                        "S07",
                                        "T1",
                                        "S07-T1",
                                        "T1-0000000000000000",
                                        std::string(32, '-'),
                                        std::string(32, 'z'),
                                        std::string(31, 'x') + "-"};
  const std::vector<std::uint64_t> epochs = {0, 1, 0x0123456789abcdefULL, ~0ULL};
  const std::vector<std::uint64_t> seqs = {0, 1, 10, 18446744073709551615ULL};
  std::set<std::string> seen;
  std::size_t made = 0;
  for (const auto& store : ids) {
    for (const auto& till : ids) {
      ASSERT_TRUE(is_valid_id(store) && is_valid_id(till)) << store << " " << till;
      for (const auto epoch : epochs) {
        for (const auto seq : seqs) {
          const std::string id = make_event_id(store, till, epoch, seq);
          ++made;
          seen.insert(id);
          const auto parts = parse_event_id(id);
          ASSERT_TRUE(parts.has_value()) << id << ": " << parts.error().message;
          EXPECT_EQ(parts->store_id, store) << id;
          EXPECT_EQ(parts->till_id, till) << id;
          EXPECT_EQ(parts->epoch, epoch) << id;
          EXPECT_EQ(parts->seq, seq) << id;
        }
      }
    }
  }
  EXPECT_EQ(seen.size(), made);
}

TEST(Ids, ParseEventIdRefusesWhatMakeEventIdNeverMakes) {
  for (std::string_view bad :
       {"", "S07", "S07-T1", "S07-T1-0123456789abcdef", "S07-T1-0123456789abcdef-",
        "S07--0123456789abcdef-1", "-T1-0123456789abcdef-1", "S07-T1-0123456789ABCDEF-1",
        "S07-T1-0123456789abcde-1", "S07-T1-0123456789abcdef-01", "S07-T1-0123456789abcdef-x",
        "S07-T1-0123456789abcdef-18446744073709551616", "S 7-T1-0123456789abcdef-1",
        "S07-T/1-0123456789abcdef-1", "S07-T.1-0123456789abcdef-1", "S07-T1-0123456789abcdef--1",
        "S07-T1-0123456789abcdef-+1"}) {
    const auto parts = parse_event_id(bad);
    EXPECT_FALSE(parts.has_value()) << bad;
    if (!parts) {
      EXPECT_EQ(
          parts.error().message,
          "event_id: must be {store}-{till}-{epoch}-{seq} (a '-' in the store id written '.')")
          << bad;
    }
  }
}

// Agents before this version wrote a '-' of the store id as it is; those ids are still recognised
// for the ids they were made for.
TEST(Ids, LegacyEventIds) {
  EXPECT_EQ(make_legacy_event_id("A-B", "C", 7, 1), "A-B-C-0000000000000007-1");
  EXPECT_EQ(make_legacy_event_id("S07", "T-1", 7, 1), make_event_id("S07", "T-1", 7, 1));
  EXPECT_TRUE(is_event_id_of("A-B-C-0000000000000007-1", "A-B", "C", 7, 1));
  EXPECT_TRUE(is_event_id_of("A.B-C-0000000000000007-1", "A-B", "C", 7, 1));
  EXPECT_TRUE(is_event_id_of("A-B-C-0000000000000007-1", "A", "B-C", 7, 1));
  EXPECT_FALSE(is_event_id_of("A.B-C-0000000000000007-1", "A", "B-C", 7, 1));
  EXPECT_FALSE(is_event_id_of("A-B-C-0000000000000007-2", "A-B", "C", 7, 1));
  EXPECT_FALSE(is_event_id_of("A-B-C-0000000000000008-1", "A-B", "C", 7, 1));
}

// FNV-1a 64 reference values (the algorithm's published test vectors): the hash must never
// change, or tills would move to other brokers after an upgrade.
TEST(Ids, Fnv1a64KnownValues) {
  EXPECT_EQ(fnv1a_64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a_64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a_64("foobar"), 0x85944171f73967e8ULL);
}

TEST(Ids, TillHashIsFnv1aOfStoreSlashTill) {
  EXPECT_EQ(till_hash("S07", "T1"), fnv1a_64("S07/T1"));
  EXPECT_NE(till_hash("S07", "T1"), till_hash("S07", "T2"));
  EXPECT_NE(till_hash("S0", "7T1"), till_hash("S07", "T1"));
}

}  // namespace
}  // namespace pos::protocol
