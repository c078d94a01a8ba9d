#pragma once
// The one exception type for a program that cannot start because of its configuration or a file
// the configuration names (a bad value, a corrupt dictionary, a certificate that is not one).
// run_program and check_program (program.hpp) turn it into SPEC's exit code 2.

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "pos/protocol/result.hpp"

namespace pos::common {

/// A startup failure caused by configuration or input files. The message names the key or the
/// file (`agent.toml: mqtt.uri: is required`, `forward.dictionary_file: ...`). Thrown only while
/// loading configuration and building a program, never once it runs.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The value of `result`; throws StartupError("<what>: <error>") when it holds an error.
template <class T>
T startup_value(Result<T> result, std::string_view what) {
  if (!result) {
    throw StartupError(std::string(what) + ": " + result.error().message);
  }
  return std::move(result).value();
}

}  // namespace pos::common
