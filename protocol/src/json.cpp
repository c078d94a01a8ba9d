// Bounded JSON parsing, canonical JSON and RFC 3339 helpers.

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "json_internal.hpp"
#include "pos/protocol/event.hpp"

namespace pos::protocol {

namespace json = boost::json;

namespace {

// A growable array of trivially copyable T that lives inline up to N elements (no allocation for
// the objects of an event) and moves to the heap beyond.
template <class T, std::size_t N>
class InlineArray {
 public:
  InlineArray() = default;
  InlineArray(const InlineArray&) = delete;
  InlineArray& operator=(const InlineArray&) = delete;

  std::size_t size() const noexcept { return m_size; }
  bool empty() const noexcept { return m_size == 0; }
  T* data() noexcept { return m_data; }
  const T* data() const noexcept { return m_data; }
  T& operator[](std::size_t i) noexcept { return m_data[i]; }
  const T& operator[](std::size_t i) const noexcept { return m_data[i]; }
  T& back() noexcept { return m_data[m_size - 1]; }
  const T& front() const noexcept { return m_data[0]; }

  void push_back(const T& item) {
    reserve(m_size + 1);
    m_data[m_size++] = item;
  }
  void append(const T* items, std::size_t n) {
    if (n == 0) {
      return;
    }
    reserve(m_size + n);
    std::memcpy(m_data + m_size, items, n * sizeof(T));
    m_size += n;
  }
  void pop_back() noexcept { --m_size; }
  void truncate(std::size_t size) noexcept { m_size = size; }

 private:
  void reserve(std::size_t wanted) {
    if (wanted <= m_capacity) {
      return;
    }
    std::vector<T> bigger(std::max(wanted, 2 * m_capacity));
    std::memcpy(bigger.data(), m_data, m_size * sizeof(T));
    m_heap = std::move(bigger);
    m_data = m_heap.data();
    m_capacity = m_heap.size();
  }

  T m_inline[N];
  std::vector<T> m_heap;
  T* m_data = m_inline;
  std::size_t m_size = 0;
  std::size_t m_capacity = N;
};

// The keys of the objects being parsed, to find a key given twice in one object (Boost.JSON's
// value_stack silently keeps the last). Each open object or array is a frame; the bytes of the
// open objects' keys are kept in one buffer, with an entry (a 64-bit tag of the first 8 bytes and
// the size, offset, size) per key, and an object's keys are dropped when it ends. A duplicate is
// looked for when an object ends: pairwise by tag for small objects (events are made of them), by
// sorting the tags beyond, so that no object costs quadratic time.
class KeyTracker {
 public:
  /// Where the duplicates go: nullptr: the first one fails the parse.
  std::vector<DuplicateKey>* report = nullptr;
  /// The first duplicate found (path from the root) when `report` is null.
  std::optional<std::string> failed_path;

  void begin(bool object) {
    m_frames.push_back(Frame{object, m_keys.size(), m_entries.size(), 0, 0});
  }
  void key_part(std::string_view s) {
    if (!m_in_key) {
      m_in_key = true;
      m_key_at = m_keys.size();
    }
    m_keys.append(s.data(), s.size());
  }
  void key(std::string_view s) {
    key_part(s);
    m_in_key = false;
    Frame& frame = m_frames.back();
    frame.last_entry = m_entries.size();
    const std::size_t size = m_keys.size() - m_key_at;
    std::uint64_t head = 0;  // the first 8 bytes and the size: cheap and tells most keys apart
    std::memcpy(&head, m_keys.data() + m_key_at, std::min(size, sizeof head));
    m_entries.push_back(Entry{head ^ (static_cast<std::uint64_t>(size) << 56), m_key_at, size});
    ++frame.count;
  }
  /// A scalar value ended, or (after end()) a container.
  void value() {
    if (!m_frames.empty() && !m_frames.back().object) {
      ++m_frames.back().count;
    }
  }
  /// Ends the innermost frame; false when it was an object with a duplicate key and the parse
  /// must fail.
  bool end() {
    bool ok = true;
    const Frame frame = m_frames.back();
    if (frame.object && frame.count > 1) {
      if (const auto duplicate = find_duplicate(frame)) {
        ok = found(*duplicate);
      }
    }
    m_keys.truncate(frame.keys_at);
    m_entries.truncate(frame.entries_at);
    m_frames.pop_back();
    value();
    return ok;
  }

