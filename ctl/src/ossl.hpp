#pragma once
// Move-only owners of OpenSSL handles (std::unique_ptr with a deleter per handle type) and the
// few helpers the PKI code needs. The OpenSSL structs are only forward-declared here: OpenSSL
// headers are included by the .cpp files alone. Private to pos::ctl.

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

struct evp_pkey_st;
struct x509_st;
struct X509_crl_st;
struct bignum_st;
struct asn1_string_st;
struct bio_st;

namespace pos::ctl::ossl {

struct PkeyFree {
  void operator()(evp_pkey_st* p) const noexcept;
};
struct X509Free {
  void operator()(x509_st* p) const noexcept;
};
struct CrlFree {
  void operator()(X509_crl_st* p) const noexcept;
};
struct BnFree {
  void operator()(bignum_st* p) const noexcept;
};
struct Asn1IntegerFree {
  void operator()(asn1_string_st* p) const noexcept;
};
struct BioFree {
  void operator()(bio_st* p) const noexcept;
};

using Pkey = std::unique_ptr<evp_pkey_st, PkeyFree>;                   ///< EVP_PKEY
using Cert = std::unique_ptr<x509_st, X509Free>;                       ///< X509
using Crl = std::unique_ptr<X509_crl_st, CrlFree>;                     ///< X509_CRL
using Bignum = std::unique_ptr<bignum_st, BnFree>;                     ///< BIGNUM
using Asn1Integer = std::unique_ptr<asn1_string_st, Asn1IntegerFree>;  ///< ASN1_INTEGER
using Bio = std::unique_ptr<bio_st, BioFree>;                          ///< BIO

/// "<what>: <OpenSSL error queue>" (the queue is emptied). Call right after a failed OpenSSL call.
Error error(std::string_view what);

/// Generates an EC P-256 key.
Result<Pkey> generate_p256_key();
/// PKCS#8 PEM of a private key (unencrypted: mosquitto and the agents read it unattended).
Result<std::string> private_key_pem(evp_pkey_st* key);
/// PEM of a certificate / a CRL.
Result<std::string> cert_pem(x509_st* cert);
Result<std::string> crl_pem(X509_crl_st* crl);

/// Reads a PEM file; the error names the path.
Result<Pkey> read_private_key(const std::filesystem::path& path);
Result<Cert> read_cert(const std::filesystem::path& path);
Result<Crl> read_crl(const std::filesystem::path& path);
/// Parses PEM text (for tests and the CA's own files).
Result<Cert> parse_cert(std::string_view pem);

/// A random positive serial of 128 bits (never 0), as a BIGNUM.
Result<Bignum> random_serial();
/// Uppercase hex without leading zeros.
Result<std::string> bignum_hex(const bignum_st* bn);
/// Parses hex digits into an ASN1_INTEGER.
Result<Asn1Integer> hex_to_asn1_integer(const std::string& hex);
/// The certificate's serial as uppercase hex without leading zeros.
Result<std::string> serial_hex(x509_st* cert);
/// notAfter / notBefore as Unix seconds.
Result<std::int64_t> not_after(x509_st* cert);
Result<std::int64_t> not_before(x509_st* cert);
/// The subject's first CN (UTF-8), empty when there is none.
std::string common_name(x509_st* cert);

}  // namespace pos::ctl::ossl
