// The Debian packages as an operator gets them: what the .deb files hold and declare, the
// install / upgrade / remove / purge life cycle with the real maintainer scripts, the installed
// systemd units (verify, exposure score), and the INSTALLED programs running from the installed
// configuration against a real mosquitto, including the sd_notify protocol on a real socket.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "integration/agent_harness.hpp"
#include "package_root.hpp"
#include "support/mosquitto.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace pos::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* deb_dir = POS_DEB_DIR;
constexpr bool have_posctl = POS_HAVE_POSCTL != 0;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::vector<fs::path> both_debs() {
  return {find_deb(deb_dir, "posagent"), find_deb(deb_dir, "poscollector")};
}

std::string deb_field(const fs::path& deb, const std::string& field) {
  const auto result = run_command({"dpkg-deb", "--field", deb.string(), field});
  if (result.exit_code != 0) {
    throw std::runtime_error("dpkg-deb --field " + field + ": " + result.output);
  }
  auto value = result.output;
  while (!value.empty() && value.back() == '\n') {
    value.pop_back();
  }
  return value;
}

/// "mode owner path" of every regular file in the package, e.g. "-rwxr-xr-x root/root
/// ./usr/bin/posagent".
std::set<std::string> deb_files(const fs::path& deb) {
  const auto result = run_command({"dpkg-deb", "--contents", deb.string()});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  std::set<std::string> files;
  std::istringstream in(result.output);
  std::string mode;
  std::string owner;
  std::string size;
  std::string date;
  std::string time;
  std::string path;
  while (in >> mode >> owner >> size >> date >> time >> path) {
    if (mode.starts_with('-')) {
      files.insert(mode + " " + owner + " " + path);
    }
  }
  return files;
}

/// The "Overall exposure level" score of `systemd-analyze security --offline=true`.
double exposure_score(const fs::path& unit_file, std::string& output) {
  const auto result =
      run_command({"systemd-analyze", "security", "--offline=true", unit_file.string()});
  output = result.output;
  static const std::regex pattern(R"(Overall exposure level for \S+: ([0-9.]+))");
  std::smatch m;
  if (!std::regex_search(result.output, m, pattern)) {
    throw std::runtime_error("no exposure level in:\n" + result.output);
  }
  return std::stod(m[1].str());
}

/// Reads `Key=value` of a unit file; empty when absent.
std::string unit_setting(const std::string& unit, const std::string& key) {
  std::istringstream in(unit);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key + "=")) {
      return line.substr(key.size() + 1);
    }
  }
  return {};
}

/// Every space-separated value of every `key=` line of `unit`.
std::set<std::string> unit_settings(const std::string& unit, const std::string& key) {
  std::istringstream in(unit);
  std::set<std::string> values;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(key + "=")) {
      continue;
    }
    std::istringstream words(line.substr(key.size() + 1));
    for (std::string word; words >> word;) {
      values.insert(word);
    }
  }
  return values;
}

/// The system calls `SystemCallFilter=@system-service` + `~@privileged @resources` allows, from
/// `systemd-analyze syscall-filter` (groups expanded recursively).
std::set<std::string> allowed_syscalls() {
  const auto listing = run_command({"systemd-analyze", "syscall-filter"});
  if (listing.exit_code != 0) {
    throw std::runtime_error("systemd-analyze syscall-filter: " + listing.output);
  }
  std::map<std::string, std::vector<std::string>> groups;
  std::string current;
  std::istringstream in(listing.output);
  std::string line;
  while (std::getline(in, line)) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string::npos || line[start] == '#') {
      continue;
    }
    if (start == 0 && line.starts_with('@')) {
      current = line;
      groups[current];
    } else if (start > 0 && !current.empty()) {
      groups[current].push_back(line.substr(start));
    }
  }
  std::function<std::set<std::string>(const std::string&)> expand = [&](const std::string& group) {
    std::set<std::string> out;
    for (const auto& member : groups[group]) {
      if (member.starts_with('@')) {
        out.merge(expand(member));
      } else {
        out.insert(member);
      }
    }
    return out;
  };
  auto allowed = expand("@system-service");
  for (const char* denied : {"@privileged", "@resources"}) {
    for (const auto& call : expand(denied)) {
      allowed.erase(call);
    }
  }
  if (allowed.size() < 100) {
    throw std::runtime_error("implausible @system-service expansion:\n" + listing.output);
  }
  return allowed;
}

