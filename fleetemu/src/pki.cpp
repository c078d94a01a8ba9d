#include "pos/fleetemu/pki.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>

#include "pos/common/openssl_handles.hpp"
#include "pos/fleetemu/fleet_layout.hpp"

namespace pos::fleetemu {
namespace {

namespace fs = std::filesystem;
namespace ossl = common::ossl;

std::string ossl_error(const std::string& what) {
  const auto queue = ossl::error_queue();
  return what + (queue.empty() ? std::string(" failed") : ": " + queue);
}

Result<std::string> read_file(const std::string& path, const char* option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(std::string(option) + ": cannot read " + path);
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Status write_file(const fs::path& path, const std::string& data, bool secret) {
  std::error_code ec;
  fs::remove(path, ec);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (secret) {
      fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, ec);
    }
    out << data;
    if (!out.flush()) {
      return fail("cannot write " + path.string());
    }
  }
  return {};
}

Result<std::string> bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) {
    return fail(ossl_error("PEM encoding"));
  }
  return std::string(data, static_cast<std::size_t>(size));
}

Status add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    return fail(ossl_error(std::string(OBJ_nid2sn(nid)) + "=" + value));
  }
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status{} : Status(fail(ossl_error("X509_add_ext")));
}

/// One till's key and certificate as PEM text.
Result<std::pair<std::string, std::string>> issue_one(const std::string& common_name, X509* ca,
                                                      EVP_PKEY* ca_key, int days) {
  ossl::Pkey key(EVP_EC_gen("P-256"));
  ossl::Cert cert(X509_new());
  if (!key || !cert) {
    return fail(ossl_error("EC P-256 key generation"));
  }
  X509* x = cert.get();
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) {
    return fail(ossl_error("RAND_bytes"));
  }
  serial_bytes[0] &= 0x7f;  // positive
  ossl::Bignum serial(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  const auto* cn = reinterpret_cast<const unsigned char*>(common_name.c_str());
  if (!serial || X509_set_version(x, X509_VERSION_3) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x)) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(x), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(days) * 86400) == nullptr ||
      X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8, cn, -1, -1, 0) !=
          1 ||
      X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
      X509_set_pubkey(x, key.get()) != 1) {
    return fail(ossl_error("building the certificate of " + common_name));
  }
  for (const auto& [nid, value] :
       {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
        std::pair{NID_key_usage, "critical,digitalSignature"},
        std::pair{NID_ext_key_usage, "clientAuth"}, std::pair{NID_subject_key_identifier, "hash"},
        std::pair{NID_authority_key_identifier, "keyid"}}) {
    if (auto s = add_ext(x, ca, nid, value); !s) {
      return fail(s.error());
    }
  }
  if (X509_sign(x, ca_key, EVP_sha256()) <= 0) {
    return fail(ossl_error("signing the certificate of " + common_name));
  }
  ossl::Bio cert_bio(BIO_new(BIO_s_mem()));
  ossl::Bio key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), x) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return fail(ossl_error("PEM encoding"));
  }
  auto cert_pem = bio_text(cert_bio.get());
  auto key_pem = bio_text(key_bio.get());
  if (!cert_pem || !key_pem) {
    return fail(ossl_error("PEM encoding"));
  }
  return std::pair{std::move(*cert_pem), std::move(*key_pem)};
}

}  // namespace

Result<std::uint32_t> issue_till_certificates(const PkiOptions& options) {
  auto ca_pem = read_file(options.ca_cert, "--ca-cert");
  if (!ca_pem) {
    return fail(ca_pem.error());
  }
  auto key_pem = read_file(options.ca_key, "--ca-key");
  if (!key_pem) {
    return fail(key_pem.error());
  }
  auto ca_bio = ossl::memory_bio(*ca_pem);
  ossl::Cert ca(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
  if (!ca) {
    return fail(ossl_error("--ca-cert: " + options.ca_cert + ": not a PEM certificate"));
  }
  auto key_bio = ossl::memory_bio(*key_pem);
  ossl::Pkey ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca_key) {
    return fail(ossl_error("--ca-key: " + options.ca_key + ": not an unencrypted PEM key"));
  }
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    return fail("--ca-key: " + options.ca_key + ": does not belong to " + options.ca_cert);
  }
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) {
    return fail("--out: " + options.out_dir + ": " + ec.message());
  }
  for (std::uint32_t i = 0; i < options.tills; ++i) {
    const auto name = till_name(options.first_till + i, options.tills_per_store);
    auto issued =
        issue_one(name.store_id + "/" + name.till_id, ca.get(), ca_key.get(), options.days);
    if (!issued) {
      return fail(issued.error());
    }
    const auto stem = fs::path(options.out_dir) / till_file_stem(name);
    if (auto s = write_file(stem.string() + ".key", issued->second, true); !s) {
      return fail("--out: " + s.error().message);
    }
    if (auto s = write_file(stem.string() + ".crt", issued->first, false); !s) {
      return fail("--out: " + s.error().message);
    }
  }
  return options.tills;
}

}  // namespace pos::fleetemu
