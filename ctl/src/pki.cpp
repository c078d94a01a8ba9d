#include "pos/ctl/pki.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <limits>
#include <utility>

#include "files.hpp"
#include "ossl.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::ctl {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t max_index_bytes = std::size_t{64} * 1024 * 1024;
// Leaf certificates start one hour in the past: a till whose clock runs a little behind must
// still accept a freshly issued broker certificate, and the broker a fresh till certificate.
constexpr std::int64_t backdate_s = 3600;
constexpr std::int64_t day_s = 86400;

struct Paths {
  fs::path dir;
  fs::path ca_cert() const { return dir / "ca.crt"; }
  fs::path ca_key() const { return dir / "ca.key"; }
  fs::path crl() const { return dir / "crl.pem"; }
  fs::path serials() const { return dir / "serials"; }
  fs::path index() const { return serials() / "index"; }
  fs::path crl_number() const { return serials() / "crlnumber"; }
  fs::path lock() const { return dir / ".lock"; }
};

std::int64_t now_s() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

Status check_days(int days) {
  if (days < 1 || days > max_days) {
    return fail("--days " + std::to_string(days) + ": must be between 1 and " +
                std::to_string(max_days));
  }
  return {};
}

Result<std::vector<CertRecord>> load_index(const Paths& paths) {
  auto text = files::read(paths.index(), max_index_bytes);
  if (!text) {
    return fail(text.error());
  }
  auto records = parse_index(*text);
  if (!records) {
    return fail(paths.index().string() + ": " + records.error().message);
  }
  return records;
}

Result<std::uint64_t> load_crl_number(const Paths& paths) {
  auto text = files::read(paths.crl_number(), 64);
  if (!text) {
    return fail(text.error());
  }
  std::string_view digits(*text);
  while (!digits.empty() && (digits.back() == '\n' || digits.back() == ' ')) {
    digits.remove_suffix(1);
  }
  std::uint64_t number = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) {
    return fail(paths.crl_number().string() + ": not a decimal number");
  }
  return number;
}

std::string join(const std::vector<std::string>& items, std::string_view prefix) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += ',';
    }
    out += std::string(prefix) + item;
  }
  return out;
}

}  // namespace

Result<LeafRequest> till_request(const std::string& store_id, const std::string& till_id,
                                 int days) {
  if (auto s = protocol::check_id("--store", store_id); !s) {
    return fail(s.error());
  }
  if (auto s = protocol::check_id("--till", till_id); !s) {
    return fail(s.error());
  }
  if (auto s = check_days(days); !s) {
    return fail(s.error());
  }
  LeafRequest r;
  r.kind = CertKind::till;
  r.common_name = store_id + "/" + till_id;
  r.uri = "urn:fastyle:pos:till:" + store_id + ":" + till_id;
  r.file_stem = protocol::till_key(store_id, till_id);
  r.days = days;
  return r;
}

Result<LeafRequest> drain_request(const std::string& store_id, const std::string& till_id,
                                  int days) {
  auto r = till_request(store_id, till_id, days);
  if (!r) {
    return r;
  }
  r->common_name += "/drain";
  r->uri = "urn:fastyle:pos:drain:" + store_id + ":" + till_id;
  r->file_stem += ".drain";
  return r;
}

Result<LeafRequest> collector_request(const std::string& collector_id, int days) {
  if (!is_valid_collector_id(collector_id)) {
    return fail("--id \"" + collector_id + "\": must match [A-Za-z0-9_-]{1,32}");
  }
  if (auto s = check_days(days); !s) {
    return fail(s.error());
  }
  LeafRequest r;
  r.kind = CertKind::collector;
  r.common_name = collector_id;
  r.file_stem = collector_id;
  r.days = days;
  return r;
}

