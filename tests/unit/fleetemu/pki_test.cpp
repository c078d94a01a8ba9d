// posfleet's till certificates: issued by the shared X.509 helpers (pos::x509, posctl's too),
// chained to the CA, and keys that are mode 0600 from the start, also when a run replaces them.

#include "pos/fleetemu/pki.hpp"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "pos/common/x509.hpp"
#include "pos/fleetemu/fleet_layout.hpp"

namespace pos::fleetemu {
namespace {

namespace fs = std::filesystem;
namespace ossl = common::ossl;

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

class FleetPki : public ::testing::Test {
 protected:
  FleetPki() : m_dir(fs::temp_directory_path() / ("fleetemu-pki-" + std::to_string(::getpid()))) {
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
    auto key = ossl::generate_p256_key();
    EXPECT_TRUE(key) << key.error().message;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const ossl::CertSpec spec{"Test Fleet CA",
                              now - 60,
                              now + 86400,
                              {{NID_basic_constraints, "critical,CA:TRUE"},
                               {NID_key_usage, "critical,keyCertSign,cRLSign"},
                               {NID_subject_key_identifier, "hash"}}};
    auto ca = ossl::make_cert(spec, key->get(), nullptr, nullptr);
    EXPECT_TRUE(ca) << ca.error().message;
    write_text(m_dir / "ca.crt", *ossl::cert_pem(ca->get()));
    write_text(m_dir / "ca.key", *ossl::private_key_pem(key->get()));
    m_ca = std::move(*ca);
    m_options.ca_cert = (m_dir / "ca.crt").string();
    m_options.ca_key = (m_dir / "ca.key").string();
    m_options.out_dir = (m_dir / "out").string();
    m_options.tills = 3;
  }
  ~FleetPki() override { fs::remove_all(m_dir); }

  fs::path file_of(std::uint32_t till, const char* extension) const {
    return fs::path(m_options.out_dir) /
           (till_file_stem(till_name(till, m_options.tills_per_store)) + extension);
  }

  fs::path m_dir;
  ossl::Cert m_ca;
  PkiOptions m_options;
};

TEST_F(FleetPki, IssuesClientCertificatesUnderTheCaWithPrivateKeys) {
  auto issued = issue_till_certificates(m_options);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(*issued, 3U);
  for (std::uint32_t till = 0; till < 3; ++till) {
    auto cert = ossl::read_cert(file_of(till, ".crt"));
    ASSERT_TRUE(cert) << cert.error().message;
    const auto name = till_name(till, m_options.tills_per_store);
    EXPECT_EQ(ossl::common_name(cert->get()), name.store_id + "/" + name.till_id);
    EXPECT_EQ(X509_verify(cert->get(), X509_get0_pubkey(m_ca.get())), 1);
    EXPECT_EQ(X509_check_purpose(cert->get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
    EXPECT_EQ(X509_check_purpose(cert->get(), X509_PURPOSE_SSL_SERVER, 0), 0);
    auto key = ossl::read_private_key(file_of(till, ".key"));
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(X509_check_private_key(cert->get(), key->get()), 1);
    struct stat st {};
    ASSERT_EQ(::stat(file_of(till, ".key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600U);
  }
}

TEST_F(FleetPki, ASecondRunReplacesTheFilesAndKeepsKeysPrivate) {
  ASSERT_TRUE(issue_till_certificates(m_options));
  const auto first = ossl::serial_hex(ossl::read_cert(file_of(0, ".crt"))->get());
  ASSERT_TRUE(issue_till_certificates(m_options));
  const auto second = ossl::serial_hex(ossl::read_cert(file_of(0, ".crt"))->get());
  ASSERT_TRUE(first && second);
  EXPECT_NE(*first, *second);
  struct stat st {};
  ASSERT_EQ(::stat(file_of(0, ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  // Nothing but the pairs: no temporary file left behind.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(m_options.out_dir)) {
    ++files;
  }
  EXPECT_EQ(files, 6U);
}

TEST_F(FleetPki, AKeyOfAnotherCaIsRefusedNamingTheOption) {
  auto other = ossl::generate_p256_key();
  ASSERT_TRUE(other);
  write_text(m_dir / "other.key", *ossl::private_key_pem(other->get()));
  m_options.ca_key = (m_dir / "other.key").string();
  auto issued = issue_till_certificates(m_options);
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().message.find("--ca-key: "), 0U) << issued.error().message;
  m_options.ca_cert = (m_dir / "missing.crt").string();
  issued = issue_till_certificates(m_options);
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().message.find("--ca-cert: "), 0U) << issued.error().message;
}

}  // namespace
}  // namespace pos::fleetemu
