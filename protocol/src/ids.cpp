#include "pos/protocol/ids.hpp"

#include <charconv>

namespace pos::protocol {

namespace {

// How till_key() writes a '-' of the store id; never part of an id.
constexpr char k_store_dash = '.';

constexpr std::uint64_t k_fnv_offset_basis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t k_fnv_prime = 0x100000001b3ULL;

// FNV-1a over `data`, continuing from `hash`.
std::uint64_t fnv1a_continue(std::uint64_t hash, std::string_view data) noexcept {
  for (const char c : data) {
    hash ^= static_cast<unsigned char>(c);
    hash *= k_fnv_prime;
  }
  return hash;
}

// Appends "-{epoch as 16 hex}-{seq}".
void append_epoch_and_seq(std::string& out, std::uint64_t epoch, std::uint64_t seq) {
  char seq_text[24];
  const auto [end, ec] = std::to_chars(seq_text, seq_text + sizeof seq_text, seq);
  (void)ec;
  out.append(1, '-');
  out.append(format_epoch(epoch));
  out.append(1, '-').append(seq_text, end);
}

}  // namespace

bool is_valid_id(std::string_view id, std::size_t max_length) noexcept {
  if (id.empty() || id.size() > max_length) {
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

Result<TillName> parse_till_name(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || !is_valid_id(text.substr(0, slash)) ||
      !is_valid_id(text.substr(slash + 1))) {
    return fail("must be STORE/TILL, each [A-Za-z0-9_-]{1,32}");
  }
  return TillName{std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
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
    const int v = hex_digit_value(c);
    if (v < 0) {
      return fail("epoch: must be 16 hex digits");
    }
    epoch = (epoch << 4) | static_cast<std::uint64_t>(v);
  }
  return epoch;
}

std::uint64_t fnv1a_64(std::string_view data) noexcept {
  return fnv1a_continue(k_fnv_offset_basis, data);
}

std::uint64_t till_hash(std::string_view store_id, std::string_view till_id) noexcept {
  // fnv1a_64("{store}/{till}") without building the string.
  return fnv1a_continue(fnv1a_continue(fnv1a_continue(k_fnv_offset_basis, store_id), "/"), till_id);
}

std::string till_key(std::string_view store_id, std::string_view till_id) {
  std::string out;
  out.reserve(store_id.size() + 1 + till_id.size());
  for (const char c : store_id) {
    out.push_back(c == '-' ? k_store_dash : c);
  }
  out.append(1, '-').append(till_id);
  return out;
}

std::string make_event_id(std::string_view store_id, std::string_view till_id, std::uint64_t epoch,
                          std::uint64_t seq) {
  std::string out = till_key(store_id, till_id);
  append_epoch_and_seq(out, epoch, seq);
  return out;
}

std::string make_legacy_event_id(std::string_view store_id, std::string_view till_id,
                                 std::uint64_t epoch, std::uint64_t seq) {
  std::string out;
  out.reserve(store_id.size() + till_id.size() + 40);
  out.append(store_id).append(1, '-').append(till_id);
  append_epoch_and_seq(out, epoch, seq);
  return out;
}

bool is_event_id_of(std::string_view event_id, std::string_view store_id, std::string_view till_id,
                    std::uint64_t epoch, std::uint64_t seq) {
  return event_id == make_event_id(store_id, till_id, epoch, seq) ||
         (store_id.find('-') != std::string_view::npos &&
          event_id == make_legacy_event_id(store_id, till_id, epoch, seq));
}

Result<EventIdParts> parse_event_id(std::string_view event_id) {
  const auto bad = [] {
    return fail(
        "event_id: must be {store}-{till}-{epoch}-{seq} (a '-' in the store id written '.')");
  };
  const auto store_end = event_id.find('-');
  const auto seq_dash = event_id.rfind('-');
  if (store_end == std::string_view::npos || seq_dash < 17 || seq_dash - 17 <= store_end) {
    return bad();
  }
  const auto epoch_dash = seq_dash - 17;
  if (event_id[epoch_dash] != '-') {
    return bad();
  }
  EventIdParts parts;
  parts.store_id.assign(event_id.substr(0, store_end));
  for (char& c : parts.store_id) {
    if (c == k_store_dash) {
      c = '-';
    } else if (c == '-') {
      return bad();
    }
  }
  parts.till_id.assign(event_id.substr(store_end + 1, epoch_dash - store_end - 1));
  if (!is_valid_id(parts.store_id) || !is_valid_id(parts.till_id)) {
    return bad();
  }
  const auto epoch_text = event_id.substr(epoch_dash + 1, 16);
  const auto epoch = parse_epoch(epoch_text);
  if (!epoch || format_epoch(*epoch) != epoch_text) {
    return bad();
  }
  parts.epoch = *epoch;
  const auto seq_text = event_id.substr(seq_dash + 1);
  if (seq_text.empty() || (seq_text.size() > 1 && seq_text.front() == '0') ||
      seq_text.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad();
  }
  const auto [end, ec] =
      std::from_chars(seq_text.data(), seq_text.data() + seq_text.size(), parts.seq);
  if (ec != std::errc() || end != seq_text.data() + seq_text.size()) {
    return bad();
  }
  return parts;
}

int hex_digit_value(char c) noexcept {
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

}  // namespace pos::protocol
