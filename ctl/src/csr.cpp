#include "pos/ctl/csr.hpp"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>

#include "ossl.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::ctl {
namespace {

// RSA keys below this are weaker than EC P-256 (128-bit security level: NIST SP 800-57).
constexpr int min_rsa_bits = 3072;
constexpr std::size_t max_csr_bytes = std::size_t{64} * 1024;

// Describes the key ("EC P-256") when it is at least as strong as issue-till's, else fails.
Result<std::string> check_key(EVP_PKEY* key) {
  const int type = EVP_PKEY_get_base_id(key);
  if (type == EVP_PKEY_EC) {
    std::array<char, 64> group{};
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &len) != 1) {
      return fail(ossl::error("the CSR's EC key names no curve"));
    }
    const std::string name(group.data(), len);
    const int nid = OBJ_sn2nid(name.c_str());
    if (nid == NID_X9_62_prime256v1) {
      return std::string("EC P-256");
    }
    if (nid == NID_secp384r1) {
      return std::string("EC P-384");
    }
    if (nid == NID_secp521r1) {
      return std::string("EC P-521");
    }
    return fail("the CSR's key is on curve " + name +
                "; accepted are P-256 (what posagent enroll makes), P-384 and P-521");
  }
  if (type == EVP_PKEY_RSA) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits < min_rsa_bits) {
      return fail("the CSR's key is RSA " + std::to_string(bits) +
                  " bits, weaker than the CA's EC P-256; use EC P-256 (posagent enroll) or RSA of "
                  "at least " +
                  std::to_string(min_rsa_bits) + " bits");
    }
    return "RSA " + std::to_string(bits);
  }
  return fail(std::string("the CSR's key type ") + OBJ_nid2sn(type) +
              " is not accepted; use EC P-256 (posagent enroll)");
}

// The subject's single CN, or a failure when the subject has anything else.
Result<std::string> subject_cn(X509_REQ* req) {
  const X509_NAME* name = X509_REQ_get_subject_name(req);
  if (name == nullptr || X509_NAME_entry_count(name) != 1) {
    return fail("the CSR's subject must be exactly one CN \"{store}/{till}\"");
  }
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, 0);
  if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry)) != NID_commonName) {
    return fail("the CSR's subject must be exactly one CN \"{store}/{till}\"");
  }
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
  if (len < 0 || utf8 == nullptr) {
    return fail(ossl::error("the CSR's CN"));
  }
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace

Result<TillCsr> check_till_csr(std::string_view pem) {
  if (pem.size() > max_csr_bytes) {
    return fail("the CSR is larger than " + std::to_string(max_csr_bytes) + " bytes");
  }
  if (pem.find("-----BEGIN CERTIFICATE REQUEST-----") == std::string_view::npos) {
    return fail(
        "not a PEM certificate request (no \"-----BEGIN CERTIFICATE REQUEST-----\" line); give "
        "the .csr file posagent enroll wrote");
  }
  auto bio = common::ossl::memory_bio(pem);
  if (!bio) {
    return fail(ossl::error("BIO_new_mem_buf"));
  }
  ossl::Req req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) {
    return fail(ossl::error("malformed PEM certificate request"));
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) {
    return fail(ossl::error("the CSR's public key"));
  }
  if (X509_REQ_verify(req.get(), key) != 1) {
    return fail(ossl::error(
        "the CSR's signature does not verify (altered after it was made, or not made with its "
        "key)"));
  }
  auto key_type = check_key(key);
  if (!key_type) {
    return fail(key_type.error());
  }
  auto cn = subject_cn(req.get());
  if (!cn) {
    return fail(cn.error());
  }
  if (cn->find('/') == std::string::npos) {
    return fail("the CSR's CN \"" + *cn + R"(" is not a till name "{store}/{till}")");
  }
  auto name = protocol::parse_till_name(*cn);
  if (!name) {
    return fail("the CSR's CN \"" + *cn +
                R"(" is not a till name "{store}/{till}" (ids match [A-Za-z0-9_-]{1,32}))");
  }
  TillCsr out;
  out.store_id = std::move(name->store_id);
  out.till_id = std::move(name->till_id);
  out.common_name = std::move(*cn);
  out.key_type = std::move(*key_type);
  unsigned char* der = nullptr;
  const int der_len = i2d_PUBKEY(key, &der);
  if (der_len <= 0 || der == nullptr) {
    return fail(ossl::error("encoding the CSR's public key"));
  }
  out.public_key_der.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_len));
  OPENSSL_free(der);
  return out;
}

}  // namespace pos::ctl
