#include "pos/common/clock.hpp"

namespace pos::common {

std::int64_t SystemClock::now_unix_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::steady_clock::time_point SystemClock::now_steady() const {
  return std::chrono::steady_clock::now();
}

}  // namespace pos::common
