#pragma once
// An expected-style result for failures that are likely at run time (bad payload, network, disk).
// Exceptions are kept for startup and configuration errors.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace pos {

/// A failure with a message meant for a human: it names what was wrong ("lines[0].qty: must be an
/// integer >= 1", "batch: declared raw_len 9000000 exceeds the limit 8388608").
struct Error {
  std::string message;
};

/// Wraps an error so that it converts to any Result<T>: `return fail("seq: must be >= 1");`
struct Failure {
  Error error;
};
inline Failure fail(std::string message) {
  return Failure{Error{std::move(message)}};
}
inline Failure fail(Error error) {
  return Failure{std::move(error)};
}

/// Holds either a T or an E. Accessing the wrong alternative is a programming error (asserted).
/// Not thread-safe beyond what T and E are.
template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : m_state(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Failure failure)                                     // NOLINT(google-explicit-constructor)
      requires std::is_same_v<E, Error>
      : m_state(std::in_place_index<1>, std::move(failure.error)) {}
  static Result failure(E error) { return Result(std::in_place_index<1>, std::move(error)); }

  bool has_value() const noexcept { return m_state.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(m_state);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(m_state);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(m_state));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& {
    assert(!has_value());
    return std::get<1>(m_state);
  }
  E&& error() && {
    assert(!has_value());
    return std::get<1>(std::move(m_state));
  }

 private:
  template <std::size_t I, class V>
  Result(std::in_place_index_t<I> index, V&& v) : m_state(index, std::forward<V>(v)) {}
  std::variant<T, E> m_state;
};

/// Result of an operation that yields nothing but can fail.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(Failure failure)  // NOLINT(google-explicit-constructor)
      requires std::is_same_v<E, Error> : m_error(std::move(failure.error)),
                                          m_failed(true) {}
  static Result failure(E error) {
    Result r;
    r.m_error = std::move(error);
    r.m_failed = true;
    return r;
  }
  bool has_value() const noexcept { return !m_failed; }
  explicit operator bool() const noexcept { return !m_failed; }
  const E& error() const& {
    assert(m_failed);
    return m_error;
  }

 private:
  E m_error{};
  bool m_failed = false;
};

using Status = Result<void>;

}  // namespace pos
