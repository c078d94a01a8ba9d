#include "pos/protocol/ids.hpp"

#include <charconv>

namespace pos::protocol {

namespace {

constexpr std::size_t k_max_id_length = 32;

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > k_max_id_length) {
    return false;
  }
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

Status check_id(std::string_view what, std::string_view id) {
  if (is_valid_id(id)) {
    return {};
  }
  return fail(std::string(what) + ": must match [A-Za-z0-9_-]{1,32}");
}

std::string format_epoch(std::uint64_t epoch) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = k_digits[epoch & 0xfu];
    epoch >>= 4;
  }
  return out;
}

Result<std::uint64_t> parse_epoch(std::string_view text) {
  if (text.size() != 16) {
    return fail("epoch: must be 16 hex digits");
  }
  std::uint64_t epoch = 0;
  for (char c : text) {
    const int v = hex_value(c);
    if (v < 0) {
      return fail("epoch: must be 16 hex digits");
    }
    epoch = (epoch << 4) | static_cast<std::uint64_t>(v);
  }
  return epoch;
}

std::string make_event_id(std::string_view store_id, std::string_view till_id, std::uint64_t epoch,
                          std::uint64_t seq) {
  char seq_text[24];
  const auto [end, ec] = std::to_chars(seq_text, seq_text + sizeof seq_text, seq);
  (void)ec;
  std::string out;
  out.reserve(store_id.size() + till_id.size() + 19 + static_cast<std::size_t>(end - seq_text));
  out.append(store_id).append(1, '-').append(till_id).append(1, '-').append(format_epoch(epoch));
  out.append(1, '-').append(seq_text, end);
  return out;
}

}  // namespace pos::protocol