Result<LeafRequest> broker_request(const std::vector<std::string>& dns_names,
                                   const std::vector<std::string>& ip_addresses, int days) {
  if (dns_names.empty() && ip_addresses.empty()) {
    return fail("the broker certificate needs at least one --dns name or --ip address");
  }
  for (const auto& name : dns_names) {
    if (!is_valid_dns_name(name)) {
      return fail("--dns \"" + name + "\": not a valid DNS name");
    }
  }
  for (const auto& ip : ip_addresses) {
    if (!is_valid_ip_address(ip)) {
      return fail("--ip \"" + ip + "\": not an IPv4 or IPv6 address");
    }
  }
  if (auto s = check_days(days); !s) {
    return fail(s.error());
  }
  LeafRequest r;
  r.kind = CertKind::broker;
  r.common_name = dns_names.empty() ? ip_addresses.front() : dns_names.front();
  r.dns_names = dns_names;
  r.ip_addresses = ip_addresses;
  r.file_stem = "broker";
  r.days = days;
  return r;
}

struct CertificateAuthority::Impl {
  Paths paths;
  files::DirLock lock;
  ossl::Cert ca_cert;
  ossl::Pkey ca_key;
  std::int64_t ca_not_after = 0;
  std::vector<CertRecord> records;

  Status save_index() const { return files::replace(paths.index(), format_index(records), 0600); }

  struct Signed {
    std::string cert_pem;
    CertRecord record;
    bool clamped_to_ca = false;
  };
  Result<Signed> sign_leaf(const LeafRequest& request, EVP_PKEY* key, bool force);
};

CertificateAuthority::CertificateAuthority(std::unique_ptr<Impl> impl) noexcept
    : m_impl(std::move(impl)) {}
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;
CertificateAuthority::~CertificateAuthority() = default;

const fs::path& CertificateAuthority::dir() const noexcept {
  return m_impl->paths.dir;
}
std::int64_t CertificateAuthority::ca_not_after() const noexcept {
  return m_impl->ca_not_after;
}
std::string CertificateAuthority::ca_name() const {
  return ossl::common_name(m_impl->ca_cert.get());
}

