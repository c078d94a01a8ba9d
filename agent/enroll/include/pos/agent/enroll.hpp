#pragma once
// `posagent enroll`: the till makes its own key and a certificate signing request; only the CSR
// travels to the CA (posctl pki sign), the key never leaves the till (docs/pki.md, "Enrolling").

#include <filesystem>
#include <iosfwd>
#include <string>

#include "pos/protocol/result.hpp"

namespace pos::agent {

/// What to enroll: the till and where its files go.
struct EnrollRequest {
  std::string store_id;
  std::string till_id;
  std::filesystem::path key_file;  ///< created 0600; its directory must exist
  std::filesystem::path csr_file;  ///< written 0644 (replaced when it exists)
  bool force = false;              ///< replace an existing key_file
};

/// Why enrolling failed: a usage/config problem (exit 2) or an I/O failure (exit 1).
struct EnrollError {
  bool usage = false;
  std::string message;
};

/// Creates an EC P-256 key in key_file (a fresh file opened O_EXCL with mode 0600, fsynced, then
/// linked into place without overwriting, or renamed over it with `force`: the key is never
/// readable by others, not even briefly) and writes a PEM CSR signed with it: subject CN
/// "{store}/{till}", a requested SAN URI urn:fastyle:pos:till:{store}:{till} (what issue-till
/// puts in; the CA decides the extensions anyway). Refuses an existing key_file without `force`
/// and a missing directory. On a failed CSR write a key created by this call is removed.
/// Returns the CSR's PEM text.
Result<std::string, EnrollError> enroll_till(const EnrollRequest& request);

/// `posagent enroll --config FILE [--csr-out FILE] [--force]`: reads store_id, till_id and
/// mqtt.cert_file / mqtt.key_file from the configuration (the TLS files need not exist yet),
/// enrolls (CSR default `<cert_file>.csr`) and prints the files and the next command. Returns 0,
/// 2 for a usage or configuration error, 1 for an I/O failure.
int enroll(const std::string& config_path, const std::string& csr_out, bool force,
           std::ostream& out, std::ostream& err);

}  // namespace pos::agent
