#include "pos/fleetemu/pki.hpp"

#include <ctime>
#include <filesystem>

#include "pos/common/files.hpp"
#include "pos/common/x509.hpp"
#include "pos/fleetemu/fleet_layout.hpp"

namespace pos::fleetemu {
namespace {

namespace fs = std::filesystem;
namespace ossl = common::ossl;

// Till certificates start one hour in the past, as posctl's leaves do (a till whose clock runs a
// little behind still accepts them).
constexpr std::int64_t k_backdate_s = 3600;
constexpr std::int64_t k_day_s = 86400;

/// One till's certificate and key as PEM text.
Result<std::pair<std::string, std::string>> issue_one(const std::string& common_name, X509* ca,
                                                      EVP_PKEY* ca_key, int days) {
  auto key = ossl::generate_p256_key();
  if (!key) {
    return fail(key.error());
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const ossl::CertSpec spec{common_name, now - k_backdate_s,
                            now + static_cast<std::int64_t>(days) * k_day_s,
                            ossl::leaf_extensions("clientAuth")};
  auto cert = ossl::make_cert(spec, key->get(), ca, ca_key);
  if (!cert) {
    return fail("the certificate of " + common_name + ": " + cert.error().message);
  }
  auto cert_pem = ossl::cert_pem(cert->get());
  if (!cert_pem) {
    return fail(cert_pem.error());
  }
  auto key_pem = ossl::private_key_pem(key->get());
  if (!key_pem) {
    return fail(key_pem.error());
  }
  return std::pair{std::move(*cert_pem), std::move(*key_pem)};
}

}  // namespace

Result<std::uint32_t> issue_till_certificates(const PkiOptions& options) {
  auto ca = ossl::read_cert(options.ca_cert);
  if (!ca) {
    return fail("--ca-cert: " + ca.error().message);
  }
  auto ca_key = ossl::read_private_key(options.ca_key);
  if (!ca_key) {
    return fail("--ca-key: " + ca_key.error().message);
  }
  if (X509_check_private_key(ca->get(), ca_key->get()) != 1) {
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
        issue_one(name.store_id + "/" + name.till_id, ca->get(), ca_key->get(), options.days);
    if (!issued) {
      return fail(issued.error());
    }
    const auto stem = fs::path(options.out_dir) / till_file_stem(name);
    // Mode 0600 from the first byte (a temporary file renamed into place), replacing the key of an
    // earlier run.
    if (auto s = common::files::replace(stem.string() + ".key", issued->second, 0600); !s) {
      return fail("--out: " + s.error().message);
    }
    if (auto s = common::files::replace(stem.string() + ".crt", issued->first, 0644); !s) {
      return fail("--out: " + s.error().message);
    }
  }
  return options.tills;
}

}  // namespace pos::fleetemu