Result<std::int64_t> CertificateAuthority::crl_next_update() const {
  auto crl = ossl::read_crl(m_impl->paths.crl());
  if (!crl) {
    return fail(crl.error());
  }
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl->get());
  struct tm tm {};
  if (next == nullptr || ASN1_TIME_to_tm(next, &tm) != 1) {
    return fail(ossl::error(m_impl->paths.crl().string() + ": nextUpdate"));
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

const std::vector<CertRecord>& CertificateAuthority::records() const noexcept {
  return m_impl->records;
}

Status CertificateAuthority::init(const fs::path& dir, const CaOptions& options) {
  if (auto s = check_days(options.days); !s) {
    return s;
  }
  if (options.name.empty() || options.name.size() > 64) {
    return fail("--name: the CA name must have 1 to 64 characters");
  }
  const Paths paths{dir};
  if (auto s = files::make_private_dir(dir); !s) {
    return s;
  }
  auto lock = files::DirLock::acquire(paths.lock());
  if (!lock) {
    return fail(lock.error());
  }
  std::error_code ec;
  for (const auto& existing : {paths.ca_key(), paths.ca_cert(), paths.index()}) {
    if (fs::exists(existing, ec)) {
      return fail(dir.string() + " already holds a CA (" + existing.filename().string() +
                  " exists); refusing to overwrite it");
    }
  }
  auto key = ossl::generate_p256_key();
  if (!key) {
    return fail(key.error());
  }
  const std::int64_t now = now_s();
  ossl::CertSpec spec;
  spec.common_name = options.name;
  spec.not_before = now - backdate_s;
  spec.not_after = now + static_cast<std::int64_t>(options.days) * day_s;
  spec.extensions = {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                     {NID_key_usage, "critical,keyCertSign,cRLSign"},
                     {NID_subject_key_identifier, "hash"},
                     {NID_authority_key_identifier, "keyid:always"}};
  auto cert = ossl::make_cert(spec, key->get(), nullptr, nullptr);
  if (!cert) {
    return fail(cert.error());
  }
  auto key_pem = ossl::private_key_pem(key->get());
  if (!key_pem) {
    return fail(key_pem.error());
  }
  auto cert_pem = ossl::cert_pem(cert->get());
  if (!cert_pem) {
    return fail(cert_pem.error());
  }
  if (auto s = files::make_private_dir(paths.serials()); !s) {
    return s;
  }
  if (auto s = files::write_new(paths.ca_key(), *key_pem, 0600); !s) {
    return s;
  }
  if (auto s = files::write_new(paths.ca_cert(), *cert_pem, 0644); !s) {
    return s;
  }
  if (auto s = files::write_new(paths.index(), format_index({}), 0600); !s) {
    return s;
  }
  if (auto s = files::write_new(paths.crl_number(), "0\n", 0600); !s) {
    return s;
  }
  auto ca = open_locked(dir, std::move(*lock));
  if (!ca) {
    return fail(ca.error());
  }
  auto crl = ca->write_crl(default_crl_days);
  if (!crl) {
    return fail(crl.error());
  }
  return {};
}

Result<CertificateAuthority> CertificateAuthority::open(const fs::path& dir) {
  const Paths paths{dir};
  std::error_code ec;
  if (!fs::exists(paths.ca_cert(), ec) || !fs::exists(paths.ca_key(), ec)) {
    return fail("no CA in " + dir.string() +
                " (ca.crt/ca.key missing): create one with `posctl pki init --dir " + dir.string() +
                "`");
  }
  auto lock = files::DirLock::acquire(paths.lock());
  if (!lock) {
    return fail(lock.error());
  }
  return open_locked(dir, std::move(*lock));
}

Result<CertificateAuthority> CertificateAuthority::open_locked(const fs::path& dir,
                                                               files::DirLock&& lock) {
  const Paths paths{dir};
  auto impl = std::make_unique<Impl>(Impl{paths, std::move(lock), nullptr, nullptr, 0, {}});
  auto cert = ossl::read_cert(paths.ca_cert());
  if (!cert) {
    return fail(cert.error());
  }
  auto key = ossl::read_private_key(paths.ca_key());
  if (!key) {
    return fail(key.error());
  }
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return fail(
        ossl::error(paths.ca_key().string() + " does not belong to " + paths.ca_cert().string()));
  }
  auto not_after = ossl::not_after(cert->get());
  if (!not_after) {
    return fail(not_after.error());
  }
  auto records = load_index(paths);
  if (!records) {
    return fail(records.error());
  }
  impl->ca_cert = std::move(*cert);
  impl->ca_key = std::move(*key);
  impl->ca_not_after = *not_after;
  impl->records = std::move(*records);
  return CertificateAuthority(std::move(impl));
}

