// MQTT topic names (SPEC "MQTT").

#include "pos/protocol/topics.hpp"

#include "pos/protocol/ids.hpp"

namespace pos::protocol {

namespace {

constexpr std::size_t k_max_prefix = 128;

bool parse_kind(std::string_view text, TopicKind& kind) noexcept {
  for (TopicKind k :
       {TopicKind::batch, TopicKind::ack, TopicKind::status, TopicKind::replay, TopicKind::cmd}) {
    if (text == to_string(k)) {
      kind = k;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view to_string(TopicKind kind) noexcept {
  switch (kind) {
    case TopicKind::batch:
      return "batch";
    case TopicKind::ack:
      return "ack";
    case TopicKind::status:
      return "status";
    case TopicKind::replay:
      return "replay";
    case TopicKind::cmd:
      return "cmd";
  }
  return "batch";
}

Status check_topic_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > k_max_prefix) {
    return fail("topic_prefix: must be 1-128 characters");
  }
  if (prefix.front() == '$') {
    return fail("topic_prefix: must not start with '$'");
  }
  if (prefix.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos) {
    return fail("topic_prefix: must not contain '+', '#' or NUL");
  }
  if (prefix.front() == '/' || prefix.back() == '/' ||
      prefix.find("//") != std::string_view::npos) {
    return fail("topic_prefix: must not have an empty level");
  }
  return {};
}

Result<std::string> make_topic(std::string_view prefix, std::string_view store_id,
                               std::string_view till_id, TopicKind kind) {
  if (auto s = check_topic_prefix(prefix); !s) {
    return fail(s.error());
  }
  if (auto s = check_id("store_id", store_id); !s) {
    return fail(s.error());
  }
  if (auto s = check_id("till_id", till_id); !s) {
    return fail(s.error());
  }
  const std::string_view kind_name = to_string(kind);
  std::string topic;
  topic.reserve(prefix.size() + store_id.size() + till_id.size() + kind_name.size() + 3);
  topic.append(prefix).append(1, '/').append(store_id).append(1, '/').append(till_id);
  topic.append(1, '/').append(kind_name);
  return topic;
}

Result<TillTopic> parse_topic(std::string_view prefix, std::string_view topic) {
  if (topic.size() <= prefix.size() || topic.compare(0, prefix.size(), prefix) != 0 ||
      topic[prefix.size()] != '/') {
    return fail("topic: not under the prefix " + std::string(prefix));
  }
  std::string_view rest = topic.substr(prefix.size() + 1);
  std::string_view levels[3];
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t slash = rest.find('/');
    if ((slash == std::string_view::npos) != (i == 2)) {
      return fail("topic: must be " + std::string(prefix) + "/{store}/{till}/{kind}");
    }
    levels[i] = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
      rest.remove_prefix(slash + 1);
    }
  }
  TillTopic out;
  if (auto s = check_id("topic store_id", levels[0]); !s) {
    return fail(s.error());
  }
  if (auto s = check_id("topic till_id", levels[1]); !s) {
    return fail(s.error());
  }
  if (!parse_kind(levels[2], out.kind)) {
    return fail("topic: unknown kind '" + std::string(levels[2]) +
                "' (must be one of batch, ack, status, replay, cmd)");
  }
  out.store_id.assign(levels[0]);
  out.till_id.assign(levels[1]);
  return out;
}

namespace {

Result<std::string> shared_subscription(std::string_view group, std::string_view prefix,
                                        TopicKind kind) {
  if (auto s = check_id("share_group", group); !s) {
    return fail(s.error());
  }
  if (auto s = check_topic_prefix(prefix); !s) {
    return fail(s.error());
  }
  std::string out = "$share/";
  out.append(group).append(1, '/').append(prefix).append("/+/+/").append(to_string(kind));
  return out;
}

}  // namespace

Result<std::string> shared_batch_subscription(std::string_view group, std::string_view prefix) {
  return shared_subscription(group, prefix, TopicKind::batch);
}

Result<std::string> shared_replay_subscription(std::string_view group, std::string_view prefix) {
  return shared_subscription(group, prefix, TopicKind::replay);
}

}  // namespace pos::protocol
