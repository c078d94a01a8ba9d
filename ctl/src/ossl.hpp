#pragma once
// Owners of OpenSSL handles (common's, std::unique_ptr with the handle's free function) and the
// few helpers the PKI code needs. Private to pos::ctl: OpenSSL's headers never reach its public
// headers.

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "pos/common/openssl_handles.hpp"
#include "pos/protocol/result.hpp"

namespace pos::ctl::ossl {

using common::ossl::Asn1Integer;
using common::ossl::Bignum;
using common::ossl::Bio;
using common::ossl::Cert;
using common::ossl::Crl;
using common::ossl::Pkey;
using common::ossl::Req;

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
