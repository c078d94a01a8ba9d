#include "pos/simulator/runner.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace pos::simulator {
namespace {

TEST(IngestAnswer, OneOutcomePerEventInOrder) {
  const auto r = parse_ingest_answer(
      R"({"accepted":1,"duplicates":1,"rejected":1,"results":[)"
      R"({"index":0,"status":"accepted","event_id":"S01-T1-00000000000000aa-1"},)"
      R"({"index":1,"status":"duplicate","event_id":"S01-T1-00000000000000aa-1"},)"
      R"({"index":2,"status":"rejected","error":"lines[0].qty: must be an integer >= 1"}]})",
      3);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3U);
  EXPECT_EQ((*r)[0].status, EventOutcome::Status::accepted);
  EXPECT_EQ((*r)[1].status, EventOutcome::Status::duplicate);
  EXPECT_EQ((*r)[1].event_id, "S01-T1-00000000000000aa-1");
  EXPECT_EQ((*r)[2].status, EventOutcome::Status::rejected);
  EXPECT_EQ((*r)[2].error, "lines[0].qty: must be an integer >= 1");
}

TEST(IngestAnswer, MismatchesAreErrors) {
  EXPECT_EQ(parse_ingest_answer("nope", 1).error().message, "answer: not a JSON object");
  EXPECT_EQ(parse_ingest_answer("{}", 1).error().message, "answer: no results array");
  EXPECT_EQ(parse_ingest_answer(R"({"results":[]})", 1).error().message,
            "answer: 0 results for 1 events");
  EXPECT_EQ(
      parse_ingest_answer(R"({"results":[{"index":1,"status":"accepted","event_id":"x"}]})", 1)
          .error()
          .message,
      "answer: results[0].index: must be 0");
  EXPECT_EQ(parse_ingest_answer(R"({"results":[{"index":0,"status":"ok","event_id":"x"}]})", 1)
                .error()
                .message,
            "answer: results[0].status: unknown 'ok'");
  EXPECT_EQ(
      parse_ingest_answer(R"({"results":[{"index":0,"status":"accepted"}]})", 1).error().message,
      "answer: results[0].event_id: missing");
}

TEST(AcceptedLog, LineCarriesTheEventAsSent) {
  const std::string event = R"({"type":"sale","pos_event_id":"S07-T1-R000001"})";
  const std::string line = accepted_log_line(
      {"S07", "T1"}, "S07-T1-R000001",
      {EventOutcome::Status::duplicate, "S07-T1-0011223344556677-9", ""}, 1'795'000'000'123, event);
  ASSERT_TRUE(line.ends_with("}\n"));
  const auto doc = boost::json::parse(line).as_object();
  EXPECT_EQ(doc.at("store_id").as_string(), "S07");
  EXPECT_EQ(doc.at("till_id").as_string(), "T1");
  EXPECT_EQ(doc.at("pos_event_id").as_string(), "S07-T1-R000001");
  EXPECT_EQ(doc.at("event_id").as_string(), "S07-T1-0011223344556677-9");
  EXPECT_EQ(doc.at("status").as_string(), "duplicate");
  EXPECT_EQ(doc.at("answered_at_ms").as_int64(), 1'795'000'000'123);
  EXPECT_NE(line.find(R"("event":)" + event + "}"), std::string::npos) << "byte for byte";
}

TEST(Summary, JsonHasEveryCounter) {
  RunSummary s;
  s.sent = 10;
  s.accepted = 7;
  s.duplicates = 1;
  s.rejected = 1;
  s.errors = 0;
  s.retries = 3;
  s.unconfirmed = 1;
  s.elapsed_s = 2.5;
  EXPECT_EQ(to_json(s),
            R"({"sent":10,"accepted":7,"duplicates":1,"rejected":1,"errors":0,"retries":3,)"
            R"("unconfirmed":1,"elapsed_s":2.500})");
}

}  // namespace
}  // namespace pos::simulator
