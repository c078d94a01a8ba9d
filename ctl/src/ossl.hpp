#pragma once
// posctl's name for the shared X.509 helpers and OpenSSL handles (pos::x509, in common/x509/).

#include "pos/common/x509.hpp"

namespace pos::ctl {
namespace ossl = common::ossl;
}  // namespace pos::ctl