 private:
  struct Frame {
    bool object = false;
    std::size_t keys_at = 0;     ///< this object's first key byte in m_keys
    std::size_t entries_at = 0;  ///< this object's first entry in m_entries
    std::size_t count = 0;       ///< keys so far (object) or values completed (array)
    std::size_t last_entry = 0;  ///< the current key's entry (object)
  };
  struct Entry {
    std::uint64_t hash = 0;
    std::size_t at = 0;
    std::size_t size = 0;
  };

  std::string_view name(const Entry& e) const { return {m_keys.data() + e.at, e.size}; }
  bool same(const Entry& a, const Entry& b) const {
    return a.hash == b.hash && a.size == b.size &&
           (a.size == 0 || std::memcmp(m_keys.data() + a.at, m_keys.data() + b.at, a.size) == 0);
  }

  // The key whose second occurrence comes first in the text.
  std::optional<std::string_view> find_duplicate(const Frame& frame) const {
    constexpr std::size_t k_scan_limit = 16;
    const Entry* entries = m_entries.data() + frame.entries_at;
    const std::size_t n = m_entries.size() - frame.entries_at;
    if (n <= k_scan_limit) {
      for (std::size_t j = 1; j < n; ++j) {
        for (std::size_t i = 0; i < j; ++i) {
          if (same(entries[i], entries[j])) {
            return name(entries[j]);
          }
        }
      }
      return std::nullopt;
    }
    std::vector<std::pair<std::uint64_t, std::size_t>> order;  // (hash, index)
    order.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      order.emplace_back(entries[i].hash, i);
    }
    std::sort(order.begin(), order.end());
    std::size_t first = n;  // index of the earliest second occurrence
    for (std::size_t run = 0; run < n;) {
      std::size_t end = run + 1;
      while (end < n && order[end].first == order[run].first) {
        ++end;
      }
      for (std::size_t j = run + 1; j < end; ++j) {  // runs of equal hashes are tiny
        for (std::size_t i = run; i < j; ++i) {
          if (same(entries[order[i].second], entries[order[j].second])) {
            first = std::min(first, order[j].second);
          }
        }
      }
      run = end;
    }
    if (first == n) {
      return std::nullopt;
    }
    return name(entries[first]);
  }

  static void append_key(std::string& path, std::string_view key) {
    constexpr std::size_t k_max_shown = 64;
    if (!path.empty()) {
      path.push_back('.');
    }
    if (key.size() <= k_max_shown) {
      path.append(key);
      return;
    }
    std::size_t cut = k_max_shown;
    while (cut > 0 && (static_cast<unsigned char>(key[cut]) & 0xC0) == 0x80) {
      --cut;  // not inside a UTF-8 sequence
    }
    path.append(key.substr(0, cut)).append("...");
  }

  // The path of `duplicate`, a key of the innermost frame; records it or fails.
  bool found(std::string_view duplicate) {
    const bool root_array = !m_frames.front().object;
    const std::size_t element = root_array ? m_frames.front().count : 0;
    if (report != nullptr && !report->empty() && report->back().element == element) {
      return true;  // one per element is enough
    }
    std::string path;
    if (root_array && report == nullptr) {
      path = "[" + std::to_string(element) + "]";
    }
    for (std::size_t i = root_array ? 1 : 0; i + 1 < m_frames.size(); ++i) {
      const Frame& f = m_frames[i];
      if (f.object) {
        append_key(path, name(m_entries[f.last_entry]));
      } else {
        path.append("[").append(std::to_string(f.count)).append("]");
      }
    }
    append_key(path, duplicate);
    if (report == nullptr) {
      failed_path = std::move(path);
      return false;
    }
    report->push_back(DuplicateKey{element, std::move(path)});
    return true;
  }

  InlineArray<Frame, 24> m_frames;
  InlineArray<char, 1024> m_keys;
  InlineArray<Entry, 64> m_entries;
  bool m_in_key = false;
  std::size_t m_key_at = 0;
};

// Builds a json::value like Boost's own parser handler, but converts doubles from their text
// with std::from_chars (correctly rounded) and rejects values that overflow.
struct ValueHandler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  ValueHandler(unsigned char* temp, std::size_t temp_size) : st({}, temp, temp_size) {}

