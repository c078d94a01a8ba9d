#pragma once
// The X.509 helpers that posctl's CA and posfleet's till certificates share (target pos::x509):
// keys, PEM in and out, serials, times, and building and signing a certificate. Next to the OpenSSL
// handles of pos::openssl_handles, in the same namespace. Link it PRIVATE and include it from .cpp
// files only: OpenSSL's headers never reach a public header.

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pos/common/openssl_handles.hpp"
#include "pos/protocol/result.hpp"

namespace pos::common::ossl {

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

/// An X.509v3 extension in OpenSSL's config syntax: NID_key_usage, "critical,digitalSignature".
using Extension = std::pair<int, std::string>;

/// What make_cert puts into a certificate besides the key, serial and issuer.
struct CertSpec {
  std::string common_name;            ///< the subject's only entry (UTF-8)
  std::int64_t not_before = 0;        ///< Unix seconds
  std::int64_t not_after = 0;         ///< Unix seconds
  std::vector<Extension> extensions;  ///< added in this order
};

/// The extensions of a leaf certificate (tills, collectors, brokers): critical CA:FALSE, critical
/// digitalSignature, the extended key usage `extended_key_usage` ("clientAuth" or
/// "serverAuth"), subject and authority key identifiers.
std::vector<Extension> leaf_extensions(std::string_view extended_key_usage);

/// Builds a v3 certificate of `spec` for `key` (only its public part is used) with a
/// random_serial(), signed with SHA-256 by `issuer_key` under `issuer`'s subject; with issuer ==
/// nullptr it is self-signed by `key`. The error names the OpenSSL step (or the extension).
Result<Cert> make_cert(const CertSpec& spec, evp_pkey_st* key, x509_st* issuer,
                       evp_pkey_st* issuer_key);

}  // namespace pos::common::ossl
