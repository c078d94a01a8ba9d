#include "pos/common/x509.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

namespace pos::common::ossl {
namespace {

// Limit for the PEM files read here (a CA key, a certificate, a CRL with many entries).
constexpr std::size_t max_pem_bytes = std::size_t{16} * 1024 * 1024;

Result<std::string> bio_contents(BIO* bio, std::string_view what) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int)
  if (len <= 0 || data == nullptr) {
    return fail(error(what));
  }
  return std::string(data, static_cast<std::size_t>(len));
}

Result<Bio> mem_bio() {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio) {
    return fail(error("BIO_new"));
  }
  return bio;
}

// Runs `write` (a PEM_write_bio_* call, named `call` in the error) into a memory BIO and returns
// the text it wrote; `what` names it when the BIO holds nothing.
template <class Write>
Result<std::string> write_pem(std::string_view call, std::string_view what, Write write) {
  auto bio = mem_bio();
  if (!bio) {
    return fail(bio.error());
  }
  if (write(bio->get()) != 1) {
    return fail(error(call));
  }
  return bio_contents(bio->get(), what);
}

Result<std::string> read_small_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(path.string() + ": cannot open");
  }
  std::string text;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_pem_bytes) {
      return fail(path.string() + ": larger than " + std::to_string(max_pem_bytes) + " bytes");
    }
  }
  if (in.bad()) {
    return fail(path.string() + ": read error");
  }
  return text;
}

Result<Bio> bio_from(const std::string& text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return fail("PEM text too large");
  }
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) {
    return fail(error("BIO_new_mem_buf"));
  }
  return bio;
}

// Reads the PEM file `path` and parses it with `read` (a PEM_read_bio_* call); the error names
// the path and what the file is not.
template <class Handle, class Read>
Result<Handle> read_pem_file(const std::filesystem::path& path, std::string_view what, Read read) {
  auto text = read_small_file(path);
  if (!text) {
    return fail(text.error());
  }
  auto bio = bio_from(*text);
  if (!bio) {
    return fail(bio.error());
  }
  Handle handle(read(bio->get()));
  if (!handle) {
    return fail(error(path.string() + ": not " + std::string(what)));
  }
  return handle;
}

Status set_time(ASN1_TIME* field, std::int64_t unix_seconds, std::string_view what) {
  if (ASN1_TIME_set(field, static_cast<time_t>(unix_seconds)) == nullptr) {
    return fail(error(what));
  }
  return {};
}

Status add_cn(X509_NAME* name, const std::string& common_name) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(common_name.c_str());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, bytes, -1, -1, 0) != 1) {
    return fail(error("subject CN \"" + common_name + "\""));
  }
  return {};
}

// Adds one extension given in OpenSSL's config syntax ("critical,CA:TRUE"). The context names
// the issuer and subject for the key identifiers.
Status add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return fail(error(std::string(OBJ_nid2sn(nid)) + "=" + value));
  }
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) {
    return fail(error(std::string("adding ") + OBJ_nid2sn(nid)));
  }
  return {};
}

Result<std::int64_t> to_unix(const ASN1_TIME* t, std::string_view what) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return fail(error(what));
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

Error error(std::string_view what) {
  const auto details = common::ossl::error_queue();
  return Error{std::string(what) + (details.empty() ? ": failed" : ": " + details)};
}

Result<Pkey> generate_p256_key() {
  Pkey key(EVP_EC_gen("P-256"));
  if (!key) {
    return fail(error("generating an EC P-256 key"));
  }
  return key;
}

