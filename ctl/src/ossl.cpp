#include "ossl.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

namespace pos::ctl::ossl {
namespace {

// Limit for the PEM files posctl reads (a CA key, a certificate, a CRL with many entries).
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
  auto text = read_small_file(path);
  if (!text) {
    return fail(text.error());
  }
  auto bio = bio_from(*text);
  if (!bio) {
    return fail(bio.error());
  }
  Pkey key(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
  if (!key) {
    return fail(error(path.string() + ": not a PEM private key"));
  }
  return key;
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
  auto text = read_small_file(path);
  if (!text) {
    return fail(text.error());
  }
  auto cert = parse_cert(*text);
  if (!cert) {
    return fail(path.string() + ": " + cert.error().message);
  }
  return cert;
}

Result<Crl> read_crl(const std::filesystem::path& path) {
  auto text = read_small_file(path);
  if (!text) {
    return fail(text.error());
  }
  auto bio = bio_from(*text);
  if (!bio) {
    return fail(bio.error());
  }
  Crl crl(PEM_read_bio_X509_CRL(bio->get(), nullptr, nullptr, nullptr));
  if (!crl) {
    return fail(error(path.string() + ": not a PEM CRL"));
  }
  return crl;
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

}  // namespace pos::ctl::ossl