// Signs a leaf certificate for `key` (the subject's public key, private part not needed) and
// records it: index line and serials/<SERIAL>.pem. Applies the CN rule (force) and the CA's expiry.
Result<CertificateAuthority::Impl::Signed> CertificateAuthority::Impl::sign_leaf(
    const LeafRequest& request, EVP_PKEY* key, bool force) {
  if (auto s = check_days(request.days); !s) {
    return fail(s.error());
  }
  const std::int64_t now = now_s();
  if (now >= ca_not_after) {
    return fail("the CA expired on " + format_utc(ca_not_after) + "; create a new CA");
  }
  if (!force) {
    for (const auto& r : records) {
      if (r.common_name == request.common_name && r.valid_at(now)) {
        return fail("CN \"" + request.common_name + "\" already has a valid certificate (serial " +
                    r.serial + ", expires " + format_utc(r.not_after) +
                    "); revoke it first (posctl pki revoke --serial " + r.serial +
                    ") or pass --force to issue a second one for a rotation");
      }
    }
  }
  Signed out;
  ossl::CertSpec spec;
  spec.common_name = request.common_name;
  spec.not_before = now - backdate_s;
  spec.not_after = now + static_cast<std::int64_t>(request.days) * day_s;
  if (spec.not_after > ca_not_after) {
    spec.not_after = ca_not_after;
    out.clamped_to_ca = true;
  }
  spec.extensions =
      ossl::leaf_extensions(request.kind == CertKind::broker ? "serverAuth" : "clientAuth");
  std::string san = join(request.dns_names, "DNS:");
  if (const auto ips = join(request.ip_addresses, "IP:"); !ips.empty()) {
    san += (san.empty() ? "" : ",") + ips;
  }
  if (!request.uri.empty()) {
    san += (san.empty() ? "URI:" : ",URI:") + request.uri;
  }
  if (!san.empty()) {
    spec.extensions.emplace_back(NID_subject_alt_name, san);
  }

  ossl::Cert cert;
  std::string serial;
  for (int attempt = 0; attempt < 4 && serial.empty(); ++attempt) {
    auto made = ossl::make_cert(spec, key, ca_cert.get(), ca_key.get());
    if (!made) {
      return fail(made.error());
    }
    auto hex = ossl::serial_hex(made->get());
    if (!hex) {
      return fail(hex.error());
    }
    const bool taken = std::any_of(records.begin(), records.end(),
                                   [&](const CertRecord& r) { return r.serial == *hex; });
    if (!taken) {
      serial = std::move(*hex);
      cert = std::move(*made);
    }
  }
  if (serial.empty()) {
    return fail("could not draw an unused serial number");
  }
  auto cert_pem = ossl::cert_pem(cert.get());
  if (!cert_pem) {
    return fail(cert_pem.error());
  }
  out.cert_pem = std::move(*cert_pem);
  out.record =
      CertRecord{serial,         request.kind, request.common_name,          spec.not_before,
                 spec.not_after, std::nullopt, RevocationReason::unspecified};
  if (auto s = files::write_new(paths.serials() / (serial + ".pem"), out.cert_pem, 0644); !s) {
    return fail(s.error());
  }
  records.push_back(out.record);
  if (auto s = save_index(); !s) {
    records.pop_back();
    return fail(s.error());
  }
  return out;
}

Result<IssuedFiles> CertificateAuthority::issue(const LeafRequest& request, const fs::path& out_dir,
                                                bool force) {
  auto key = ossl::generate_p256_key();
  if (!key) {
    return fail(key.error());
  }
  auto key_pem = ossl::private_key_pem(key->get());
  if (!key_pem) {
    return fail(key_pem.error());
  }
  auto signed_cert = m_impl->sign_leaf(request, key->get(), force);
  if (!signed_cert) {
    return fail(signed_cert.error());
  }
  IssuedFiles out;
  out.record = signed_cert->record;
  out.clamped_to_ca = signed_cert->clamped_to_ca;
  // Keys are 0600 themselves; an existing output directory may be shared (e.g. --out .).
  if (auto s = files::make_private_dir(out_dir, false); !s) {
    return fail(s.error());
  }
  out.key = out_dir / (request.file_stem + ".key");
  out.cert = out_dir / (request.file_stem + ".crt");
  if (auto s = files::replace(out.key, *key_pem, 0600); !s) {
    return fail(s.error());
  }
  if (auto s = files::replace(out.cert, signed_cert->cert_pem, 0644); !s) {
    return fail(s.error());
  }
  return out;
}

