#pragma once
// The fleet's certificate authority (posctl pki): an EC P-256 CA in a directory, the client
// certificates of tills and collectors, the broker's server certificate, revocation and the CRL.
// See docs/pki.md for the layout and the reasons behind CNs and SANs.
//
// Layout of a CA directory (0700):
//   ca.crt, ca.key (0600)     the CA
//   crl.pem                   the current CRL (give it to the broker: mosquitto `crlfile`)
//   serials/index             one line per issued certificate (cert_index.hpp)
//   serials/<SERIAL>.pem      a copy of every issued certificate
//   serials/crlnumber         the last CRL number
//   issued/                   default output directory of the issue commands (0700)

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pos/ctl/cert_index.hpp"
#include "pos/protocol/result.hpp"

namespace pos::ctl {

namespace files {
class DirLock;
}

/// Default validity periods, in days.
inline constexpr int default_ca_days = 3650;
inline constexpr int default_leaf_days = 825;
inline constexpr int default_crl_days = 30;
/// Largest --days accepted for any certificate or CRL (about 30 years).
inline constexpr int max_days = 11000;

struct CaOptions {
  std::string name = "Fastyle POS CA";  ///< the CA's CN
  int days = default_ca_days;
};

/// What to put into a new leaf certificate. Build it with till_request(), collector_request() or
/// broker_request(), which check their inputs.
struct LeafRequest {
  CertKind kind = CertKind::till;
  std::string common_name;
  std::vector<std::string> dns_names;     ///< SAN DNS entries (broker)
  std::vector<std::string> ip_addresses;  ///< SAN IP entries (broker)
  std::string uri;                        ///< SAN URI entry (till), empty for none
  std::string file_stem;                  ///< output files are <stem>.crt and <stem>.key
  int days = default_leaf_days;
};

/// A till: CN "{store}/{till}" (mosquitto's username and client id, which the ACL patterns
/// expand), SAN URI urn:fastyle:pos:till:{store}:{till}, clientAuth, files
/// protocol::till_key(store, till) ("{store}-{till}", a '-' of the store id written '.', so that
/// "A-B"/"C" and "A"/"B-C" never share files). Fails naming the id that does not match
/// [A-Za-z0-9_-]{1,32}, or a bad day count.
Result<LeafRequest> till_request(const std::string& store_id, const std::string& till_id,
                                 int days = default_leaf_days);
/// A till's drain certificate, for draining a dead till's database beside the live replacement
/// (docs/operations.md): CN "{store}/{till}/drain" (its own MQTT session; the broker's ACL needs a
/// `user` block for it), SAN URI urn:fastyle:pos:drain:{store}:{till}, clientAuth, files
/// "{till_key}.drain". Fails like till_request().
Result<LeafRequest> drain_request(const std::string& store_id, const std::string& till_id,
                                  int days = default_leaf_days);
/// A collector: CN = id ([A-Za-z0-9_-]{1,32}), clientAuth, files "{id}".
Result<LeafRequest> collector_request(const std::string& collector_id,
                                      int days = default_leaf_days);
/// The broker: CN = first DNS name (or first IP), SANs for every name and address, serverAuth,
/// files "broker". Needs at least one name or address; fails naming a bad one.
Result<LeafRequest> broker_request(const std::vector<std::string>& dns_names,
                                   const std::vector<std::string>& ip_addresses,
                                   int days = default_leaf_days);

/// Files written by CertificateAuthority::issue.
struct IssuedFiles {
  std::filesystem::path cert;
  std::filesystem::path key;
  CertRecord record;
  bool clamped_to_ca = false;  ///< notAfter was cut to the CA's own notAfter
};

/// The state of a CRL just written.
struct CrlInfo {
  std::filesystem::path path;
  std::uint64_t number = 0;
  std::int64_t this_update = 0;
  std::int64_t next_update = 0;
  std::size_t revoked_count = 0;
};

/// An open CA directory. open() takes an exclusive lock on DIR/.lock for the object's lifetime,
/// so two posctl processes never interleave their index updates. Move-only; not thread-safe.
class CertificateAuthority {
 public:
  /// Creates DIR (0700; an existing directory must not be group/other accessible), a
  /// self-signed CA (basicConstraints CA:TRUE pathlen:0, keyUsage keyCertSign+cRLSign), an empty
  /// index and an empty CRL valid for default_crl_days. Refuses when DIR already holds ca.key or
  /// ca.crt.
  static Status init(const std::filesystem::path& dir, const CaOptions& options);

  /// Opens an existing CA: loads ca.crt and ca.key (checking that they belong together) and the
  /// index. Fails naming the missing or broken file ("no CA in DIR: run posctl pki init ...").
  static Result<CertificateAuthority> open(const std::filesystem::path& dir);

  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;
  ~CertificateAuthority();

  const std::filesystem::path& dir() const noexcept;
  /// The CA certificate's notAfter (Unix seconds).
  std::int64_t ca_not_after() const noexcept;
  /// The CA certificate's CN.
  std::string ca_name() const;
  /// nextUpdate of DIR/crl.pem (Unix seconds); fails when it cannot be read.
  Result<std::int64_t> crl_next_update() const;
  /// Every issued certificate, in issue order.
  const std::vector<CertRecord>& records() const noexcept;

  /// Issues a certificate with a fresh key into out_dir (created 0700 when missing): key 0600,
  /// both files replaced atomically. Refuses when a certificate with the same CN is valid (not
  /// revoked, not expired) unless `force` (rotation: issue the new one, deploy it, then revoke
  /// the old serial). The certificate is recorded in the index before its files are written, so
  /// it can always be revoked. notAfter never exceeds the CA's.
  Result<IssuedFiles> issue(const LeafRequest& request, const std::filesystem::path& out_dir,
                            bool force);

  /// Like issue(), but for a key the CA never sees (posctl pki sign: the till made it and sent a
  /// CSR): certifies `public_key_der` (DER SubjectPublicKeyInfo, already checked by
  /// check_till_csr) with exactly the extensions issue() would give `request`, records it, and
  /// writes the certificate to `cert_path` (0644, atomically; its directory must exist).
  /// IssuedFiles::key stays empty.
  Result<IssuedFiles> issue_for_key(const LeafRequest& request, std::string_view public_key_der,
                                    const std::filesystem::path& cert_path, bool force);

  /// Marks the certificate with this serial revoked and rewrites the CRL (crl_days). Fails when
  /// the serial is unknown or already revoked.
  Result<CertRecord> revoke_serial(const std::string& serial, RevocationReason reason,
                                   int crl_days = default_crl_days);
  /// Revokes every not yet revoked certificate with this CN (expired ones included) and
  /// rewrites the CRL. Fails when there is none.
  Result<std::vector<CertRecord>> revoke_common_name(const std::string& common_name,
                                                     RevocationReason reason,
                                                     int crl_days = default_crl_days);

  /// Writes DIR/crl.pem: every revoked serial with its date and reason, signed by the CA
  /// (SHA-256), thisUpdate now, nextUpdate now + days (at most the CA's notAfter), the next CRL
  /// number.
  Result<CrlInfo> write_crl(int days = default_crl_days);

 private:
  struct Impl;
  static Result<CertificateAuthority> open_locked(const std::filesystem::path& dir,
                                                  files::DirLock&& lock);
  explicit CertificateAuthority(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace pos::ctl
