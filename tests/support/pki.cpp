#include "support/pki.hpp"

#include <fstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "support/process.hpp"

namespace pos::test {
namespace {

namespace fs = std::filesystem;

// An openssl -subj value with one CN; '/' and '\' are escaped.
std::string subject(std::string_view common_name) {
  std::string out = "/CN=";
  for (const char c : common_name) {
    if (c == '/' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

void restrict_key(const fs::path& key) {
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

}  // namespace

std::string till_common_name(std::string_view store, std::string_view till) {
  return std::string(store) + "/" + std::string(till);
}

TestPki::TestPki(fs::path dir) : m_dir(std::move(dir)) {
  const auto openssl = find_executable("openssl");
  if (!openssl) {
    throw std::runtime_error("TestPki: the openssl program is missing (install package openssl)");
  }
  m_openssl = *openssl;
  m_ca = {m_dir / "ca.crt", m_dir / "ca.key"};
  run_openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
               m_ca.key.string()});
  restrict_key(m_ca.key);
  // Valid a year: the collector's cert_expiry alert (30 days ahead by default) stays quiet in
  // tests that do not ask for it.
  run_openssl({"req", "-x509", "-new", "-key", m_ca.key.string(), "-subj", subject("pos test CA"),
               "-days", "365", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
               "keyUsage=critical,keyCertSign,cRLSign", "-out", m_ca.cert.string()});
  m_server = issue("localhost", "server",
                   "basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
}

CertKey TestPki::issue_client(std::string_view common_name) {
  std::string stem = "client-";
  for (const char c : common_name) {
    stem += c == '/' ? '_' : c;
  }
  return issue(common_name, stem,
               "basicConstraints=critical,CA:FALSE\n"
               "keyUsage=critical,digitalSignature\n"
               "extendedKeyUsage=clientAuth\n");
}

CertKey TestPki::issue(std::string_view common_name, const std::string& file_stem,
                       const std::string& extensions) {
  const CertKey out{m_dir / (file_stem + ".crt"), m_dir / (file_stem + ".key")};
  const fs::path csr = m_dir / (file_stem + ".csr");
  const fs::path ext = m_dir / (file_stem + ".ext");
  {
    std::ofstream f(ext);
    f << extensions;
    if (!f) {
      throw std::runtime_error("TestPki: cannot write " + ext.string());
    }
  }
  run_openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
               out.key.string()});
  restrict_key(out.key);
  run_openssl({"req", "-new", "-key", out.key.string(), "-subj", subject(common_name), "-out",
               csr.string()});
  run_openssl({"x509", "-req", "-in", csr.string(), "-CA", m_ca.cert.string(), "-CAkey",
               m_ca.key.string(), "-CAcreateserial", "-CAserial", (m_dir / "ca.srl").string(),
               "-days", "365", "-sha256", "-extfile", ext.string(), "-out", out.cert.string()});
  return out;
}

void TestPki::run_openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{m_openssl.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const fs::path log = m_dir / "openssl.log";
  std::error_code ec;
  fs::remove(log, ec);
  ChildProcess child(argv, log);
  const int status = child.wait();
  if (status != 0) {
    std::string cmd;
    for (const auto& a : argv) {
      cmd += a + " ";
    }
    throw std::runtime_error("TestPki: `" + cmd + "` exited with " + std::to_string(status) + ": " +
                             read_text_file(log));
  }
}

}  // namespace pos::test
