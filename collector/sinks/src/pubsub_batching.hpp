#pragma once
// Pure pieces of the Pub/Sub publisher: message encoding, batch cutting, status classification,
// pacing. No I/O, unit-tested on their own.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "pos/collector/sink.hpp"
#include "pos/protocol/result.hpp"

namespace pos::collector::detail {

/// Standard base64 with padding (Pub/Sub's `data`).
std::string base64_encode(std::string_view in);
/// base64url without padding (JWT, RFC 7515).
std::string base64url_encode(std::string_view in);

/// One element of the publish request's "messages" array: {"data","attributes","orderingKey"}.
/// Empty attributes and (or with_ordering_key false) an empty key are left out.
std::string encode_message(const OutMessage& message, bool with_ordering_key);

/// Size Pub/Sub counts for a message (data + attribute keys and values + ordering key).
std::size_t message_billing_bytes(const OutMessage& message);

/// Bytes of `{"messages":[]}`; each further message adds its encoded size plus one comma.
inline constexpr std::size_t publish_body_overhead = 15;

struct BatchLimits {
  std::size_t max_messages = 1000;
  std::size_t max_bytes = 9 * 1024 * 1024;
};

/// How many leading messages (with encoded sizes from size_of(item)) go in the next request:
/// at least one when `items` is non-empty (a message larger than max_bytes goes alone), at most
/// max_messages, and the body stays within max_bytes otherwise.
template <class Range, class SizeOf>
std::size_t batch_count(const Range& items, const BatchLimits& limits, SizeOf size_of) {
  std::size_t count = 0;
  std::size_t bytes = publish_body_overhead;
  for (const auto& item : items) {
    if (count == limits.max_messages) {
      break;
    }
    const std::size_t add = size_of(item) + (count > 0 ? 1 : 0);
    if (count > 0 && bytes + add > limits.max_bytes) {
      break;
    }
    bytes += add;
    ++count;
  }
  return count;
}

/// True when a queue of `count` messages and `body_bytes` (as batch_count counts) must be sent now
/// rather than wait for the batch delay.
bool batch_full(std::size_t count, std::size_t body_bytes, const BatchLimits& limits);

enum class Outcome { ok, retryable, permanent };

/// 2xx ok; 401 (token refresh), 408, 409, 429, 499 and 5xx retryable; anything else permanent.
Outcome classify_status(unsigned status);

/// Number of ids in a publish response {"messageIds":[...]}; an error for anything else.
Result<std::size_t> parse_publish_response(std::string_view body);

/// "publish to projects/p/topics/t: HTTP 404: topic projects/p/topics/t does not exist: {body}"
/// with Pub/Sub's error message (or the raw body, truncated to 512 bytes).
std::string publish_error(std::string_view topic_path, unsigned status, std::string_view body);

/// Time a key must wait after sending `bytes` to stay at `bytes_per_second` (0: no pacing).
std::chrono::nanoseconds pacing_interval(std::size_t bytes, std::size_t bytes_per_second);

}  // namespace pos::collector::detail