Result<std::string> private_key_pem(evp_pkey_st* key) {
  return write_pem("PEM_write_bio_PrivateKey", "private key PEM", [key](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Result<std::string> cert_pem(x509_st* cert) {
  return write_pem("PEM_write_bio_X509", "certificate PEM",
                   [cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

Result<std::string> crl_pem(X509_crl_st* crl) {
  return write_pem("PEM_write_bio_X509_CRL", "CRL PEM",
                   [crl](BIO* bio) { return PEM_write_bio_X509_CRL(bio, crl); });
}

Result<Pkey> read_private_key(const std::filesystem::path& path) {
  return read_pem_file<Pkey>(path, "a PEM private key", [](BIO* bio) {
    return PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  });
}

Result<Cert> parse_cert(std::string_view pem) {
  const std::string text(pem);  // BIO_new_mem_buf does not copy: keep it alive
  auto bio = bio_from(text);
  if (!bio) {
    return fail(bio.error());
  }
  Cert cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return fail(error("not a PEM certificate"));
  }
  return cert;
}

Result<Cert> read_cert(const std::filesystem::path& path) {
  return read_pem_file<Cert>(path, "a PEM certificate", [](BIO* bio) {
    return PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  });
}

Result<Crl> read_crl(const std::filesystem::path& path) {
  return read_pem_file<Crl>(path, "a PEM CRL", [](BIO* bio) {
    return PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr);
  });
}

Result<Bignum> random_serial() {
  unsigned char bytes[16];
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
      return fail(error("RAND_bytes"));
    }
    Bignum bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
    if (!bn) {
      return fail(error("BN_bin2bn"));
    }
    if (!BN_is_zero(bn.get())) {
      return bn;
    }
  }
  return fail("random serial: the generator kept returning zero");
}

Result<std::string> bignum_hex(const bignum_st* bn) {
  char* hex = BN_bn2hex(bn);
  if (hex == nullptr) {
    return fail(error("BN_bn2hex"));
  }
  std::string out(hex);
  OPENSSL_free(hex);
  // BN_bn2hex prints whole bytes ("0A1B"); the index keeps serials without leading zeros.
  const auto first = out.find_first_not_of('0');
  return first == std::string::npos ? std::string("0") : out.substr(first);
}

Result<Asn1Integer> hex_to_asn1_integer(const std::string& hex) {
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, hex.c_str()) == 0 || raw == nullptr) {
    return fail(error("serial " + hex + ": not hex"));
  }
  const Bignum bn(raw);
  Asn1Integer out(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!out) {
    return fail(error("BN_to_ASN1_INTEGER"));
  }
  return out;
}

Result<std::string> serial_hex(x509_st* cert) {
  Bignum bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) {
    return fail(error("ASN1_INTEGER_to_BN"));
  }
  return bignum_hex(bn.get());
}

Result<std::int64_t> not_after(x509_st* cert) {
  return to_unix(X509_get0_notAfter(cert), "certificate notAfter");
}

Result<std::int64_t> not_before(x509_st* cert) {
  return to_unix(X509_get0_notBefore(cert), "certificate notBefore");
}

std::string common_name(x509_st* cert) {
  const X509_NAME* name = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) {
    return {};
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0 || utf8 == nullptr) {
    ERR_clear_error();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::vector<Extension> leaf_extensions(std::string_view extended_key_usage) {
  return {{NID_basic_constraints, "critical,CA:FALSE"},
          {NID_key_usage, "critical,digitalSignature"},
          {NID_ext_key_usage, std::string(extended_key_usage)},
          {NID_subject_key_identifier, "hash"},
          {NID_authority_key_identifier, "keyid:always"}};
}

Result<Cert> make_cert(const CertSpec& spec, evp_pkey_st* key, x509_st* issuer,
                       evp_pkey_st* issuer_key) {
  Cert cert(X509_new());
  if (!cert) {
    return fail(error("X509_new"));
  }
  X509* x = cert.get();
  if (X509_set_version(x, X509_VERSION_3) != 1) {
    return fail(error("X509_set_version"));
  }
  auto serial = random_serial();
  if (!serial) {
    return fail(serial.error());
  }
  if (BN_to_ASN1_INTEGER(serial->get(), X509_get_serialNumber(x)) == nullptr) {
    return fail(error("setting the serial"));
  }
  if (auto s = set_time(X509_getm_notBefore(x), spec.not_before, "notBefore"); !s) {
    return fail(s.error());
  }
  if (auto s = set_time(X509_getm_notAfter(x), spec.not_after, "notAfter"); !s) {
    return fail(s.error());
  }
  if (auto s = add_cn(X509_get_subject_name(x), spec.common_name); !s) {
    return fail(s.error());
  }
  X509_NAME* issuer_name =
      issuer == nullptr ? X509_get_subject_name(x) : X509_get_subject_name(issuer);
  if (X509_set_issuer_name(x, issuer_name) != 1) {
    return fail(error("X509_set_issuer_name"));
  }
  if (X509_set_pubkey(x, key) != 1) {
    return fail(error("X509_set_pubkey"));
  }
  X509* ctx_issuer = issuer == nullptr ? x : issuer;
  for (const auto& [nid, value] : spec.extensions) {
    if (auto s = add_ext(x, ctx_issuer, nid, value); !s) {
      return fail(s.error());
    }
  }
  EVP_PKEY* signer = issuer_key == nullptr ? key : issuer_key;
  if (X509_sign(x, signer, EVP_sha256()) <= 0) {
    return fail(error("X509_sign"));
  }
  return cert;
}

}  // namespace pos::common::ossl
