#pragma once
// The command line posagent and poscollector share: `--version`, `run --config FILE` and
// `check-config --config FILE`, CLI11's help and usage errors mapped to SPEC's exit codes.
// Header-only: include it from a program's main.cpp, which links CLI11::CLI11.

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "pos/common/program.hpp"

namespace pos::common {

/// The shared part of a program's command line; the program adds its own subcommands to cli().
class ProgramCommandLine {
 public:
  /// `description` heads --help; `run_help` describes the `run` subcommand.
  ProgramCommandLine(const std::string& description, const std::string& run_help)
      : m_cli(description) {
    m_cli.require_subcommand(0, 1);
    m_cli.add_flag("--version", m_show_version, "print the version and exit");
    m_run = m_cli.add_subcommand("run", run_help);
    m_run->add_option("--config", m_config_path, "TOML configuration file")->required();
    m_check = m_cli.add_subcommand("check-config", "check a configuration file and exit");
    m_check->add_option("--config", m_config_path, "TOML configuration file")->required();
  }
  ProgramCommandLine(const ProgramCommandLine&) = delete;
  ProgramCommandLine& operator=(const ProgramCommandLine&) = delete;

  /// Where the program adds its own subcommands and options.
  CLI::App& cli() { return m_cli; }
  /// The `--config` value; a program's own subcommands may bind their --config to it too.
  std::string& config_path() { return m_config_path; }

  /// Parses the command line, then handles what every program has: --help (exit_ok), a usage
  /// error (CLI11's message, exit_usage), --version (prints `<program> <version>`, exit_ok),
  /// `run` (`run(config_path)`) and `check-config` (`check(config_path)`). Returns that exit code,
  /// or nullopt when the program's own subcommand, or none, was given.
  std::optional<int> parse_and_run(int argc, char** argv, std::string_view program,
                                   std::string_view version,
                                   const std::function<int(const std::string&)>& run,
                                   const std::function<int(const std::string&)>& check) {
    try {
      m_cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int code = m_cli.exit(e);
      return code == 0 ? exit_ok : exit_usage;
    }
    if (m_show_version) {
      std::cout << program << ' ' << version << "\n";
      return exit_ok;
    }
    if (m_run->parsed()) {
      return run(m_config_path);
    }
    if (m_check->parsed()) {
      return check(m_config_path);
    }
    return std::nullopt;
  }

  /// No subcommand was given: prints the help to stderr and returns exit_usage.
  int no_subcommand() const {
    std::cerr << m_cli.help();
    return exit_usage;
  }

 private:
  CLI::App m_cli;
  bool m_show_version = false;
  std::string m_config_path;
  CLI::App* m_run = nullptr;
  CLI::App* m_check = nullptr;
};

}  // namespace pos::common
