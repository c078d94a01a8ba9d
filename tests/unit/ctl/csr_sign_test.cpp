// posctl pki sign: CSR checks (check_till_csr) and what the CA puts into the certificate, and the
// round trip with posagent enroll's key and CSR.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "ctl_test_support.hpp"
#include "pos/agent/enroll.hpp"
#include "pos/common/openssl_handles.hpp"
#include "pos/ctl/commands.hpp"
#include "pos/ctl/csr.hpp"

namespace pos::ctl::sign_test {
namespace {

namespace fs = std::filesystem;
namespace ossl = common::ossl;
using test::mode_of;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int)
  return {data, static_cast<std::size_t>(len)};
}

ossl::Pkey p256() {
  return ossl::Pkey(EVP_EC_gen("P-256"));
}

// A CSR for `cn` signed by `key`, asking for `extensions` (nid, OpenSSL config value).
ossl::Req make_req(EVP_PKEY* key, const std::string& cn,
                   const std::vector<std::pair<int, std::string>>& extensions = {}) {
  ossl::Req req(X509_REQ_new());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key);
  if (!extensions.empty()) {
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    for (const auto& [nid, value] : extensions) {
      sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, nid, value.c_str()));
    }
    X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  EXPECT_GT(X509_REQ_sign(req.get(), key, EVP_sha256()), 0);
  return req;
}

std::string pem_of(X509_REQ* req) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req);
  return bio_text(bio.get());
}

std::string make_csr(EVP_PKEY* key, const std::string& cn,
                     const std::vector<std::pair<int, std::string>>& extensions = {}) {
  return pem_of(make_req(key, cn, extensions).get());
}

ossl::Cert read_cert(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string pem = text.str();
  auto bio = ossl::memory_bio(pem);
  return ossl::Cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

class CsrSignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ostringstream out, err;
    ASSERT_EQ(pki_init(m_ca, CaOptions{}, out, err), exit_ok) << err.str();
  }

  // Runs pki_sign on `csr_pem`; returns the exit code, keeps the output.
  int sign(const std::string& csr_pem, const std::string& store = "",
           const std::string& till = "") {
    write_file(m_csr, csr_pem);
    SignArgs args;
    args.dir = m_ca;
    args.csr = m_csr;
    args.out = m_cert;
    args.store = store;
    args.till = till;
    std::ostringstream out, err;
    const int code = pki_sign(args, out, err);
    m_out = out.str();
    m_err = err.str();
    return code;
  }

  test::TempDir m_tmp;
  fs::path m_ca = m_tmp.path() / "ca";
  fs::path m_csr = m_tmp.path() / "till.csr";
  fs::path m_cert = m_tmp.path() / "till.crt";
  std::string m_out, m_err;
};

TEST_F(CsrSignTest, GoodCsrSignsAsIssueTillWouldAndIsRecorded) {
  auto key = p256();
  ASSERT_EQ(sign(make_csr(key.get(), "S07/T1"), "S07", "T1"), exit_ok) << m_err;
  auto cert = read_cert(m_cert);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_NE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT, 0U);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER, 0U);
  EXPECT_EQ(mode_of(m_cert), 0644U);
  auto ca = CertificateAuthority::open(m_ca);
  ASSERT_TRUE(ca) << ca.error().message;
  ASSERT_EQ(ca->records().size(), 1U);
  EXPECT_EQ(ca->records()[0].common_name, "S07/T1");
  EXPECT_EQ(ca->records()[0].kind, CertKind::till);
  EXPECT_FALSE(fs::exists(m_ca / "issued" / "S07-T1.key"));
}

TEST_F(CsrSignTest, RequestedExtensionsAreIgnored) {
  auto key = p256();
  const std::string csr = make_csr(
      key.get(), "S07/T1",
      {{NID_basic_constraints, "critical,CA:TRUE"},
       {NID_ext_key_usage, "serverAuth,clientAuth"},
       {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
       {NID_subject_alt_name, "DNS:mqtt.fastyle.example,URI:urn:fastyle:pos:till:S01:T9"}});
  ASSERT_EQ(sign(csr), exit_ok) << m_err;
  auto cert = read_cert(m_cert);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER, 0U);
  EXPECT_EQ(X509_get_key_usage(cert.get()) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN), 0U);
  std::unique_ptr<GENERAL_NAMES, ossl::Deleter<GENERAL_NAMES_free>> names(
      static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  ASSERT_TRUE(names);
  ASSERT_EQ(sk_GENERAL_NAME_num(names.get()), 1);
  const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), 0);
  ASSERT_EQ(name->type, GEN_URI);
  const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                        static_cast<std::size_t>(ASN1_STRING_length(uri))),
            "urn:fastyle:pos:till:S07:T1");
}

