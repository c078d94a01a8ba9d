#pragma once
// Certificate signing requests from tills (posctl pki sign, docs/pki.md "Enrolling"): the till
// makes its key and a CSR (posagent enroll), and the CA certifies the CSR's public key without
// ever seeing the private key. Only the CSR's subject CN and public key are used; any extension
// it asks for is ignored (the CA decides them exactly as for issue-till).

#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::ctl {

/// What a checked CSR says.
struct TillCsr {
  std::string store_id;
  std::string till_id;
  std::string common_name;     ///< "{store}/{till}"
  std::string public_key_der;  ///< DER SubjectPublicKeyInfo
  std::string key_type;        ///< e.g. "EC P-256", "RSA 4096" (for messages)
};

/// Parses a PEM CSR and checks it: its self-signature verifies, its subject is exactly one CN of
/// the form "{store}/{till}" with both ids matching [A-Za-z0-9_-]{1,32} (the rule of
/// till_request()), and its key is no weaker than issue-till's EC P-256 (EC P-256/P-384/P-521, or
/// RSA of at least 3072 bits). Fails with a message saying what is wrong.
Result<TillCsr> check_till_csr(std::string_view pem);

}  // namespace pos::ctl
