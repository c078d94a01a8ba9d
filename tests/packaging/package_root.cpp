#include "package_root.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace pos::test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    if (!extra.contains(name)) {
      out.push_back(entry);
    }
  }
  for (const auto& [name, value] : extra) {
    out.push_back(name + "=" + value);
  }
  return out;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env) {
  const auto exe = find_executable(argv.at(0));
  if (!exe) {
    throw std::runtime_error(argv[0] + ": not found in PATH");
  }
  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe: " + std::error_code(errno, std::generic_category()).message());
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));  // NOLINT: posix_spawn's signature
  }
  args.push_back(nullptr);
  auto environment = merged_environment(env);
  std::vector<char*> envp;
  envp.reserve(environment.size() + 1);
  for (auto& e : environment) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int spawned =
      ::posix_spawn(&pid, exe->c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawned != 0) {
    ::close(pipe_fds[0]);
    throw std::runtime_error(argv[0] + ": " +
                             std::error_code(spawned, std::generic_category()).message());
  }
  CommandResult result;
  std::array<char, 4096> buffer{};
  while (true) {
    const auto n = ::read(pipe_fds[0], buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    result.output.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

fs::path find_deb(const fs::path& dir, std::string_view package) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    if (name.starts_with(std::string(package) + "_") && name.ends_with(".deb")) {
      found.push_back(entry.path());
    }
  }
  if (found.size() != 1) {
    throw std::runtime_error(std::to_string(found.size()) + " files " + std::string(package) +
                             "_*.deb in " + dir.string() +
                             " (the packaging.build_debs fixture makes exactly one)");
  }
  return found.front();
}

PackageRoot::PackageRoot() : m_dir("pos-deb-root") {
  if (::geteuid() != 0) {
    throw std::runtime_error(
        "the packaging tests install into a throw-away root with dpkg, whose maintainer scripts "
        "chown files: run them as root");
  }
  for (const char* dir :
       {"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "etc"}) {
    fs::create_directories(path() / dir);
  }
  std::ofstream(path() / "var/lib/dpkg/status").flush();
  // A root directory is world-traversable, so the packages' system users can reach their files.
  fs::permissions(path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
}

fs::path PackageRoot::operator/(std::string_view relative) const {
  while (relative.starts_with('/')) {
    relative.remove_prefix(1);
  }
  return path() / relative;
}

CommandResult PackageRoot::dpkg(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"dpkg",
                                   "--root=" + path().string(),
                                   "--force-script-chrootless",
                                   "--force-depends",
                                   "--force-confold",
                                   "--log=/dev/null"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

void PackageRoot::install(const std::vector<fs::path>& debs) const {
  std::vector<std::string> args = {"--install"};
  for (const auto& deb : debs) {
    args.push_back(deb.string());
  }
  const auto result = dpkg(args);
  if (result.exit_code != 0) {
    throw std::runtime_error("dpkg --install failed (" + std::to_string(result.exit_code) + "):\n" +
                             result.output);
  }
}

std::string set_toml_key(const std::string& text, std::string_view section, std::string_view key,
                         const std::string& value) {
  std::istringstream in(text);
  std::ostringstream out;
  std::string line;
  std::string current;
  bool replaced = false;
  while (std::getline(in, line)) {
    if (line.starts_with('[')) {
      current = line.substr(1, line.find(']') - 1);
    } else if (!replaced && current == section && line.starts_with(std::string(key) + " =")) {
      line = std::string(key) + " = " + value;
      replaced = true;
    }
    out << line << '\n';
  }
  if (!replaced) {
    throw std::runtime_error("no key '" + std::string(key) + "' in section [" +
                             std::string(section) + "] of the installed configuration");
  }
  return out.str();
}

std::string toml_string(const std::string& text) {
  return "\"" + text + "\"";
}

}  // namespace pos::test