TEST_F(CsrSignTest, TamperedCsrIsRefused) {
  auto key = p256();
  auto req = make_req(key.get(), "S07/T1");
  // Swap the subject after signing: the signature no longer covers what the CSR says.
  ossl::Req copy(X509_REQ_dup(req.get()));
  X509_NAME* other = X509_NAME_new();
  X509_NAME_add_entry_by_txt(other, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("S07/T2"), -1, -1, 0);
  X509_REQ_set_subject_name(copy.get(), other);
  X509_NAME_free(other);
  const auto check = check_till_csr(pem_of(copy.get()));
  ASSERT_FALSE(check);
  EXPECT_NE(check.error().message.find("signature does not verify"), std::string::npos)
      << check.error().message;
  EXPECT_EQ(sign(pem_of(copy.get())), exit_usage);
  EXPECT_FALSE(fs::exists(m_cert));
}

TEST_F(CsrSignTest, CnMismatchWithStoreTillIsRefusedNamingBoth) {
  auto key = p256();
  EXPECT_EQ(sign(make_csr(key.get(), "S07/T1"), "S07", "T2"), exit_usage);
  EXPECT_NE(m_err.find("S07/T1"), std::string::npos) << m_err;
  EXPECT_NE(m_err.find("S07/T2"), std::string::npos) << m_err;
  EXPECT_FALSE(fs::exists(m_cert));
  EXPECT_EQ(sign(make_csr(key.get(), "S07/T1"), "S07", ""), exit_usage);
}

TEST_F(CsrSignTest, BadTillNamesAreRefused) {
  auto key = p256();
  for (const std::string cn : {"S07", "S07/T1/drain", "S07/T+", "collector-1", "/T1", "S07/"}) {
    const auto check = check_till_csr(make_csr(key.get(), cn));
    ASSERT_FALSE(check) << cn;
    EXPECT_NE(check.error().message.find("not a till name"), std::string::npos)
        << check.error().message;
  }
}

TEST_F(CsrSignTest, MalformedPemIsRefusedClearly) {
  auto check = check_till_csr("hello");
  ASSERT_FALSE(check);
  EXPECT_NE(check.error().message.find("not a PEM certificate request"), std::string::npos);
  check = check_till_csr(
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
  ASSERT_FALSE(check);
  EXPECT_NE(check.error().message.find("malformed"), std::string::npos) << check.error().message;
  EXPECT_EQ(sign("garbage"), exit_usage);
  EXPECT_NE(m_err.find("not a PEM certificate request"), std::string::npos) << m_err;
}

TEST_F(CsrSignTest, WeakKeysAreRefused) {
  ossl::Pkey rsa1024(EVP_RSA_gen(1024));
  ASSERT_TRUE(rsa1024);
  const auto check = check_till_csr(make_csr(rsa1024.get(), "S07/T1"));
  ASSERT_FALSE(check);
  EXPECT_NE(check.error().message.find("RSA 1024"), std::string::npos) << check.error().message;
  ossl::Pkey p224(EVP_EC_gen("P-224"));
  ASSERT_TRUE(p224);
  EXPECT_FALSE(check_till_csr(make_csr(p224.get(), "S07/T1")));
  ossl::Pkey p384(EVP_EC_gen("P-384"));
  EXPECT_TRUE(check_till_csr(make_csr(p384.get(), "S07/T1")));
}

TEST_F(CsrSignTest, SecondCertificateForACnNeedsForce) {
  auto key = p256();
  ASSERT_EQ(sign(make_csr(key.get(), "S07/T1")), exit_ok) << m_err;
  EXPECT_EQ(sign(make_csr(key.get(), "S07/T1")), exit_failure);
  EXPECT_NE(m_err.find("already has a valid certificate"), std::string::npos) << m_err;
}

TEST_F(CsrSignTest, EnrollThenSign) {
  const fs::path till_dir = m_tmp.path() / "till";
  fs::create_directory(till_dir);
  agent::EnrollRequest request;
  request.store_id = "JKT-01";
  request.till_id = "T1";
  request.key_file = till_dir / "till.key";
  request.csr_file = till_dir / "till.crt.csr";
  auto csr = agent::enroll_till(request);
  ASSERT_TRUE(csr) << csr.error().message;
  EXPECT_EQ(mode_of(request.key_file), 0600U);
  const auto checked = check_till_csr(*csr);
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->common_name, "JKT-01/T1");
  EXPECT_EQ(checked->key_type, "EC P-256");

  // A second enroll refuses to overwrite the key; --force replaces it.
  const auto again = agent::enroll_till(request);
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().usage);
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos);
  request.force = true;
  ASSERT_TRUE(agent::enroll_till(request));
  EXPECT_EQ(mode_of(request.key_file), 0600U);

  std::ostringstream out, err;
  SignArgs args;
  args.dir = m_ca;
  args.csr = request.csr_file;
  ASSERT_EQ(pki_sign(args, out, err), exit_ok) << err.str();
  const fs::path cert_path = m_ca / "issued" / "JKT.01-T1.crt";
  auto cert = read_cert(cert_path);
  ASSERT_TRUE(cert);
  std::ifstream key_in(request.key_file);
  std::stringstream key_text;
  key_text << key_in.rdbuf();
  const std::string key_pem = key_text.str();
  auto bio = ossl::memory_bio(key_pem);
  ossl::Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);

  // A missing directory is a usage error.
  request.key_file = m_tmp.path() / "nope" / "till.key";
  const auto missing = agent::enroll_till(request);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().usage);
}

}  // namespace
}  // namespace pos::ctl::sign_test
