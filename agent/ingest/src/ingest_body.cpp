#include "pos/agent/ingest_body.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <utility>

namespace pos::agent {

namespace json = boost::json;

namespace {

constexpr std::string_view k_whitespace = " \t\r\n";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(k_whitespace);
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = s.find_last_not_of(k_whitespace);
  return s.substr(first, last - first + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Result<std::vector<BodyItem>, BodyError> body_error(int status, std::string message) {
  return Result<std::vector<BodyItem>, BodyError>::failure(BodyError{status, std::move(message)});
}

std::string more_than(const IngestBodyLimits& limits) {
  return "more than " + std::to_string(limits.max_events) + " events";
}

// Rewrites the protocol's "body: invalid JSON (reason) at offset N" for text starting at
// `first_line` into "body: invalid JSON at line L, column C: reason".
std::string json_error(std::string_view message, std::string_view text, std::size_t first_line) {
  std::string_view reason = message;
  if (reason.starts_with("body: ")) {
    reason.remove_prefix(6);
  }
  constexpr std::string_view k_invalid = "invalid JSON (";
  constexpr std::string_view k_offset = ") at offset ";
  const auto at = reason.rfind(k_offset);
  if (reason.starts_with(k_invalid) && at != std::string_view::npos && at > k_invalid.size()) {
    const auto digits = reason.substr(at + k_offset.size());
    std::size_t offset = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
    if (ec == std::errc() && ptr == digits.data() + digits.size() && offset <= text.size()) {
      const auto before = text.substr(0, offset);
      const auto line =
          first_line + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
      const auto newline = before.rfind('\n');
      const auto column = offset - (newline == std::string_view::npos ? 0 : newline + 1) + 1;
      return "body: invalid JSON at line " + std::to_string(line) + ", column " +
             std::to_string(column) + ": " +
             std::string(reason.substr(k_invalid.size(), at - k_invalid.size()));
    }
  }
  return "body: invalid JSON at line " + std::to_string(first_line) + ": " + std::string(reason);
}

// The values of one body live in one monotonic pool, shared by its events (reference-counted, so
// an event may outlive the parse): no malloc/free per JSON value, and freeing the events does not
// walk their trees.
json::storage_ptr body_pool(std::size_t body_bytes) {
  constexpr std::size_t k_min_block = 4096;
  return json::make_shared_resource<json::monotonic_resource>(
      std::max(k_min_block, 2 * body_bytes));
}

// Adds the stored size of each valid event to `stored`.
Result<protocol::PosEvent> validate_value(json::value value, const protocol::EventOwner& owner,
                                          const IngestBodyLimits& limits, std::uint64_t& stored) {
  if (!value.is_object()) {
    return fail("event: must be a JSON object");
  }
  // Before anything else sees the event: a card number must never be stored, logged or sent.
  if (auto guarded = guard_card_numbers(value.get_object(), limits.card_numbers); !guarded) {
    return fail(std::move(guarded).error());
  }
  auto event = protocol::validate_pos_event(std::move(value.get_object()), owner, limits.event);
  if (!event) {
    return event;
  }
  // The same per-event limit for every body form, on the form the collector will parse.
  const protocol::JsonMeasure measure = protocol::measure_event(*event);
  if (auto fits = protocol::check_event_size(measure, limits.event); !fits) {
    return fail(std::move(fits).error());
  }
  stored += measure.canonical_bytes;
  return event;
}

// A body whose events can never fit into the whole buffer would be refused `full` forever.
std::optional<BodyError> check_stored(std::uint64_t stored, const IngestBodyLimits& limits) {
  if (limits.max_stored_bytes == 0 || stored <= limits.max_stored_bytes) {
    return std::nullopt;
  }
  std::string message = "events take at least " + std::to_string(stored) +
                        " bytes as stored, more than the whole buffer holds";
  message += " (buffer.max_bytes = " + std::to_string(limits.max_stored_bytes) + ")";
  return BodyError{413, std::move(message)};
}

// Calls `fn(line_number, line)` for every line that is not blank; stops when fn returns false.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    if (trim(line).empty()) {
      continue;
    }
    if (!fn(line_number, line)) {
      return;
    }
  }
}

// `strict`: a line that is not JSON (or is too long) fails the whole body.
Result<std::vector<BodyItem>, BodyError> parse_ndjson(std::string_view text,
                                                      const protocol::EventOwner& owner,
                                                      const IngestBodyLimits& limits, bool strict) {
  if (text.size() > limits.max_bytes) {
    return body_error(
        413, "body: larger than the limit of " + std::to_string(limits.max_bytes) + " bytes");
  }
  std::size_t count = 0;
  for_each_line(text, [&](std::size_t, std::string_view) { return ++count <= limits.max_events; });
  if (count > limits.max_events) {
    return body_error(413, more_than(limits));
  }

  std::vector<BodyItem> items;
  items.reserve(count);
  std::optional<BodyError> whole;
  std::uint64_t stored = 0;
  const json::storage_ptr pool = body_pool(text.size());
  for_each_line(text, [&](std::size_t line_number, std::string_view line) {
    if (line.size() > limits.event.max_bytes) {
      std::string message = "body: line " + std::to_string(line_number) +
                            " is larger than the limit of " +
                            std::to_string(limits.event.max_bytes) + " bytes per event";
      if (strict) {
        whole = BodyError{413, std::move(message)};
        return false;
      }
      items.push_back(
          {line_number, Result<protocol::PosEvent>::failure(Error{std::move(message)})});
      return true;
    }
    std::vector<protocol::DuplicateKey> duplicates;
    auto value = protocol::parse_json_bounded(line, limits.event, pool, &duplicates);
    if (value && !duplicates.empty()) {
      items.push_back({line_number, fail(protocol::duplicate_key_error(duplicates.front()))});
      return true;
    }
    if (!value) {
      std::string message = json_error(value.error().message, line, line_number);
      if (strict) {
        whole = BodyError{400, std::move(message)};
        return false;
      }
      items.push_back({line_number, fail(std::move(message))});
      return true;
    }
    items.push_back({line_number, validate_value(std::move(*value), owner, limits, stored)});
    return true;
  });
  if (!whole) {
    whole = check_stored(stored, limits);
  }
  if (whole) {
    return Result<std::vector<BodyItem>, BodyError>::failure(std::move(*whole));
  }
  return items;
}