  json::value_stack st;
  std::string number;
  KeyTracker keys;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    keys.begin(true);
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code& ec) {
    st.push_object(n);
    if (!keys.end()) {
      ec = json::error::syntax;
      return false;
    }
    return true;
  }
  bool on_array_begin(json::error_code&) {
    keys.begin(false);
    return true;
  }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return keys.end();
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    keys.key_part(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    st.push_key(s);
    keys.key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    keys.value();
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    number.clear();
    st.push_int64(i);
    keys.value();
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number.clear();
    st.push_uint64(u);
    keys.value();
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    number.append(s.data(), s.size());
    double exact = 0;
    const auto [ptr, err] = std::from_chars(number.data(), number.data() + number.size(), exact);
    if (err == std::errc::result_out_of_range) {
      // Underflow to zero or a subnormal is representable; overflow is not.
      if (std::isinf(d)) {
        ec = json::error::exponent_overflow;
        number.clear();
        return false;
      }
      exact = d;
    } else if (err != std::errc() || ptr != number.data() + number.size()) {
      exact = d;
    }
    number.clear();
    if (!std::isfinite(exact)) {
      ec = json::error::exponent_overflow;
      return false;
    }
    st.push_double(exact);
    keys.value();
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    keys.value();
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    keys.value();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

bool needs_escape(unsigned char c) noexcept {
  return c < 0x20 || c == '"' || c == '\\';
}

// Length of the prefix of `s` that needs no escaping, eight bytes at a time: a byte below 0x20
// and a zero byte (after XOR with '"' or '\\') are found with the exact "has less than" test
// ((x - 0x01..*n) & ~x & 0x80..), which is never positive for a word without such a byte.
std::size_t clean_prefix(std::string_view s) noexcept {
  constexpr std::uint64_t k_ones = 0x0101010101010101ULL;
  constexpr std::uint64_t k_highs = 0x8080808080808080ULL;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x = 0;
    std::memcpy(&x, s.data() + i, sizeof x);
    const std::uint64_t quote = x ^ (k_ones * '"');
    const std::uint64_t backslash = x ^ (k_ones * '\\');
    const std::uint64_t hits = ((x - k_ones * 0x20) & ~x) | ((quote - k_ones) & ~quote) |
                               ((backslash - k_ones) & ~backslash);
    if ((hits & k_highs) != 0) {
      break;
    }
  }
  while (i < s.size() && !needs_escape(static_cast<unsigned char>(s[i]))) {
    ++i;
  }
  return i;
}

void append_string(std::string& out, std::string_view s) {
  static constexpr char k_hex[] = "0123456789abcdef";
  const std::size_t clean = clean_prefix(s);
  if (clean == s.size()) {
    // One append for the quotes and the room, then one copy: the common case, kept short.
    const std::size_t at = out.size();
    out.append(s.size() + 2, '"');
    if (!s.empty()) {
      std::memcpy(out.data() + at + 1, s.data(), s.size());
    }
    return;
  }
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = clean; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out.append(s.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default:
        out.append("u00");
        out.push_back(k_hex[c >> 4]);
        out.push_back(k_hex[c & 0xf]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

template <class Int>
void append_integer(std::string& out, Int v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// Same text as Boost.JSON's serializer (shortest round-trip form, always with an exponent so that
// it parses back as a double). Non-finite values, which JSON cannot express, become null.
void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out.append("null");
    return;
  }
  out.append(json::serialize(json::value(d)));
}

using Member = const json::key_value_pair*;

// Objects of events are small: sort member pointers in place on the stack (insertion sort), so
// that canonical serialization allocates nothing but the output.
template <class T, class Key>
void sort_small(T* first, T* last, Key key) {
  if (last - first > 32) {
    std::sort(first, last, [&](const T& a, const T& b) { return key(a) < key(b); });
    return;
  }
  for (T* i = first + 1; i < last; ++i) {
    T item = *i;
    T* j = i;
    for (; j > first && key(item) < key(*(j - 1)); --j) {
      *j = *(j - 1);
    }
    *j = item;
  }
}

void append_object(std::string& out, const json::object& object) {
  constexpr std::size_t k_stack_members = 32;
  Member stack[k_stack_members];
  std::vector<Member> heap;
  Member* members = stack;
  if (object.size() > k_stack_members) {
    heap.resize(object.size());
    members = heap.data();
  }
  std::size_t n = 0;
  for (const auto& kv : object) {
    members[n++] = &kv;
  }
  sort_small(members, members + n, [](Member m) { return std::string_view(m->key()); });
  out.push_back('{');
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    append_string(out, members[i]->key());
    out.push_back(':');
    detail::append_canonical(out, members[i]->value());
  }
  out.push_back('}');
}

// The length append_string writes for `s`.
std::size_t string_size(std::string_view s) noexcept {
  std::size_t size = s.size() + 2;
  for (std::size_t i = clean_prefix(s); i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!needs_escape(c)) {
      continue;
    }
    const bool named =
        c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t';
    size += named ? 1 : 5;
  }
  return size;
}

