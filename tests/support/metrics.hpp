#pragma once
// Reading Prometheus text (GET /metrics of the agent or the collector) in tests.

#include <optional>
#include <string>

namespace pos::test {

/// The value of the first sample line that starts with `name` and a space (an unlabelled
/// sample, or `name{...}` written out in `name`); nullopt when there is none or it is not a
/// number.
std::optional<double> metric_value(const std::string& text, const std::string& name);

}  // namespace pos::test
