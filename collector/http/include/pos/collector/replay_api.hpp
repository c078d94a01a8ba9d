#pragma once
// `POST /v1/replays` (ask a till to replay a range) and `GET /v1/replays` (what is known of
// replays), docs/replay.md. The command goes to the till over MQTT, retained, on
// `{prefix}/{store}/{till}/cmd`, which only collectors may write and only that till may read.

#include <string>
#include <string_view>

#include "pos/collector/replay_tracker.hpp"
#include "pos/common/clock.hpp"
#include "pos/common/http_server.hpp"
#include "pos/common/transport.hpp"

namespace pos::collector {

/// Io executor only. The tracker, transport and clock must outlive the API.
class ReplayApi {
 public:
  ReplayApi(ReplayTracker& tracker, common::Transport& transport, const common::Clock& clock,
            std::string topic_prefix);

  /// True when `target` is one of this API's paths.
  static bool handles(std::string_view target) noexcept;

  /// POST: body `{"till": "S07/T1", "from_seq": A, "to_seq": B}` or with `"from"`/`"to"` (RFC
  /// 3339), optional `"id"`; the id defaults to one derived from till and range, so the same
  /// request twice is one replay. Answers 202 with the replay's entry; 400 naming the field that
  /// is wrong; 415 unless application/json; 503 when the broker is not connected or too many
  /// replays are pending. GET: `{"replays": [...]}`, newest first, `?till=S07/T1` for one till,
  /// `?limit=N` (at most 1000). Never throws except std::bad_alloc.
  common::HttpResponse handle(const common::HttpRequest& request);

 private:
  common::HttpResponse post(const common::HttpRequest& request);
  common::HttpResponse get(const common::HttpRequest& request) const;

  ReplayTracker& m_tracker;
  common::Transport& m_transport;
  const common::Clock& m_clock;
  std::string m_topic_prefix;
};

}  // namespace pos::collector