template <class Int>
std::size_t integer_size(Int v) noexcept {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return static_cast<std::size_t>(end - buf);
}

std::size_t double_size(double d) {
  if (!std::isfinite(d)) {
    return 4;
  }
  return json::serialize(json::value(d)).size();
}

bool parse_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) noexcept {
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool is_leap(int y) noexcept {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) noexcept {
  static constexpr int k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : k_days[m - 1];
}

}  // namespace

namespace detail {

Result<json::value> parse_json(std::string_view text, std::size_t max_bytes, std::size_t max_depth,
                               std::string_view what, json::storage_ptr storage,
                               std::vector<DuplicateKey>* duplicates) {
  auto prefix = [what] { return std::string(what) + ": "; };
  if (text.size() > max_bytes) {
    return fail(prefix() + "larger than the limit of " + std::to_string(max_bytes) + " bytes");
  }
  json::parse_options options;
  options.max_depth = max_depth;
  // The builder's temporary stack lives here unless the text is large.
  alignas(std::max_align_t) unsigned char temp[4096];
  json::basic_parser<ValueHandler> parser(options, temp, sizeof temp);
  parser.handler().st.reset(std::move(storage));
  parser.handler().keys.report = duplicates;
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (const auto& path = parser.handler().keys.failed_path) {
    return fail(prefix() + *path + ": duplicate key");
  }
  if (ec == json::error::too_deep) {
    return fail(prefix() + "nested deeper than " + std::to_string(max_depth) + " levels");
  }
  if (!ec && used != text.size()) {
    ec = json::error::extra_data;
  }
  if (ec) {
    return fail(prefix() + "invalid JSON (" + ec.message() + ") at offset " + std::to_string(used));
  }
  return parser.handler().st.release();
}

void append_canonical(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      out.append("null");
      return;
    case json::kind::bool_:
      out.append(value.get_bool() ? "true" : "false");
      return;
    case json::kind::int64:
      append_integer(out, value.get_int64());
      return;
    case json::kind::uint64:
      append_integer(out, value.get_uint64());
      return;
    case json::kind::double_:
      append_double(out, value.get_double());
      return;
    case json::kind::string:
      append_string(out, value.get_string());
      return;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const json::value& item : value.get_array()) {
        if (!first) {
          out.push_back(',');
        }
        first = false;
        append_canonical(out, item);
      }
      out.push_back(']');
      return;
    }
    case json::kind::object:
      append_object(out, value.get_object());
      return;
  }
}

JsonMeasure measure_object(const json::object& object) {
  JsonMeasure out{2, 1};
  bool first = true;
  for (const auto& kv : object) {
    const JsonMeasure value = measure_json(kv.value());
    out.canonical_bytes += (first ? 0 : 1) + string_size(kv.key()) + 1 + value.canonical_bytes;
    out.depth = std::max(out.depth, 1 + value.depth);
    first = false;
  }
  return out;
}

void append_canonical_members(std::string& out, std::span<MergedMember> members,
                              std::span<std::size_t> slot_offsets) {
  sort_small(members.data(), members.data() + members.size(),
             [](const MergedMember& m) { return m.key; });
  out.push_back('{');
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    const MergedMember& m = members[i];
    if (m.slot > 0) {
      slot_offsets[static_cast<std::size_t>(m.slot - 1)] = out.size();
      continue;
    }
    append_string(out, m.key);
    out.push_back(':');
    if (m.value != nullptr) {
      detail::append_canonical(out, *m.value);
    } else {
      append_string(out, m.text);
    }
  }
  out.push_back('}');
}

bool read_uint(const boost::json::value& v, std::uint64_t& out) noexcept {
  if (v.is_uint64()) {
    out = v.get_uint64();
    return true;
  }
  if (v.is_int64() && v.get_int64() >= 0) {
    out = static_cast<std::uint64_t>(v.get_int64());
    return true;
  }
  return false;
}

}  // namespace detail

Result<json::value> parse_json_bounded(std::string_view text, const EventLimits& limits,
                                       json::storage_ptr storage,
                                       std::vector<DuplicateKey>* duplicates) {
  return detail::parse_json(text, limits.max_bytes, limits.max_depth, "body", std::move(storage),
                            duplicates);
}

std::string duplicate_key_error(const DuplicateKey& duplicate) {
  return duplicate.path + ": duplicate key";
}