/// The syscall names of an `strace -c` summary.
std::set<std::string> traced_syscalls(const std::string& summary) {
  std::set<std::string> out;
  std::istringstream in(summary);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    std::string word;
    while (fields >> word) {
      words.push_back(word);
    }
    if (words.size() >= 5 && std::isdigit(static_cast<unsigned char>(words[0][0])) != 0 &&
        words.back() != "total") {
      out.insert(words.back());
    }
  }
  return out;
}

/// The uid and gid of `name` in a passwd file; throws when it is not there.
std::pair<uid_t, gid_t> system_user(const fs::path& passwd, const std::string& name) {
  std::smatch m;
  const auto text = read_file(passwd);
  if (!std::regex_search(text, m,
                         std::regex("^" + name + R"(:x:(\d+):(\d+):)", std::regex::multiline))) {
    throw std::runtime_error("no user " + name + " in " + passwd.string());
  }
  return {static_cast<uid_t>(std::stoul(m[1].str())), static_cast<gid_t>(std::stoul(m[2].str()))};
}

/// The child process of `pid` whose command name is `name` (from /proc), waiting up to 10 s for
/// it to appear (strace forks short-lived helpers before the traced program); nullopt when none
/// does.
std::optional<pid_t> child_named(pid_t pid, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                           "/children");
    pid_t child = 0;
    while (children >> child) {
      std::ifstream comm("/proc/" + std::to_string(child) + "/comm");
      std::string command;
      if (std::getline(comm, command) && command == name) {
        return child;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

/// A bound unix datagram socket standing in for systemd's $NOTIFY_SOCKET.
class NotifyListener {
 public:
  explicit NotifyListener(const fs::path& path) : m_path(path) {
    m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const auto name = path.string();
    if (m_fd < 0 || name.size() >= sizeof address.sun_path) {
      throw std::runtime_error("cannot create a notify socket at " + name);
    }
    std::memcpy(address.sun_path, name.c_str(), name.size() + 1);
    if (::bind(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {  // NOLINT
      throw std::runtime_error("bind " + name + ": " +
                               std::error_code(errno, std::generic_category()).message());
    }
    const timeval timeout{0, 200'000};
    ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~NotifyListener() { ::close(m_fd); }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  /// The next datagram within 200 ms.
  std::optional<std::string> receive() {
    std::string buffer(4096, '\0');
    const auto n = ::recv(m_fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      return std::nullopt;
    }
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }

  /// Collects datagrams until one starts with `prefix` or the timeout passes.
  std::vector<std::string> receive_until(const std::string& prefix,
                                         std::chrono::milliseconds timeout) {
    std::vector<std::string> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto message = receive()) {
        out.push_back(*message);
        if (message->starts_with(prefix)) {
          break;
        }
      }
    }
    return out;
  }

 private:
  fs::path m_path;
  int m_fd = -1;
};

/// Both packages installed into a fresh root, plus a PKI: the installed configurations adapted
/// by replacing only what must differ on a test machine.
class InstalledTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_root.install(both_debs());
    fs::create_directories(m_work.path() / "pki");
    m_pki = std::make_unique<TestPki>(m_work.path() / "pki");
  }

  /// The installed /etc/posagent/posagent.toml with only the certificate paths (a till
  /// certificate for the config's own S07/T1) and data_dir replaced.
  std::string agent_config() {
    const auto cert = m_pki->issue_client(till_common_name("S07", "T1"));
    auto text = read_file(m_root / "/etc/posagent/posagent.toml");
    text = set_toml_key(text, "", "data_dir", toml_string((m_work.path() / "agent").string()));
    text = set_toml_key(text, "mqtt", "ca_file", toml_string(m_pki->ca_cert().string()));
    text = set_toml_key(text, "mqtt", "cert_file", toml_string(cert.cert.string()));
    text = set_toml_key(text, "mqtt", "key_file", toml_string(cert.key.string()));
    return text;
  }

  /// The same for /etc/poscollector/poscollector.toml.
  std::string collector_config() {
    const auto cert = m_pki->issue_client(collector_common_name);
    auto text = read_file(m_root / "/etc/poscollector/poscollector.toml");
    text = set_toml_key(text, "", "data_dir", toml_string((m_work.path() / "collector").string()));
    text = set_toml_key(text, "mqtt", "ca_file", toml_string(m_pki->ca_cert().string()));
    text = set_toml_key(text, "mqtt", "cert_file", toml_string(cert.cert.string()));
    text = set_toml_key(text, "mqtt", "key_file", toml_string(cert.key.string()));
    return text;
  }

  /// agent_config() pointed at `broker` and a free ingest port; returns the config path.
  fs::path running_agent_config(const MosquittoBroker& broker, std::uint16_t port) {
    auto text = agent_config();
    text = set_toml_key(text, "mqtt", "uri", toml_string(broker.uri()));
    text = set_toml_key(text, "ingest", "listen", toml_string("127.0.0.1:" + std::to_string(port)));
    auto path = m_work.path() / "posagent-run.toml";
    write_file(path, text);
    return path;
  }

  PackageRoot m_root;
  TempDir m_work{"pos-packaging"};
  std::unique_ptr<TestPki> m_pki;
};

TEST(DebPackageTest, ControlFieldsAndDependencies) {
  const std::string arch = [] {
    auto out = run_command({"dpkg", "--print-architecture"}).output;
    return out.substr(0, out.find('\n'));
  }();
  for (const auto& deb : both_debs()) {
    const auto package = deb_field(deb, "Package");
    SCOPED_TRACE(deb.filename().string());
    EXPECT_EQ(deb.filename().string(), package + "_" + POS_PROJECT_VERSION + "-1_" + arch + ".deb");
    EXPECT_EQ(deb_field(deb, "Version"), std::string(POS_PROJECT_VERSION) + "-1");
    EXPECT_EQ(deb_field(deb, "Architecture"), arch);
    EXPECT_EQ(deb_field(deb, "Section"), "net");
    EXPECT_EQ(deb_field(deb, "Priority"), "optional");
    EXPECT_TRUE(deb_field(deb, "Maintainer").find('@') != std::string::npos);
    const auto description = deb_field(deb, "Description");
    EXPECT_TRUE(description.starts_with("Fastyle POS ")) << description;
    EXPECT_TRUE(description.find('\n') != std::string::npos) << "extended description expected";

    // dpkg-shlibdeps found the shared libraries.
    const auto depends = deb_field(deb, "Depends");
    for (const char* library : {"libc6", "libstdc++6", "libsqlite3-0", "libzstd1",
                                "libpaho-mqtt1.3", "libpaho-mqttpp3-1"}) {
      EXPECT_TRUE(depends.find(library) != std::string::npos) << library << " in " << depends;
    }
    EXPECT_TRUE(depends.find("systemd | adduser") != std::string::npos) << depends;
  }

  // apt's resolver (simulation only) finds every dependency among this machine's installed
  // packages, virtual ones included: it would install the two packages and nothing else.
  const auto debs = both_debs();
  const auto simulated = run_command({"apt-get", "install", "--simulate", "--no-install-recommends",
                                      debs[0].string(), debs[1].string()});
  ASSERT_EQ(simulated.exit_code, 0) << simulated.output;
  std::istringstream lines(simulated.output);
  std::string line;
  std::set<std::string> installed;
  while (std::getline(lines, line)) {
    if (line.starts_with("Inst ")) {
      installed.insert(line.substr(5, line.find(' ', 5) - 5));
    }
  }
  EXPECT_EQ(installed, (std::set<std::string>{"posagent", "poscollector"})) << simulated.output;
}

TEST(DebPackageTest, FilesConffilesAndMaintainerScripts) {
  for (const std::string package : {"posagent", "poscollector"}) {
    SCOPED_TRACE(package);
    const auto deb = find_deb(deb_dir, package);
    std::set<std::string> expected = {
        "-rwxr-xr-x root/root ./usr/bin/" + package,
        "-rw-r--r-- root/root ./etc/" + package + "/" + package + ".toml",
        "-rw-r--r-- root/root ./lib/systemd/system/" + package + ".service",
        "-rw-r--r-- root/root ./usr/lib/sysusers.d/" + package + ".conf",
        "-rw-r--r-- root/root ./usr/lib/tmpfiles.d/" + package + ".conf",
    };
    if (package == "poscollector" && have_posctl) {
      expected.insert("-rwxr-xr-x root/root ./usr/bin/posctl");
    }
    if (package == "poscollector") {
      for (const char* file : {"prometheus.yml", "poscollector.rules.yml"}) {
        expected.insert(
            std::string("-rw-r--r-- root/root ./usr/share/doc/poscollector/examples/prometheus/") +
            file);
      }
    }
    EXPECT_EQ(deb_files(deb), expected);

    const TempDir control("pos-deb-control");
    const auto extracted =
        run_command({"dpkg-deb", "--control", deb.string(), (control.path() / "c").string()});
    ASSERT_EQ(extracted.exit_code, 0) << extracted.output;
    EXPECT_EQ(read_file(control.path() / "c/conffiles"),
              "/etc/" + package + "/" + package + ".toml\n");
    for (const char* script : {"postinst", "prerm", "postrm"}) {
      const auto path = control.path() / "c" / script;
      struct stat st {};
      ASSERT_EQ(::stat(path.c_str(), &st), 0) << script << " missing";
      EXPECT_EQ(st.st_mode & 07777, 0755U) << script;
      const auto text = read_file(path);
      EXPECT_TRUE(text.starts_with("#!/bin/sh\n")) << script;
      EXPECT_TRUE(text.find('@') == std::string::npos) << script << ": unsubstituted template";
      const auto syntax = run_command({"sh", "-n", path.string()});
      EXPECT_EQ(syntax.exit_code, 0) << script << ": " << syntax.output;
    }
  }
  // possim is a development tool: in no package.
  for (const auto& deb : both_debs()) {
    for (const auto& file : deb_files(deb)) {
      EXPECT_TRUE(file.find("possim") == std::string::npos) << file;
    }
  }
}

TEST(DebPackageTest, InstallUpgradeRemovePurge) {
  const PackageRoot root;
  const auto agent_deb = find_deb(deb_dir, "posagent");
  root.install({agent_deb});

  // postinst: system user and group, no login, state directory 0750 owned by it.
  const auto passwd = read_file(root / "/etc/passwd");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      passwd, m,
      std::regex(R"(^posagent:x:(\d+):(\d+):[^:]*:/var/lib/posagent:/usr/sbin/nologin$)",
                 std::regex::multiline)))
      << passwd;
  const auto uid = static_cast<uid_t>(std::stoul(m[1].str()));
  const auto gid = static_cast<gid_t>(std::stoul(m[2].str()));
  EXPECT_LT(uid, 1000U) << "a system user";
  struct stat st {};
  ASSERT_EQ(::stat((root / "/var/lib/posagent").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750U);
  EXPECT_EQ(st.st_uid, uid);
  EXPECT_EQ(st.st_gid, gid);
  ASSERT_EQ(::stat((root / "/etc/posagent").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750U) << "the key goes here";
  EXPECT_EQ(st.st_uid, 0U);
  EXPECT_EQ(st.st_gid, gid);
  auto status = root.dpkg({"--status", "posagent"});
  EXPECT_TRUE(status.output.find("Status: install ok installed") != std::string::npos)
      << status.output;

  // Upgrade (the same version again runs the upgrade path): the operator's edits to the
  // conffile and the database survive, the user is not created twice.
  const auto config = root / "/etc/posagent/posagent.toml";
  const auto edited = set_toml_key(read_file(config), "", "store_id", "\"S99\"");
  write_file(config, edited);
  write_file(root / "/var/lib/posagent/outbox.db", "events");
  root.install({agent_deb});
  EXPECT_EQ(read_file(config), edited);
  EXPECT_EQ(read_file(root / "/var/lib/posagent/outbox.db"), "events");
  EXPECT_EQ(read_file(root / "/etc/passwd"), passwd);

  // Remove: program and unit go; configuration and state stay.
  auto removed = root.dpkg({"--remove", "posagent"});
  ASSERT_EQ(removed.exit_code, 0) << removed.output;
  EXPECT_FALSE(fs::exists(root / "/usr/bin/posagent"));
  EXPECT_FALSE(fs::exists(root / "/lib/systemd/system/posagent.service"));
  EXPECT_EQ(read_file(config), edited);
  EXPECT_TRUE(fs::exists(root / "/var/lib/posagent/outbox.db"));
  status = root.dpkg({"--status", "posagent"});
  EXPECT_TRUE(status.output.find("Status: deinstall ok config-files") != std::string::npos)
      << status.output;

  // Purge: the state goes (and the script says so), the conffile goes, the user stays.
  auto purged = root.dpkg({"--purge", "posagent"});
  ASSERT_EQ(purged.exit_code, 0) << purged.output;
  EXPECT_TRUE(purged.output.find("deleting the state directory /var/lib/posagent") !=
              std::string::npos)
      << purged.output;
  EXPECT_FALSE(fs::exists(root / "/var/lib/posagent"));
  EXPECT_FALSE(fs::exists(config));
  EXPECT_EQ(read_file(root / "/etc/passwd"), passwd);
}

TEST_F(InstalledTest, UnitFilesVerifyAndAreHardened) {
  for (const std::string package : {"posagent", "poscollector"}) {
    SCOPED_TRACE(package);
    const auto unit_path = m_root / ("/lib/systemd/system/" + package + ".service");
    const auto unit = read_file(unit_path);
    EXPECT_EQ(unit, read_file(fs::path(POS_UNIT_DIR) / (package + ".service")));

    // systemd-analyze verify resolves ExecStart on the host, and --root= would need a whole
    // systemd unit tree in the throw-away root: verify a copy whose ExecStart names the
    // installed binary by its path in the root.
    const auto binary = "/usr/bin/" + package;
    auto copy = unit;
    const auto exec_start = copy.find("ExecStart=" + binary + " ");
    ASSERT_NE(exec_start, std::string::npos) << unit;
    copy.replace(exec_start + std::string("ExecStart=").size(), binary.size(),
                 (m_root / binary).string());
    const auto copy_path = m_work.path() / (package + ".service");
    write_file(copy_path, copy);
    const auto verify = run_command({"systemd-analyze", "verify", copy_path.string()});
    EXPECT_EQ(verify.exit_code, 0) << verify.output;
    EXPECT_EQ(verify.output, "") << "systemd-analyze verify warns";

    std::string report;
    const double score = exposure_score(unit_path, report);
    EXPECT_LT(score, 2.0) << report;
    std::cout << "[ score    ] systemd-analyze security " << package << ".service: " << score
              << '\n';

    // The agent talks to the POS on loopback and to the broker (and its DNS server) on the
    // shop's or company's private network; never to the public internet (docs/packaging.md).
    if (package == "posagent") {
      EXPECT_EQ(unit_setting(unit, "IPAddressDeny"), "any");
      const auto allowed = unit_settings(unit, "IPAddressAllow");
      for (const auto* entry : {"localhost", "link-local", "10.0.0.0/8", "172.16.0.0/12",
                                "192.168.0.0/16", "fc00::/7"}) {
        EXPECT_TRUE(allowed.contains(entry)) << entry;
      }
      EXPECT_EQ(allowed.size(), 6U);
      EXPECT_EQ(report.find("does not define an IP address allow list"), std::string::npos)
          << report;
    }
    EXPECT_EQ(unit_setting(unit, "Type"), "notify");
    EXPECT_EQ(unit_setting(unit, "WatchdogSec"), "30");
    EXPECT_EQ(unit_setting(unit, "User"), package);
    EXPECT_EQ(unit_setting(unit, "StateDirectory"), package);
    EXPECT_EQ(unit_setting(unit, "ExecStart"),
              "/usr/bin/" + package + " run --config /etc/" + package + "/" + package + ".toml");
    EXPECT_TRUE(fs::exists(m_root / ("/usr/bin/" + package)));

    // systemd must not kill the program while it drains: TimeoutStopSec exceeds the configured
    // drain plus the program's own 5 s exit deadline.
    const auto config = read_file(m_root / ("/etc/" + package + "/" + package + ".toml"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(config, m, std::regex(R"(drain_timeout_ms = (\d+))")));
    const auto stop_s = std::stoi(unit_setting(unit, "TimeoutStopSec"));
    EXPECT_GT(stop_s * 1000, std::stoi(m[1].str()) + 5000);
  }
}

TEST_F(InstalledTest, InstalledProgramsCheckTheInstalledConfigs) {
  auto version = run_command({(m_root / "/usr/bin/posagent").string(), "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output, std::string("posagent ") + POS_PROJECT_VERSION + "\n");
  version = run_command({(m_root / "/usr/bin/poscollector").string(), "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output, std::string("poscollector ") + POS_PROJECT_VERSION + "\n");
  if (have_posctl) {
    const auto help = run_command({(m_root / "/usr/bin/posctl").string(), "--help"});
    EXPECT_EQ(help.exit_code, 0) << help.output;
  }

  // As shipped, the configs point at certificates under /etc that the operator has not placed.
  auto checked = run_command({(m_root / "/usr/bin/posagent").string(), "check-config", "--config",
                              (m_root / "/etc/posagent/posagent.toml").string()});
  EXPECT_EQ(checked.exit_code, 2) << checked.output;
  EXPECT_TRUE(checked.output.find("/etc/posagent/ca.pem") != std::string::npos) << checked.output;

  // With the test certificates and a writable data_dir they are valid.
  const auto agent_toml = m_work.path() / "posagent.toml";
  write_file(agent_toml, agent_config());
  checked = run_command(
      {(m_root / "/usr/bin/posagent").string(), "check-config", "--config", agent_toml.string()});
  EXPECT_EQ(checked.exit_code, 0) << checked.output;
  EXPECT_EQ(checked.output, "ok: " + agent_toml.string() + " (till S07/T1)\n");

  const auto collector_toml = m_work.path() / "poscollector.toml";
  write_file(collector_toml, collector_config());
  checked = run_command({(m_root / "/usr/bin/poscollector").string(), "check-config", "--config",
                         collector_toml.string()});
  EXPECT_EQ(checked.exit_code, 0) << checked.output;
  EXPECT_EQ(checked.output, "ok: " + collector_toml.string() + " (collector collector-1)\n");
}

TEST_F(InstalledTest, InstalledAgentRunsAgainstMosquitto) {
  const MosquittoBroker broker(*m_pki);
  const auto port = free_tcp_port();
  const auto config = running_agent_config(broker, port);
  ChildProcess agent({(m_root / "/usr/bin/posagent").string(), "run", "--config", config.string()},
                     m_work.path() / "posagent.log");
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  HttpAnswer health;
  while (std::chrono::steady_clock::now() < deadline && agent.running()) {
    health = http_request(port, "GET", "/healthz", "", "", 500ms);
    if (health.status == 200) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(health.status, 200) << read_text_file(agent.log_path());
  EXPECT_EQ(health.body, "ok\n");

  const auto posted = http_request(port, "POST", "/v1/events", "application/json",
                                   sale_event("pkg-1", "S07", "T1"));
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(boost::json::parse(posted.body).at("accepted").as_int64(), 1);

  // It reaches the broker with the till certificate: /v1/status says connected.
  bool connected = false;
  while (!connected && std::chrono::steady_clock::now() < deadline + 15s) {
    const auto status = http_request(port, "GET", "/v1/status");
    connected =
        status.status == 200 && status.body.find("\"broker_connected\":true") != std::string::npos;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(connected) << read_text_file(agent.log_path());

  EXPECT_EQ(agent.terminate(20s), 0) << read_text_file(agent.log_path());
  EXPECT_TRUE(read_text_file(agent.log_path()).find("posagent stopped") != std::string::npos);
}

TEST_F(InstalledTest, InstalledAgentSpeaksSdNotify) {
  const MosquittoBroker broker(*m_pki);
  const auto port = free_tcp_port();
  const auto config = running_agent_config(broker, port);
  const auto socket_path = m_work.path() / "notify";
  NotifyListener systemd(socket_path);
  ChildProcess agent({(m_root / "/usr/bin/posagent").string(), "run", "--config", config.string()},
                     m_work.path() / "posagent.log",
                     {{"NOTIFY_SOCKET", socket_path.string()}, {"WATCHDOG_USEC", "600000"}});

  auto messages = systemd.receive_until("READY=1", 15s);
  ASSERT_FALSE(messages.empty()) << read_text_file(agent.log_path());
  EXPECT_EQ(messages.back(), "READY=1\nSTATUS=ingest on 127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(messages.size(), 1U) << "READY=1 comes first";
  // READY=1 means serving.
  EXPECT_EQ(http_request(port, "GET", "/healthz").status, 200);

  // Keep-alives at half of WATCHDOG_USEC (300 ms): at least 3 within 1.5 s.
  int keepalives = 0;
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    if (auto message = systemd.receive()) {
      EXPECT_EQ(*message, "WATCHDOG=1");
      ++keepalives;
    }
  }
  EXPECT_GE(keepalives, 3);
  EXPECT_LE(keepalives, 8) << "keep-alives at half the timeout, not faster";

  ::kill(agent.pid(), SIGTERM);
  messages = systemd.receive_until("STOPPING=1", 10s);
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.back(), "STOPPING=1\nSTATUS=draining outstanding batches");
  EXPECT_EQ(agent.wait(), 0) << read_text_file(agent.log_path());
  EXPECT_FALSE(systemd.receive()) << "nothing after STOPPING=1";
}

// The units deny every system call outside @system-service minus @privileged and @resources, with
// EPERM. No systemd runs as PID 1 here, so instead the installed agent runs a full cycle (start,
// ingest, forward to mosquitto, SIGTERM) as its system user under strace, and every call it made
// must be allowed.
TEST_F(InstalledTest, InstalledAgentStaysWithinTheSyscallFilter) {
  const auto allowed = allowed_syscalls();
  const MosquittoBroker broker(*m_pki);
  const auto port = free_tcp_port();
  const auto config = running_agent_config(broker, port);
  const auto summary = m_work.path() / "strace.txt";
  // As the unit does: run as the package's system user, not as root (SQLite, for one, fchown()s
  // new journal files only when it runs as root).
  const auto [uid, gid] = system_user(m_root / "/etc/passwd", "posagent");
  for (const auto& entry : fs::recursive_directory_iterator(m_work.path())) {
    ASSERT_EQ(::chown(entry.path().c_str(), uid, gid), 0) << entry.path();
  }
  ASSERT_EQ(::chown(m_work.path().c_str(), uid, gid), 0);
  ChildProcess traced(
      {"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(gid),
       "--clear-groups", "--", "strace", "-f", "-c", "-o", summary.string(),
       (m_root / "/usr/bin/posagent").string(), "run", "--config", config.string()},
      m_work.path() / "posagent.log");
  const auto agent = child_named(traced.pid(), "posagent");
  ASSERT_TRUE(agent) << "strace started no posagent:\n" << read_text_file(traced.log_path());
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool connected = false;
  bool posted = false;
  while (!connected && std::chrono::steady_clock::now() < deadline && traced.running()) {
    if (!posted) {
      posted = http_request(port, "POST", "/v1/events", "application/json",
                            sale_event("strace-1", "S07", "T1"), 1s)
                   .status == 200;
    }
    const auto status = http_request(port, "GET", "/v1/status", "", "", 1s);
    connected = posted && status.body.find("\"broker_connected\":true") != std::string::npos;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(connected) << read_text_file(traced.log_path());
  ASSERT_EQ(::kill(*agent, SIGTERM), 0)
      << "posagent " << *agent << ": " << std::error_code(errno, std::generic_category()).message()
      << "\n"
      << read_text_file(traced.log_path());
  EXPECT_EQ(traced.wait(), 0) << read_text_file(traced.log_path());

  const auto used = traced_syscalls(read_text_file(summary));
  ASSERT_GT(used.size(), 20U) << read_text_file(summary);
  for (const auto& call : used) {
    EXPECT_TRUE(allowed.contains(call)) << call << " is denied by the unit's SystemCallFilter";
  }
}

TEST_F(InstalledTest, InstalledCollectorSpeaksSdNotify) {
  const MosquittoBroker broker(*m_pki);
  const auto port = free_tcp_port();
  auto text = collector_config();
  text = set_toml_key(text, "mqtt", "uri", toml_string(broker.uri()));
  text = set_toml_key(text, "sink", "type", toml_string("file"));
  text = set_toml_key(text, "sink", "path", toml_string((m_work.path() / "out").string()));
  text = set_toml_key(text, "http", "listen", toml_string("127.0.0.1:" + std::to_string(port)));
  const auto config = m_work.path() / "poscollector-run.toml";
  write_file(config, text);
  fs::create_directories(m_work.path() / "out");

  const auto socket_path = m_work.path() / "notify";
  NotifyListener systemd(socket_path);
  ChildProcess collector(
      {(m_root / "/usr/bin/poscollector").string(), "run", "--config", config.string()},
      m_work.path() / "poscollector.log",
      {{"NOTIFY_SOCKET", socket_path.string()}, {"WATCHDOG_USEC", "600000"}});

  auto messages = systemd.receive_until("READY=1", 15s);
  ASSERT_FALSE(messages.empty()) << read_text_file(collector.log_path());
  EXPECT_EQ(messages.back(), "READY=1\nSTATUS=http on 127.0.0.1:" + std::to_string(port) +
                                 ", broker " + broker.uri());
  EXPECT_EQ(http_request(port, "GET", "/healthz").status, 200);
  messages = systemd.receive_until("WATCHDOG=1", 2s);
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.back(), "WATCHDOG=1");

  ::kill(collector.pid(), SIGTERM);
  messages = systemd.receive_until("STOPPING=1", 10s);
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.back(), "STOPPING=1\nSTATUS=draining batches in flight");
  EXPECT_EQ(collector.wait(), 0) << read_text_file(collector.log_path());
}

}  // namespace
}  // namespace pos::test
