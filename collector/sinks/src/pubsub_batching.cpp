#include "pubsub_batching.hpp"

#include <array>
#include <boost/json.hpp>

namespace pos::collector::detail {
namespace json = boost::json;

namespace {

constexpr std::size_t base64_length(std::size_t n, bool pad) {
  return pad ? (n + 2) / 3 * 4 : n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

// Writes the base64 of `in` at `out`, which has room for base64_length(in.size(), pad) chars.
void base64_into(std::string_view in, const char* alphabet, bool pad, char* out) {
  const auto byte = [&](std::size_t k) {
    return static_cast<unsigned>(static_cast<unsigned char>(in[k]));
  };
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out[0] = alphabet[(v >> 18) & 63];
    out[1] = alphabet[(v >> 12) & 63];
    out[2] = alphabet[(v >> 6) & 63];
    out[3] = alphabet[v & 63];
    out += 4;
  }
  const std::size_t rest = in.size() - i;
  if (rest == 0) {
    return;
  }
  const unsigned v = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0);
  out[0] = alphabet[(v >> 18) & 63];
  out[1] = alphabet[(v >> 12) & 63];
  if (rest == 2) {
    out[2] = alphabet[(v >> 6) & 63];
  }
  if (pad) {
    out[2] = rest == 2 ? out[2] : '=';
    out[3] = '=';
  }
}

constexpr const char* base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_with(std::string_view in, const char* alphabet, bool pad) {
  std::string out(base64_length(in.size(), pad), '\0');
  base64_into(in, alphabet, pad, out.data());
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  out += json::serialize(json::string_view(text.data(), text.size()));
}

}  // namespace

std::string base64_encode(std::string_view in) {
  return base64_with(in, base64_alphabet, true);
}

std::string base64url_encode(std::string_view in) {
  return base64_with(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);
}

// The same text as json::serialize of {"data", "attributes", "orderingKey"} in that order, written
// directly: the base64 (most of the message) needs no escaping, so it is written in place instead
// of being built, copied into a json::string and scanned again by the serializer.
std::string encode_message(const OutMessage& message, bool with_ordering_key) {
  constexpr std::string_view data_prefix = R"({"data":")";
  const std::size_t data_chars = base64_length(message.data.size(), true);
  std::string out;
  out.reserve(data_prefix.size() + data_chars + 64 + message_billing_bytes(message) * 2);
  out += data_prefix;
  const std::size_t at = out.size();
  out.resize(at + data_chars);
  base64_into(message.data, base64_alphabet, true, out.data() + at);
  out += '"';
  if (!message.attributes.empty()) {
    out += R"(,"attributes":{)";
    bool first = true;
    for (const auto& [key, value] : message.attributes) {
      if (!first) {
        out += ',';
      }
      first = false;
      append_json_string(out, key);
      out += ':';
      append_json_string(out, value);
    }
    out += '}';
  }
  if (with_ordering_key && !message.ordering_key.empty()) {
    out += R"(,"orderingKey":)";
    append_json_string(out, message.ordering_key);
  }
  out += '}';
  return out;
}

std::size_t message_billing_bytes(const OutMessage& message) {
  std::size_t bytes = message.data.size() + message.ordering_key.size();
  for (const auto& [key, value] : message.attributes) {
    bytes += key.size() + value.size();
  }
  return bytes;
}

bool batch_full(std::size_t count, std::size_t body_bytes, const BatchLimits& limits) {
  return count >= limits.max_messages || body_bytes >= limits.max_bytes;
}

Outcome classify_status(unsigned status) {
  if (status >= 200 && status < 300) {
    return Outcome::ok;
  }
  if (status == 401 || status == 408 || status == 409 || status == 429 || status == 499 ||
      status >= 500) {
    return Outcome::retryable;
  }
  return Outcome::permanent;
}

Result<std::size_t> parse_publish_response(std::string_view body) {
  boost::system::error_code ec;
  const json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) {
    return fail("publish response: not a JSON object");
  }
  const json::value* ids = value.as_object().if_contains("messageIds");
  if (ids == nullptr || !ids->is_array()) {
    return fail("publish response: no messageIds array");
  }
  return ids->as_array().size();
}

std::string publish_error(std::string_view topic_path, unsigned status, std::string_view body) {
  constexpr std::size_t max_body = 512;
  std::string detail;
  boost::system::error_code ec;
  const json::value value = json::parse(body, ec);
  if (!ec && value.is_object()) {
    if (const auto* error = value.as_object().if_contains("error"); error && error->is_object()) {
      if (const auto* message = error->as_object().if_contains("message");
          message && message->is_string()) {
        detail = std::string(message->as_string());
      }
    }
  }
  if (detail.empty()) {
    detail = std::string(body);
  }
  if (detail.size() > max_body) {
    detail = detail.substr(0, max_body) + "...";
  }
  std::string out = "publish to " + std::string(topic_path) + ": HTTP " + std::to_string(status);
  if (status == 404) {
    out += ": topic " + std::string(topic_path) + " does not exist";
  }
  if (status == 403) {
    out += ": permission denied";
  }
  if (!detail.empty()) {
    out += ": " + detail;
  }
  return out;
}

std::chrono::nanoseconds pacing_interval(std::size_t bytes, std::size_t bytes_per_second) {
  if (bytes_per_second == 0) {
    return std::chrono::nanoseconds(0);
  }
  const long double seconds = static_cast<long double>(bytes) / bytes_per_second;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9L));
}

}  // namespace pos::collector::detail