void append_json_string(std::string& out, std::string_view s) {
  append_string(out, s);
}

std::string to_canonical_json(const json::value& value) {
  std::string out;
  detail::append_canonical(out, value);
  return out;
}

JsonMeasure measure_json(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      return {4, 0};
    case json::kind::bool_:
      return {value.get_bool() ? 4u : 5u, 0};
    case json::kind::int64:
      return {integer_size(value.get_int64()), 0};
    case json::kind::uint64:
      return {integer_size(value.get_uint64()), 0};
    case json::kind::double_:
      return {double_size(value.get_double()), 0};
    case json::kind::string:
      return {string_size(value.get_string()), 0};
    case json::kind::array: {
      JsonMeasure out{2, 1};
      bool first = true;
      for (const json::value& item : value.get_array()) {
        const JsonMeasure element = measure_json(item);
        out.canonical_bytes += (first ? 0 : 1) + element.canonical_bytes;
        out.depth = std::max(out.depth, 1 + element.depth);
        first = false;
      }
      return out;
    }
    case json::kind::object:
      return detail::measure_object(value.get_object());
  }
  return {};
}

bool is_rfc3339(std::string_view s) noexcept {
  // YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+hh:mm|-hh:mm)
  if (s.size() < 20) {
    return false;
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!parse_digits(s, 0, 4, year) || s[4] != '-' || !parse_digits(s, 5, 2, month) || s[7] != '-' ||
      !parse_digits(s, 8, 2, day) || s[10] != 'T' || !parse_digits(s, 11, 2, hour) ||
      s[13] != ':' || !parse_digits(s, 14, 2, minute) || s[16] != ':' ||
      !parse_digits(s, 17, 2, second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return false;
  }
  std::size_t i = 19;
  if (s[i] == '.') {
    const std::size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ++i;
    }
    if (i == start || i - start > 9) {
      return false;
    }
  }
  if (i >= s.size()) {
    return false;
  }
  if (s[i] == 'Z') {
    return i + 1 == s.size();
  }
  if ((s[i] != '+' && s[i] != '-') || s.size() != i + 6) {
    return false;
  }
  int offset_hour = 0, offset_minute = 0;
  return parse_digits(s, i + 1, 2, offset_hour) && s[i + 3] == ':' &&
         parse_digits(s, i + 4, 2, offset_minute) && offset_hour <= 23 && offset_minute <= 59;
}

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) noexcept {
  if (!is_rfc3339(text)) {
    return std::nullopt;
  }
  // is_rfc3339 checked every field's digits and range.
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  parse_digits(text, 0, 4, year);
  parse_digits(text, 5, 2, month);
  parse_digits(text, 8, 2, day);
  parse_digits(text, 11, 2, hour);
  parse_digits(text, 14, 2, minute);
  parse_digits(text, 17, 2, second);
  std::size_t pos = 19;
  std::int64_t millis = 0;
  if (text[pos] == '.') {
    ++pos;
    int scale = 100;
    while (text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  std::int64_t offset_s = 0;
  if (text[pos] != 'Z') {
    int offset_hour = 0, offset_minute = 0;
    parse_digits(text, pos + 1, 2, offset_hour);
    parse_digits(text, pos + 4, 2, offset_minute);
    offset_s = (offset_hour * 3600 + offset_minute * 60) * (text[pos] == '-' ? -1 : 1);
  }
  // days_from_civil (H. Hinnant): proleptic Gregorian calendar.
  const std::int64_t y = year - (month <= 2 ? 1 : 0);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = era * 146097 + doe - 719468;
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  return seconds * 1000 + millis;
}

std::string format_rfc3339_utc_ms(std::int64_t unix_ms) {
  constexpr std::int64_t k_ms_per_day = 86'400'000;
  std::int64_t days = unix_ms / k_ms_per_day;
  std::int64_t ms_of_day = unix_ms % k_ms_per_day;
  if (ms_of_day < 0) {
    ms_of_day += k_ms_per_day;
    --days;
  }
  // civil_from_days (H. Hinnant): proleptic Gregorian calendar.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);

  char buf[64];
  const int n = std::snprintf(
      buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
      static_cast<long long>(year), static_cast<long long>(month), static_cast<long long>(day),
      static_cast<long long>(ms_of_day / 3'600'000),
      static_cast<long long>(ms_of_day / 60'000 % 60),
      static_cast<long long>(ms_of_day / 1000 % 60), static_cast<long long>(ms_of_day % 1000));
  std::string out(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

}  // namespace pos::protocol
