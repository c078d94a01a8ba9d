#pragma once
// A file descriptor owned by exactly one object: closed when the owner goes.

#include <unistd.h>

#include <utility>

namespace pos::common {

/// Owns one POSIX file descriptor (-1: none) and closes it on destruction or reset. Move-only.
/// The close result is not checked: every caller that needs its data durable fsyncs first.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : m_fd(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return m_fd; }
  explicit operator bool() const noexcept { return m_fd >= 0; }
  /// Gives up ownership: returns the descriptor (-1: none), which the caller must close.
  [[nodiscard]] int release() noexcept { return std::exchange(m_fd, -1); }
  /// Closes the descriptor, if any.
  void reset() noexcept {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = -1;
  }

 private:
  int m_fd = -1;
};

}  // namespace pos::common
