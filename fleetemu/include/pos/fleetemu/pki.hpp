#pragma once
// Client certificates for the emulated tills, issued with OpenSSL's C API from a CA certificate
// and key: EC P-256, CN "{store}/{till}", clientAuth, one {till_key}.crt/.key pair per till.

#include <cstdint>

#include "pos/fleetemu/options.hpp"
#include "pos/protocol/result.hpp"

namespace pos::fleetemu {

/// Issues the certificates of `options.tills` tills into options.out_dir (created when missing,
/// keys mode 0600). Returns the number issued; the error names the file or the OpenSSL step.
Result<std::uint32_t> issue_till_certificates(const PkiOptions& options);

}  // namespace pos::fleetemu
