#pragma once
// The posctl commands behind ctl/main.cpp: each takes parsed arguments, prints its result to
// `out` and its errors to `err` ("posctl: <what was wrong>"), and returns the exit code.
// Not thread-safe (they print to the given streams).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "pos/ctl/pki.hpp"

namespace pos::ctl {

/// posctl's exit codes.
enum ExitCode : int { exit_ok = 0, exit_failure = 1, exit_usage = 2 };

/// `posctl pki init`.
int pki_init(const std::filesystem::path& dir, const CaOptions& options, std::ostream& out,
             std::ostream& err);

/// Arguments shared by the issue commands.
struct IssueArgs {
  std::filesystem::path dir;
  std::filesystem::path out_dir;  ///< empty: DIR/issued
  bool force = false;
};

/// `posctl pki issue-till|issue-collector|issue-broker`: `request` is what till_request() and
/// friends returned; a failed request (bad id, name or days) is a usage error (2).
int pki_issue(const Result<LeafRequest>& request, const IssueArgs& args, std::ostream& out,
              std::ostream& err);

/// Arguments of `posctl pki sign`.
struct SignArgs {
  std::filesystem::path dir;
  std::filesystem::path csr;  ///< the till's PEM CSR (posagent enroll)
  std::filesystem::path out;  ///< the certificate file; empty: DIR/issued/{till_key}.crt
  int days = default_leaf_days;
  std::string store;  ///< when set (with till), the CSR's CN must be "{store}/{till}"
  std::string till;
  bool force = false;
};

/// `posctl pki sign`: checks the CSR (check_till_csr), that it names --store/--till when given,
/// and issues a till certificate for its key exactly like issue-till would (extensions of the CSR
/// ignored). A bad CSR or argument is a usage error (2), an unreadable file or a CA failure 1.
int pki_sign(const SignArgs& args, std::ostream& out, std::ostream& err);

/// `posctl pki list`: a table, or a JSON array with --json.
int pki_list(const std::filesystem::path& dir, bool as_json, std::ostream& out, std::ostream& err);

/// `posctl pki revoke`: exactly one of serial / common_name must be set (else usage error).
int pki_revoke(const std::filesystem::path& dir, const std::optional<std::string>& serial,
               const std::optional<std::string>& common_name, const std::string& reason,
               int crl_days, std::ostream& out, std::ostream& err);

/// `posctl pki crl`.
int pki_crl(const std::filesystem::path& dir, int days, std::ostream& out, std::ostream& err);

/// `posctl fleet`: one table (or the raw JSON), or with watch_s > 0 a redraw every watch_s
/// seconds until interrupted (fetch errors are printed and the loop goes on).
int fleet(const std::string& url, bool as_json, int watch_s, std::ostream& out, std::ostream& err);

struct TrainArgs {
  std::filesystem::path samples;  ///< NDJSON, one event per line
  std::size_t size = std::size_t{16} * 1024;
  std::uint32_t id = 0;  ///< 0: random
  std::filesystem::path out;
};

/// `posctl train-dictionary`: trains with protocol::train_dictionary, checks the result loads
/// with protocol::Dictionary::load, writes it (0644, atomically) and prints its id.
int train_dictionary(const TrainArgs& args, std::ostream& out, std::ostream& err);

}  // namespace pos::ctl