Result<IssuedFiles> CertificateAuthority::issue_for_key(const LeafRequest& request,
                                                        std::string_view public_key_der,
                                                        const fs::path& cert_path, bool force) {
  if (public_key_der.size() > static_cast<std::size_t>(std::numeric_limits<long>::max())) {
    return fail("public key too large");
  }
  const auto* der = reinterpret_cast<const unsigned char*>(public_key_der.data());
  ossl::Pkey key(d2i_PUBKEY(
      nullptr, &der, static_cast<long>(public_key_der.size())));  // NOLINT(google-runtime-int)
  if (!key) {
    return fail(ossl::error("the subject's public key"));
  }
  if (cert_path.filename().empty()) {
    return fail("--out \"" + cert_path.string() + "\": not a file name");
  }
  // Fail before signing when the certificate could not be written anyway.
  const fs::path parent = cert_path.parent_path().empty() ? fs::path(".") : cert_path.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return fail(parent.string() + ": no such directory (for " + cert_path.string() + ")");
  }
  auto signed_cert = m_impl->sign_leaf(request, key.get(), force);
  if (!signed_cert) {
    return fail(signed_cert.error());
  }
  IssuedFiles out;
  out.record = signed_cert->record;
  out.clamped_to_ca = signed_cert->clamped_to_ca;
  out.cert = cert_path;
  if (auto s = files::replace(out.cert, signed_cert->cert_pem, 0644); !s) {
    return fail(s.error());
  }
  return out;
}

Result<CertRecord> CertificateAuthority::revoke_serial(const std::string& serial,
                                                       RevocationReason reason, int crl_days) {
  auto normal = normalise_serial(serial);
  if (!normal) {
    return fail(normal.error());
  }
  if (auto s = check_days(crl_days); !s) {
    return fail(s.error());
  }
  Impl& ca = *m_impl;
  const auto it = std::find_if(ca.records.begin(), ca.records.end(),
                               [&](const CertRecord& r) { return r.serial == *normal; });
  if (it == ca.records.end()) {
    return fail("serial " + *normal + ": not issued by this CA (see posctl pki list)");
  }
  if (it->revoked()) {
    return fail("serial " + *normal + " (" + it->common_name + ") was already revoked on " +
                format_utc(*it->revoked_at));
  }
  const CertRecord before = *it;
  it->revoked_at = now_s();
  it->reason = reason;
  if (auto s = ca.save_index(); !s) {
    *it = before;
    return fail(s.error());
  }
  const CertRecord revoked = *it;
  auto crl = write_crl(crl_days);
  if (!crl) {
    return fail(crl.error());
  }
  return revoked;
}

Result<std::vector<CertRecord>> CertificateAuthority::revoke_common_name(
    const std::string& common_name, RevocationReason reason, int crl_days) {
  if (auto s = check_days(crl_days); !s) {
    return fail(s.error());
  }
  Impl& ca = *m_impl;
  const auto saved = ca.records;
  std::vector<CertRecord> revoked;
  const std::int64_t now = now_s();
  for (auto& r : ca.records) {
    if (r.common_name == common_name && !r.revoked()) {
      r.revoked_at = now;
      r.reason = reason;
      revoked.push_back(r);
    }
  }
  if (revoked.empty()) {
    return fail("CN \"" + common_name +
                "\": no unrevoked certificate with this CN (see posctl pki list)");
  }
  if (auto s = ca.save_index(); !s) {
    ca.records = saved;
    return fail(s.error());
  }
  auto crl = write_crl(crl_days);
  if (!crl) {
    return fail(crl.error());
  }
  return revoked;
}

