#include "pos/common/certificate_expiry.hpp"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "pos/common/openssl_handles.hpp"

namespace pos::common {
namespace {

namespace fs = std::filesystem;

/// A self-signed EC certificate valid until `not_after_s` (Unix seconds), written as PEM.
void write_certificate(const fs::path& path, std::int64_t not_after_s) {
  ossl::Pkey key(EVP_EC_gen("P-256"));
  ASSERT_TRUE(key);
  ossl::Cert cert(X509_new());
  ASSERT_TRUE(cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  ASSERT_NE(ASN1_TIME_set(X509_getm_notBefore(cert.get()), 0), nullptr);
  ASSERT_NE(ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(not_after_s)),
            nullptr);
  X509_NAME* name = X509_get_subject_name(cert.get());
  const unsigned char cn[] = "S07/T1";
  ASSERT_EQ(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0), 1);
  ASSERT_EQ(X509_set_issuer_name(cert.get(), name), 1);
  ASSERT_EQ(X509_set_pubkey(cert.get(), key.get()), 1);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  ossl::Bio bio(BIO_new_file(path.c_str(), "w"));
  ASSERT_TRUE(bio);
  ASSERT_EQ(PEM_write_bio_X509(bio.get(), cert.get()), 1);
}

class CertificateExpiryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir =
        fs::temp_directory_path() /
        ("pos-cert-expiry-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + std::to_string(::getpid()));
    fs::create_directories(m_dir);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  fs::path m_dir;
};

TEST_F(CertificateExpiryTest, ReadsNotAfterToTheSecond) {
  const auto path = m_dir / "till.pem";
  write_certificate(path, 1'893'456'000);  // 2030-01-01T00:00:00Z
  const auto not_after = certificate_not_after_ms(path);
  ASSERT_TRUE(not_after) << not_after.error().message;
  EXPECT_EQ(*not_after, 1'893'456'000'000);
}

TEST_F(CertificateExpiryTest, ErrorsNameTheFileAndTheProblem) {
  const auto missing = certificate_not_after_ms(m_dir / "missing.pem");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            (m_dir / "missing.pem").string() + ": cannot read: No such file or directory");
  std::ofstream(m_dir / "junk.pem") << "-----BEGIN CERTIFICATE-----\nnot base64\n";
  const auto junk = certificate_not_after_ms(m_dir / "junk.pem");
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().message, (m_dir / "junk.pem").string() + ": not a PEM certificate");
}

TEST_F(CertificateExpiryTest, TheWatchSeesARenewalAndNotAnUnchangedFile) {
  const auto path = m_dir / "till.pem";
  const auto key = m_dir / "till.key";
  write_certificate(path, 1'893'456'000);
  std::ofstream(key) << "key";
  FileChangeWatch watch({path, key});
  EXPECT_FALSE(watch.poll());

  // The same mtime and size: no change seen, even though the content changed (a real renewal
  // changes the mtime). (An ECDSA signature's length varies: draw until the new file has the old
  // one's size.)
  const auto mtime = fs::last_write_time(path);
  const auto size = fs::file_size(path);
  const auto other = m_dir / "other.pem";
  for (int i = 0; i < 100; ++i) {
    write_certificate(other, 1'893'456'001);
    if (fs::file_size(other) == size) {
      break;
    }
  }
  ASSERT_EQ(fs::file_size(other), size);
  fs::rename(other, path);
  fs::last_write_time(path, mtime);
  EXPECT_FALSE(watch.poll());

  fs::last_write_time(path, mtime + std::chrono::seconds(5));
  EXPECT_TRUE(watch.poll());
  EXPECT_FALSE(watch.poll()) << "seen once";
  {
    const auto renewed = certificate_not_after_ms(path);
    ASSERT_TRUE(renewed);
    EXPECT_EQ(*renewed, 1'893'456'001'000);
  }

  fs::remove(path);
  EXPECT_TRUE(watch.poll());
  write_certificate(path, 1'924'992'000);  // renewed: 2031-01-01
  EXPECT_TRUE(watch.poll());
  {
    const auto renewed = certificate_not_after_ms(path);
    ASSERT_TRUE(renewed);
    EXPECT_EQ(*renewed, 1'924'992'000'000);
  }

  std::ofstream(key) << "a new key";  // any file of the set
  EXPECT_TRUE(watch.poll());
}

}  // namespace
}  // namespace pos::common
