// Helpers for the packaging tests: run a command and capture its output, find the .deb files that
// the `packaging.build_debs` fixture made, install them into a throw-away root with dpkg, and
// rewrite single keys of an installed TOML configuration.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace pos::test {

struct CommandResult {
  int exit_code = -1;  ///< 128 + signal when a signal ended it
  std::string output;  ///< stdout and stderr, interleaved
};

/// Runs argv (argv[0] looked up in PATH) with the current environment plus `env`, stdin from
/// /dev/null, and waits for it. Throws std::runtime_error when it cannot be started.
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {});

/// The one file in `dir` whose name starts with "<package>_" and ends with ".deb". Throws naming
/// the directory when there is none or more than one.
std::filesystem::path find_deb(const std::filesystem::path& dir, std::string_view package);

/// An empty root directory with a dpkg database, into which .deb files are installed with
/// `dpkg --root=DIR --force-script-chrootless`: dpkg unpacks, tracks conffiles and runs the
/// maintainer scripts with $DPKG_ROOT=DIR instead of chroot()ing (the root has no shell of its
/// own). Library dependencies are the host's (--force-depends). Removed on destruction like
/// TempDir. Needs root (maintainer scripts chown). Not thread-safe.
class PackageRoot {
 public:
  /// Throws std::runtime_error when not running as root or when the directory cannot be set up.
  PackageRoot();

  const std::filesystem::path& path() const noexcept { return m_dir.path(); }
  /// path() / relative ("/usr/bin/posagent" works too).
  std::filesystem::path operator/(std::string_view relative) const;

  /// `dpkg --root ... <args>`; the result, with the output for failure messages.
  CommandResult dpkg(const std::vector<std::string>& args) const;
  /// dpkg -i of the files; throws with dpkg's output when it fails.
  void install(const std::vector<std::filesystem::path>& debs) const;

 private:
  TempDir m_dir;
};

/// Replaces the value of `key` in `[section]` (empty section: the top-level keys) of the TOML
/// text with `value` (a TOML literal, e.g. "\"/tmp/x\"" or "42"); the line's comment is dropped.
/// Throws std::runtime_error naming section and key when the key is not there, so a renamed key
/// in the shipped config fails the test instead of being silently appended.
std::string set_toml_key(const std::string& text, std::string_view section, std::string_view key,
                         const std::string& value);

/// `"` + text + `"` (the paths used here need no escaping).
std::string toml_string(const std::string& text);

}  // namespace pos::test