Result<CrlInfo> CertificateAuthority::write_crl(int days) {
  if (auto s = check_days(days); !s) {
    return fail(s.error());
  }
  Impl& ca = *m_impl;
  auto number = load_crl_number(ca.paths);
  if (!number) {
    return fail(number.error());
  }
  CrlInfo info;
  info.path = ca.paths.crl();
  info.number = *number + 1;
  info.this_update = now_s();
  info.next_update =
      std::min(info.this_update + static_cast<std::int64_t>(days) * day_s, ca.ca_not_after);

  ossl::Crl crl(X509_CRL_new());
  if (!crl) {
    return fail(ossl::error("X509_CRL_new"));
  }
  X509_CRL* c = crl.get();
  if (X509_CRL_set_version(c, X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(c, X509_get_subject_name(ca.ca_cert.get())) != 1) {
    return fail(ossl::error("CRL header"));
  }
  {
    ASN1_TIME* t = ASN1_TIME_set(nullptr, static_cast<time_t>(info.this_update));
    ASN1_TIME* n = ASN1_TIME_set(nullptr, static_cast<time_t>(info.next_update));
    const bool ok = t != nullptr && n != nullptr && X509_CRL_set1_lastUpdate(c, t) == 1 &&
                    X509_CRL_set1_nextUpdate(c, n) == 1;
    ASN1_TIME_free(t);
    ASN1_TIME_free(n);
    if (!ok) {
      return fail(ossl::error("CRL update times"));
    }
  }
  for (const auto& r : ca.records) {
    if (!r.revoked()) {
      continue;
    }
    auto serial = ossl::hex_to_asn1_integer(r.serial);
    if (!serial) {
      return fail(serial.error());
    }
    X509_REVOKED* entry = X509_REVOKED_new();
    if (entry == nullptr) {
      return fail(ossl::error("X509_REVOKED_new"));
    }
    ASN1_TIME* when = ASN1_TIME_set(nullptr, static_cast<time_t>(*r.revoked_at));
    bool ok = when != nullptr && X509_REVOKED_set_serialNumber(entry, serial->get()) == 1 &&
              X509_REVOKED_set_revocationDate(entry, when) == 1;
    ASN1_TIME_free(when);
    if (ok && r.reason != RevocationReason::unspecified) {
      ASN1_ENUMERATED* code = ASN1_ENUMERATED_new();
      ok = code != nullptr &&
           ASN1_ENUMERATED_set(code, static_cast<long>(r.reason)) ==
               1 &&  // NOLINT(google-runtime-int)
           X509_REVOKED_add1_ext_i2d(entry, NID_crl_reason, code, 0, 0) == 1;
      ASN1_ENUMERATED_free(code);
    }
    if (!ok || X509_CRL_add0_revoked(c, entry) != 1) {
      X509_REVOKED_free(entry);
      return fail(ossl::error("CRL entry for serial " + r.serial));
    }
    ++info.revoked_count;
  }
  {
    ossl::Asn1Integer crl_number(ASN1_INTEGER_new());
    if (!crl_number || ASN1_INTEGER_set_uint64(crl_number.get(), info.number) != 1 ||
        X509_CRL_add1_ext_i2d(c, NID_crl_number, crl_number.get(), 0, 0) != 1) {
      return fail(ossl::error("CRL number"));
    }
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca.ca_cert.get(), nullptr, nullptr, c, 0);
  X509_EXTENSION* aki =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always");
  if (aki == nullptr) {
    return fail(ossl::error("CRL authorityKeyIdentifier"));
  }
  const int added = X509_CRL_add_ext(c, aki, -1);
  X509_EXTENSION_free(aki);
  if (added != 1) {
    return fail(ossl::error("adding the CRL authorityKeyIdentifier"));
  }
  if (X509_CRL_sort(c) != 1) {
    return fail(ossl::error("X509_CRL_sort"));
  }
  if (X509_CRL_sign(c, ca.ca_key.get(), EVP_sha256()) <= 0) {
    return fail(ossl::error("X509_CRL_sign"));
  }
  auto pem = ossl::crl_pem(c);
  if (!pem) {
    return fail(pem.error());
  }
  // The number first: a crash in between skips a number, never reuses one.
  if (auto s = files::replace(ca.paths.crl_number(), std::to_string(info.number) + "\n", 0600);
      !s) {
    return fail(s.error());
  }
  if (auto s = files::replace(ca.paths.crl(), *pem, 0644); !s) {
    return fail(s.error());
  }
  return info;
}

}  // namespace pos::ctl
