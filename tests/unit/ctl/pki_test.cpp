#include "pos/ctl/pki.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>

#include "ctl_test_support.hpp"
#include "pos/common/openssl_handles.hpp"

namespace pos::ctl {
namespace {

namespace fs = std::filesystem;
using test::mode_of;

using CertPtr = common::ossl::Cert;
using CrlPtr = common::ossl::Crl;
using KeyPtr = common::ossl::Pkey;

// Runs a PEM_read_* function on a file.
template <class T, class Read>
T read_pem(const fs::path& path, Read read) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    throw std::runtime_error("cannot open " + path.string());
  }
  T out(read(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!out) {
    throw std::runtime_error("cannot parse " + path.string());
  }
  return out;
}
CertPtr read_cert(const fs::path& p) {
  return read_pem<CertPtr>(p, PEM_read_X509);
}
CrlPtr read_crl(const fs::path& p) {
  return read_pem<CrlPtr>(p, PEM_read_X509_CRL);
}
KeyPtr read_key(const fs::path& p) {
  return read_pem<KeyPtr>(p, PEM_read_PrivateKey);
}

std::string common_name(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

std::vector<std::string> uris(X509* cert) {
  std::unique_ptr<GENERAL_NAMES, common::ossl::Deleter<GENERAL_NAMES_free>> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  std::vector<std::string> out;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_URI) {
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                       static_cast<std::size_t>(ASN1_STRING_length(uri)));
    }
  }
  return out;
}

// X509_verify_cert of `cert` against the CA (and the CRL when given) for `purpose`; returns the
// verification error (X509_V_OK when it verifies).
int verify(X509* ca, X509* cert, int purpose, X509_CRL* crl = nullptr) {
  common::ossl::Store store(X509_STORE_new());
  EXPECT_EQ(X509_STORE_add_cert(store.get(), ca), 1);
  if (crl != nullptr) {
    EXPECT_EQ(X509_STORE_add_crl(store.get(), crl), 1);
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  common::ossl::StoreCtx ctx(X509_STORE_CTX_new());
  EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr), 1);
  EXPECT_EQ(X509_STORE_CTX_set_purpose(ctx.get(), purpose), 1);
  if (X509_verify_cert(ctx.get()) == 1) {
    return X509_V_OK;
  }
  return X509_STORE_CTX_get_error(ctx.get());
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(CertificateAuthority::init(m_ca_dir, CaOptions{"Test CA", 3650}));
  }
  CertificateAuthority open() {
    auto ca = CertificateAuthority::open(m_ca_dir);
    if (!ca) {
      throw std::runtime_error(ca.error().message);
    }
    return std::move(*ca);
  }
  IssuedFiles issue(const Result<LeafRequest>& request, bool force = false) {
    if (!request) {
      throw std::runtime_error(request.error().message);
    }
    auto ca = open();
    auto issued = ca.issue(*request, m_out, force);
    if (!issued) {
      throw std::runtime_error(issued.error().message);
    }
    return *issued;
  }

  test::TempDir m_tmp;
  fs::path m_ca_dir = m_tmp.path() / "ca";
  fs::path m_out = m_tmp.path() / "out";
};

TEST_F(PkiTest, InitCreatesThePrivateLayout) {
  EXPECT_EQ(mode_of(m_ca_dir), 0700U);
  EXPECT_EQ(mode_of(m_ca_dir / "ca.key"), 0600U);
  EXPECT_TRUE(fs::exists(m_ca_dir / "serials" / "index"));
  auto ca_cert = read_cert(m_ca_dir / "ca.crt");
  EXPECT_EQ(common_name(ca_cert.get()), "Test CA");
  EXPECT_EQ(X509_check_ca(ca_cert.get()), 1);
  EXPECT_TRUE(X509_get_key_usage(ca_cert.get()) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(ca_cert.get()) & KU_CRL_SIGN);
  auto key = read_key(m_ca_dir / "ca.key");
  EXPECT_EQ(X509_check_private_key(ca_cert.get(), key.get()), 1);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);
  auto crl = read_crl(m_ca_dir / "crl.pem");
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca_cert.get())), 1);
}

TEST_F(PkiTest, InitRefusesToOverwriteACa) {
  const auto before = read_cert(m_ca_dir / "ca.crt");
  const auto again = CertificateAuthority::init(m_ca_dir, CaOptions{});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already holds a CA"), std::string::npos)
      << again.error().message;
  EXPECT_EQ(X509_cmp(before.get(), read_cert(m_ca_dir / "ca.crt").get()), 0);
}

TEST_F(PkiTest, InitRefusesADirectoryOthersCanRead) {
  const fs::path dir = m_tmp.path() / "open";
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms(0755));
  const auto r = CertificateAuthority::init(dir, CaOptions{});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("mode 0755"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(dir / "ca.key"));
}

