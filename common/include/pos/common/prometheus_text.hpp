#pragma once
// Metrics in the Prometheus text exposition format (version 0.0.4): the one writer every
// /metrics endpoint of the project uses.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace pos::common {

/// `text` as a Prometheus label value: backslash, double quote and newline escaped.
inline std::string prometheus_label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

/// Label pairs of one sample (values are escaped when written).
using PrometheusLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

/// Writes metric families to `out`, every name prefixed with `prefix` (e.g. "poscollector_").
/// Values are written with the stream's formatting (integers exactly). Not thread-safe.
class PrometheusWriter {
 public:
  PrometheusWriter(std::ostream& out, std::string_view prefix) : m_out(out), m_prefix(prefix) {}

  /// The HELP and TYPE lines of family `name` ("counter", "gauge", "histogram").
  void family(std::string_view name, std::string_view help, std::string_view type) {
    m_out << "# HELP " << m_prefix << name << ' ' << help << "\n# TYPE " << m_prefix << name << ' '
          << type << '\n';
  }

  /// One sample line `{prefix}{name}{labels} value`.
  template <class Value>
  void sample(std::string_view name, PrometheusLabels labels, const Value& value) {
    m_out << m_prefix << name;
    if (labels.size() > 0) {
      char separator = '{';
      for (const auto& [label, label_value] : labels) {
        m_out << separator << label << "=\"" << prometheus_label_value(label_value) << '"';
        separator = ',';
      }
      m_out << '}';
    }
    m_out << ' ' << value << '\n';
  }

  /// A counter family with one unlabelled sample.
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, help, "counter");
    sample(name, {}, value);
  }

  /// A gauge family with one unlabelled sample.
  template <class Value>
  void gauge(std::string_view name, std::string_view help, const Value& value) {
    family(name, help, "gauge");
    sample(name, {}, value);
  }

  /// A histogram family: `counts` holds the count of each bucket, not cumulative, with one more
  /// entry than `bounds` (the +Inf bucket). `_count` is the sum of the counts.
  template <class Bound, class Sum>
  void histogram(std::string_view name, std::string_view help, std::span<const Bound> bounds,
                 std::span<const std::uint64_t> counts, const Sum& sum) {
    family(name, help, "histogram");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size() && i < counts.size(); ++i) {
      cumulative += counts[i];
      m_out << m_prefix << name << "_bucket{le=\"" << bounds[i] << "\"} " << cumulative << '\n';
    }
    if (counts.size() > bounds.size()) {
      cumulative += counts[bounds.size()];
    }
    m_out << m_prefix << name << "_bucket{le=\"+Inf\"} " << cumulative << '\n'
          << m_prefix << name << "_sum " << sum << '\n'
          << m_prefix << name << "_count " << cumulative << '\n';
  }

 private:
  std::ostream& m_out;
  std::string m_prefix;
};

}  // namespace pos::common