Result<std::vector<BodyItem>, BodyError> parse_json_body(std::string_view body,
                                                         const protocol::EventOwner& owner,
                                                         const IngestBodyLimits& limits) {
  if (body.size() > limits.max_bytes) {
    return body_error(
        413, "body: larger than the limit of " + std::to_string(limits.max_bytes) + " bytes");
  }
  protocol::EventLimits body_limits = limits.event;
  body_limits.max_bytes = limits.max_bytes;
  body_limits.max_depth = limits.event.max_depth + 1;  // the enclosing array
  // A duplicated key rejects its event (element), not the whole body.
  std::vector<protocol::DuplicateKey> duplicates;
  auto parsed =
      protocol::parse_json_bounded(body, body_limits, body_pool(body.size()), &duplicates);
  if (!parsed) {
    return body_error(400, json_error(parsed.error().message, body, 1));
  }
  auto duplicate = duplicates.begin();
  std::uint64_t stored = 0;
  auto validate = [&](std::size_t element, json::value value) -> Result<protocol::PosEvent> {
    if (duplicate != duplicates.end() && duplicate->element == element) {
      return fail(protocol::duplicate_key_error(*duplicate++));
    }
    return validate_value(std::move(value), owner, limits, stored);
  };

  std::vector<BodyItem> items;
  if (parsed->is_object()) {
    items.push_back({0, validate(0, std::move(*parsed))});
    if (auto error = check_stored(stored, limits)) {
      return Result<std::vector<BodyItem>, BodyError>::failure(std::move(*error));
    }
    return items;
  }
  if (!parsed->is_array()) {
    return body_error(400, "body: must be a JSON object or an array of objects");
  }
  auto& array = parsed->get_array();
  if (array.size() > limits.max_events) {
    return body_error(413, more_than(limits));
  }
  items.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    items.push_back({0, validate(i, std::move(array[i]))});
  }
  if (auto error = check_stored(stored, limits)) {
    return Result<std::vector<BodyItem>, BodyError>::failure(std::move(*error));
  }
  return items;
}

}  // namespace

Result<BodyFormat, BodyError> body_format(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  const auto media_text = trim(content_type.substr(0, semicolon));
  const auto media = lower(media_text);
  auto unsupported = [&](std::string why) {
    return Result<BodyFormat, BodyError>::failure(
        BodyError{415, "content type " + std::string(media_text) + ": " + std::move(why)});
  };
  if (media.empty()) {
    return Result<BodyFormat, BodyError>::failure(
        BodyError{415, "content type missing: use application/json or application/x-ndjson"});
  }
  BodyFormat format = BodyFormat::json;
  if (media == "application/json") {
    format = BodyFormat::json;
  } else if (media == "application/x-ndjson") {
    format = BodyFormat::ndjson;
  } else {
    return unsupported("use application/json or application/x-ndjson");
  }
  std::string_view params =
      semicolon == std::string_view::npos ? std::string_view{} : content_type.substr(semicolon + 1);
  while (!params.empty()) {
    const auto next = params.find(';');
    const auto param = trim(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
    const auto equals = param.find('=');
    if (equals == std::string_view::npos) {
      continue;
    }
    if (lower(trim(param.substr(0, equals))) != "charset") {
      continue;
    }
    auto value = trim(param.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    const auto charset = lower(value);
    if (charset != "utf-8" && charset != "utf8") {
      return unsupported("charset must be utf-8");
    }
  }
  return format;
}

Result<std::vector<BodyItem>, BodyError> parse_ingest_body(std::string_view content_type,
                                                           std::string_view body,
                                                           const protocol::EventOwner& owner,
                                                           const IngestBodyLimits& limits) {
  auto format = body_format(content_type);
  if (!format) {
    return Result<std::vector<BodyItem>, BodyError>::failure(format.error());
  }
  if (*format == BodyFormat::ndjson) {
    return parse_ndjson(body, owner, limits, true);
  }
  return parse_json_body(body, owner, limits);
}

Result<std::vector<BodyItem>, BodyError> parse_ndjson_items(std::string_view text,
                                                            const protocol::EventOwner& owner,
                                                            const IngestBodyLimits& limits) {
  return parse_ndjson(text, owner, limits, false);
}

}  // namespace pos::agent