TEST_F(PkiTest, OpenWithoutCaSaysHowToCreateOne) {
  const auto r = CertificateAuthority::open(m_tmp.path() / "nothing");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("posctl pki init"), std::string::npos) << r.error().message;
}

TEST_F(PkiTest, TillCertificateHasItsIdentityAndVerifiesAgainstTheCa) {
  const auto files = issue(till_request("S07", "T1", 825));
  EXPECT_EQ(files.cert, m_out / "S07-T1.crt");
  EXPECT_EQ(files.key, m_out / "S07-T1.key");
  EXPECT_EQ(mode_of(files.key), 0600U);
  EXPECT_EQ(mode_of(m_out), 0700U);
  auto cert = read_cert(files.cert);
  auto ca = read_cert(m_ca_dir / "ca.crt");
  EXPECT_EQ(common_name(cert.get()), "S07/T1");
  EXPECT_EQ(uris(cert.get()), std::vector<std::string>{"urn:fastyle:pos:till:S07:T1"});
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<std::uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(verify(ca.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_NE(verify(ca.get(), cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  auto key = read_key(files.key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);

  const std::int64_t now = std::time(nullptr);
  const std::int64_t days = (files.record.not_after - now + 43200) / 86400;
  EXPECT_EQ(days, 825);
  EXPECT_LE(files.record.not_before, now);
  EXPECT_EQ(X509_cmp_time(X509_get0_notAfter(cert.get()), nullptr), 1);
}

// "A-B"/"C" and "A"/"B-C" used to share the files A-B-C.crt/.key: the second issue overwrote
// the first till's key.
TEST_F(PkiTest, DashedIdsThatUsedToShareFilesGetTheirOwn) {
  const auto first = issue(till_request("A-B", "C"));
  const auto second = issue(till_request("A", "B-C"));
  EXPECT_NE(first.key, second.key);
  EXPECT_NE(first.cert, second.cert);
  EXPECT_EQ(second.cert, m_out / "A-B-C.crt");
  EXPECT_EQ(first.cert, m_out / "A.B-C.crt");
  for (const auto* files : {&first, &second}) {
    auto cert = read_cert(files->cert);
    auto key = read_key(files->key);
    EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1) << files->cert;
  }
  EXPECT_EQ(common_name(read_cert(first.cert).get()), "A-B/C");
  EXPECT_EQ(common_name(read_cert(second.cert).get()), "A/B-C");
}

// A drain certificate is a second identity of the till: its own CN (so its own MQTT session),
// own files, and it needs no --force beside the till's valid certificate.
TEST_F(PkiTest, DrainCertificateHasItsOwnCnAndFiles) {
  const auto till = issue(till_request("S07", "T1"));
  const auto drain = issue(drain_request("S07", "T1"));
  EXPECT_EQ(drain.cert, m_out / "S07-T1.drain.crt");
  EXPECT_EQ(drain.key, m_out / "S07-T1.drain.key");
  EXPECT_EQ(mode_of(drain.key), 0600U);
  auto cert = read_cert(drain.cert);
  EXPECT_EQ(common_name(cert.get()), "S07/T1/drain");
  EXPECT_EQ(uris(cert.get()), std::vector<std::string>{"urn:fastyle:pos:drain:S07:T1"});
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<std::uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(common_name(read_cert(till.cert).get()), "S07/T1");
  EXPECT_FALSE(drain_request("S/07", "T1"));
}

// The broker makes the CN the MQTT client id (use_username_as_clientid), so the collector's
// session is safe only while no till or drain certificate can carry a collector's CN, and no till
// another till's: tills have exactly one '/', drains two, collectors none.
TEST(PkiRequests, CommonNameShapesNeverMeet) {
  for (const std::string id : {"collector-1", "S07", "T1", "-", "a_b"}) {
    const auto till = till_request("S07", id);
    ASSERT_TRUE(till) << id;
    EXPECT_EQ(std::count(till->common_name.begin(), till->common_name.end(), '/'), 1) << id;
    const auto drain = drain_request(id, "T1");
    ASSERT_TRUE(drain) << id;
    EXPECT_EQ(std::count(drain->common_name.begin(), drain->common_name.end(), '/'), 2) << id;
    EXPECT_TRUE(drain->common_name.ends_with("/drain")) << id;
    const auto collector = collector_request(id);
    ASSERT_TRUE(collector) << id;
    EXPECT_EQ(collector->common_name.find('/'), std::string::npos) << id;
  }
  for (const std::string bad : {"S07/T1", "S07/T1/drain", "collector/1", "a+b", "a#b", ""}) {
    EXPECT_FALSE(collector_request(bad)) << bad;
    EXPECT_FALSE(till_request(bad, "T1")) << bad;
    EXPECT_FALSE(till_request("S07", bad)) << bad;
    EXPECT_FALSE(drain_request("S07", bad)) << bad;
  }
}

TEST_F(PkiTest, CollectorAndBrokerCertificates) {
  auto ca = read_cert(m_ca_dir / "ca.crt");
  const auto collector = issue(collector_request("collector-1", 30));
  auto c = read_cert(collector.cert);
  EXPECT_EQ(common_name(c.get()), "collector-1");
  EXPECT_EQ(verify(ca.get(), c.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);

  const auto broker =
      issue(broker_request({"mqtt.fastyle.example", "localhost"}, {"127.0.0.1"}, 30));
  EXPECT_EQ(broker.cert.filename(), "broker.crt");
  auto b = read_cert(broker.cert);
  EXPECT_EQ(common_name(b.get()), "mqtt.fastyle.example");
  EXPECT_EQ(X509_get_extended_key_usage(b.get()), static_cast<std::uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(verify(ca.get(), b.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(verify(ca.get(), b.get(), X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(X509_check_host(b.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(b.get(), "mqtt.fastyle.example", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(b.get(), "evil.example", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(b.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(b.get(), "10.0.0.1", 0), 0);
}

TEST_F(PkiTest, LeafValidityNeverOutlivesTheCa) {
  const fs::path dir = m_tmp.path() / "short-ca";
  ASSERT_TRUE(CertificateAuthority::init(dir, CaOptions{"Short CA", 100}));
  auto ca = CertificateAuthority::open(dir);
  ASSERT_TRUE(ca);
  const auto issued = ca->issue(*till_request("S07", "T1", 825), m_out, false);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_TRUE(issued->clamped_to_ca);
  EXPECT_EQ(issued->record.not_after, ca->ca_not_after());
}

TEST_F(PkiTest, SerialsAreRandomUniqueAndRecorded) {
  std::set<std::string> serials;
  for (int i = 0; i < 20; ++i) {
    const auto files = issue(till_request("S01", "T" + std::to_string(i)));
    auto cert = read_cert(files.cert);
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(
        ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr), BN_free);
    EXPECT_LE(BN_num_bits(bn.get()), 128);
    EXPECT_GT(BN_num_bits(bn.get()), 64);  // fails with probability 2^-64
    serials.insert(files.record.serial);
    EXPECT_TRUE(fs::exists(m_ca_dir / "serials" / (files.record.serial + ".pem")));
  }
  EXPECT_EQ(serials.size(), 20U);
  auto ca = open();
  ASSERT_EQ(ca.records().size(), 20U);
  EXPECT_EQ(ca.records().front().common_name, "S01/T0");
}

TEST_F(PkiTest, ASecondCertificateForAValidCnNeedsForce) {
  const auto first = issue(till_request("S07", "T1"));
  {
    auto ca = open();
    const auto again = ca.issue(*till_request("S07", "T1"), m_out, false);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("already has a valid certificate (serial " +
                                         first.record.serial),
              std::string::npos)
        << again.error().message;
    EXPECT_NE(again.error().message.find("--force"), std::string::npos);
  }
  const auto rotated = issue(till_request("S07", "T1"), true);
  EXPECT_NE(rotated.record.serial, first.record.serial);
  auto ca = open();
  ASSERT_TRUE(ca.revoke_serial(first.record.serial, RevocationReason::superseded));
  ASSERT_TRUE(ca.revoke_serial(rotated.record.serial, RevocationReason::cessation_of_operation));
  EXPECT_TRUE(ca.issue(*till_request("S07", "T1"), m_out, false)) << "all revoked: issue again";
}

TEST_F(PkiTest, RevokedSerialIsInTheCrlSignedByTheCa) {
  const auto revoked = issue(till_request("S07", "T1"));
  const auto kept = issue(till_request("S07", "T2"));
  {
    auto ca = open();
    const auto r = ca.revoke_serial(revoked.record.serial, RevocationReason::key_compromise, 10);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->revoked());
  }
  auto ca_cert = read_cert(m_ca_dir / "ca.crt");
  auto crl = read_crl(m_ca_dir / "crl.pem");
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca_cert.get())), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca_cert.get())), 0);
  auto revoked_cert = read_cert(revoked.cert);
  X509_REVOKED* entry = nullptr;
  ASSERT_EQ(X509_CRL_get0_by_cert(crl.get(), &entry, revoked_cert.get()), 1);
  int crit = 0;
  std::unique_ptr<ASN1_ENUMERATED, decltype(&ASN1_ENUMERATED_free)> reason(
      static_cast<ASN1_ENUMERATED*>(
          X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, &crit, nullptr)),
      ASN1_ENUMERATED_free);
  ASSERT_TRUE(reason);
  EXPECT_EQ(ASN1_ENUMERATED_get(reason.get()), 1);  // keyCompromise
  auto kept_cert = read_cert(kept.cert);
  EXPECT_EQ(X509_CRL_get0_by_cert(crl.get(), &entry, kept_cert.get()), 0);
  const std::int64_t next_days = (static_cast<std::int64_t>(std::time(nullptr)) + 10 * 86400);
  time_t check = static_cast<time_t>(next_days + 60);
  EXPECT_EQ(X509_cmp_time(X509_CRL_get0_nextUpdate(crl.get()), &check), -1);

  EXPECT_EQ(verify(ca_cert.get(), revoked_cert.get(), X509_PURPOSE_SSL_CLIENT, crl.get()),
            X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verify(ca_cert.get(), kept_cert.get(), X509_PURPOSE_SSL_CLIENT, crl.get()), X509_V_OK);
}

TEST_F(PkiTest, RevokeErrorsNameTheProblem) {
  const auto files = issue(till_request("S07", "T1"));
  auto ca = open();
  const auto unknown = ca.revoke_serial("ABCDEF", RevocationReason::unspecified);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("not issued by this CA"), std::string::npos);
  ASSERT_TRUE(ca.revoke_serial(files.record.serial, RevocationReason::unspecified));
  const auto twice = ca.revoke_serial(files.record.serial, RevocationReason::unspecified);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("already revoked"), std::string::npos);
  const auto no_cn = ca.revoke_common_name("S99/T9", RevocationReason::unspecified);
  ASSERT_FALSE(no_cn);
  EXPECT_NE(no_cn.error().message.find("S99/T9"), std::string::npos);
}

TEST_F(PkiTest, RevokeByCnRevokesEveryCertificateOfIt) {
  const auto a = issue(till_request("S07", "T1"));
  const auto b = issue(till_request("S07", "T1"), true);
  const auto other = issue(till_request("S07", "T2"));
  {
    auto ca = open();
    const auto r = ca.revoke_common_name("S07/T1", RevocationReason::cessation_of_operation);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2U);
  }
  auto crl = read_crl(m_ca_dir / "crl.pem");
  X509_REVOKED* entry = nullptr;
  EXPECT_EQ(X509_CRL_get0_by_cert(crl.get(), &entry, read_cert(a.cert).get()), 1);
  EXPECT_EQ(X509_CRL_get0_by_cert(crl.get(), &entry, read_cert(b.cert).get()), 1);
  EXPECT_EQ(X509_CRL_get0_by_cert(crl.get(), &entry, read_cert(other.cert).get()), 0);
  // The index keeps the revocation across a reopen.
  auto reopened = open();
  for (const auto& rec : reopened.records()) {
    EXPECT_EQ(rec.revoked(), rec.common_name == "S07/T1") << rec.serial;
  }
}

TEST_F(PkiTest, CrlNumberGrowsWithEveryCrl) {
  auto ca = open();
  const auto first = ca.write_crl(5);
  const auto second = ca.write_crl(5);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(second->number, first->number + 1);
  EXPECT_EQ(second->next_update - second->this_update, 5 * 86400);
  auto next = ca.crl_next_update();
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, second->next_update);
}

TEST_F(PkiTest, ASecondProcessCannotOpenTheCaAtTheSameTime) {
  auto held = open();
  const auto second = CertificateAuthority::open(m_ca_dir);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("another posctl"), std::string::npos);
}

TEST(PkiRequests, BadArgumentsAreNamed) {
  const auto expect_error = [](const Result<LeafRequest>& r, const std::string& needle) {
    ASSERT_FALSE(r) << needle;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expect_error(till_request("S/7", "T1"), "--store");
  expect_error(till_request("S07", "T+1"), "--till");
  expect_error(till_request("S07", std::string(33, 'x')), "--till");
  expect_error(till_request("", "T1"), "--store");
  expect_error(till_request("S07", "T1", 0), "--days 0");
  expect_error(collector_request("collector/1"), "--id \"collector/1\"");
  expect_error(broker_request({}, {}), "at least one --dns");
  expect_error(broker_request({"bad_name.example"}, {}), "--dns \"bad_name.example\"");
  expect_error(broker_request({"-x.example"}, {}), "--dns");
  expect_error(broker_request({}, {"300.1.1.1"}), "--ip \"300.1.1.1\"");
  EXPECT_TRUE(broker_request({}, {"::1"}));
  EXPECT_TRUE(broker_request({"*.fastyle.example"}, {}));
}

}  // namespace
}  // namespace pos::ctl
