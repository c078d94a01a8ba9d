#include "pos/ctl/commands.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <iostream>
#include <thread>

#include "files.hpp"
#include "pos/common/http_get.hpp"
#include "pos/ctl/csr.hpp"
#include "pos/ctl/fleet_view.hpp"
#include "pos/protocol/dictionary.hpp"

namespace pos::ctl {
namespace {

namespace fs = std::filesystem;

// Largest sample file train-dictionary reads.
constexpr std::size_t max_samples_bytes = std::size_t{1024} * 1024 * 1024;
// A CRL this close to its nextUpdate gets a warning from `pki list`.
constexpr std::int64_t crl_warning_s = 7 * 86400;
// Largest CSR file pki sign reads (check_till_csr refuses more than 64 KiB of text anyway).
constexpr std::size_t max_csr_file_bytes = std::size_t{1024} * 1024;

int failed(std::ostream& err, const Error& error, int code = exit_failure) {
  err << "posctl: " << error.message << "\n";
  return code;
}

std::string status_of(const CertRecord& r, std::int64_t now) {
  if (r.revoked()) {
    return "revoked " + format_utc(*r.revoked_at) + " (" + std::string(to_string(r.reason)) + ")";
  }
  return now >= r.not_after ? "expired" : "valid";
}

void print_crl(std::ostream& out, const CrlInfo& crl) {
  out << "CRL " << crl.path.string() << ": number " << crl.number << ", " << crl.revoked_count
      << " revoked, next update " << format_utc(crl.next_update)
      << " (refresh it before then with posctl pki crl; give it to the broker)\n";
}

}  // namespace

int pki_init(const fs::path& dir, const CaOptions& options, std::ostream& out, std::ostream& err) {
  if (auto s = CertificateAuthority::init(dir, options); !s) {
    return failed(err, s.error());
  }
  auto ca = CertificateAuthority::open(dir);
  if (!ca) {
    return failed(err, ca.error());
  }
  out << "created CA \"" << ca->ca_name() << "\" in " << dir.string() << " (valid until "
      << format_utc(ca->ca_not_after()) << ")\n"
      << "  " << (dir / "ca.crt").string() << "  give to brokers, agents and collectors\n"
      << "  " << (dir / "ca.key").string() << "  keep offline; never copy it to a server\n"
      << "  " << (dir / "crl.pem").string() << "  the broker's crlfile\n";
  return exit_ok;
}

int pki_issue(const Result<LeafRequest>& request, const IssueArgs& args, std::ostream& out,
              std::ostream& err) {
  if (!request) {
    return failed(err, request.error(), exit_usage);
  }
  auto ca = CertificateAuthority::open(args.dir);
  if (!ca) {
    return failed(err, ca.error());
  }
  const fs::path out_dir = args.out_dir.empty() ? args.dir / "issued" : args.out_dir;
  auto issued = ca->issue(*request, out_dir, args.force);
  if (!issued) {
    return failed(err, issued.error());
  }
  const auto& r = issued->record;
  out << "issued " << to_string(r.kind) << " certificate CN \"" << r.common_name << "\" serial "
      << r.serial << ", valid until " << format_utc(r.not_after) << "\n"
      << "  " << issued->cert.string() << "\n"
      << "  " << issued->key.string() << " (0600)\n";
  if (issued->clamped_to_ca) {
    err << "posctl: warning: the validity was cut to the CA's own expiry "
        << format_utc(ca->ca_not_after()) << "\n";
  }
  return exit_ok;
}

int pki_sign(const SignArgs& args, std::ostream& out, std::ostream& err) {
  if (args.store.empty() != args.till.empty()) {
    return failed(err, Error{"--store and --till go together"}, exit_usage);
  }
  auto pem = files::read(args.csr, max_csr_file_bytes);
  if (!pem) {
    return failed(err, pem.error());
  }
  auto csr = check_till_csr(*pem);
  if (!csr) {
    return failed(err, Error{args.csr.string() + ": " + csr.error().message}, exit_usage);
  }
  if (!args.store.empty() && (csr->store_id != args.store || csr->till_id != args.till)) {
    return failed(err,
                  Error{args.csr.string() + ": the CSR is for till \"" + csr->common_name +
                        "\" but --store/--till name \"" + args.store + "/" + args.till +
                        "\"; refusing to sign"},
                  exit_usage);
  }
  auto request = till_request(csr->store_id, csr->till_id, args.days);
  if (!request) {
    return failed(err, request.error(), exit_usage);
  }
  auto ca = CertificateAuthority::open(args.dir);
  if (!ca) {
    return failed(err, ca.error());
  }
  fs::path cert_path = args.out;
  if (cert_path.empty()) {
    const fs::path issued = args.dir / "issued";
    if (auto s = files::make_private_dir(issued, false); !s) {
      return failed(err, s.error());
    }
    cert_path = issued / (request->file_stem + ".crt");
  }
  auto issued = ca->issue_for_key(*request, csr->public_key_der, cert_path, args.force);
  if (!issued) {
    return failed(err, issued.error());
  }
  const auto& r = issued->record;
  out << "signed till certificate CN \"" << r.common_name << "\" (" << csr->key_type
      << " key from the CSR) serial " << r.serial << ", valid until " << format_utc(r.not_after)
      << "\n"
      << "  " << issued->cert.string() << "\n"
      << "copy it (and ca.crt) to the till as its mqtt.cert_file; the key never left the till\n";
  if (issued->clamped_to_ca) {
    err << "posctl: warning: the validity was cut to the CA's own expiry "
        << format_utc(ca->ca_not_after()) << "\n";
  }
  return exit_ok;
}

int pki_list(const fs::path& dir, bool as_json, std::ostream& out, std::ostream& err) {
  auto ca = CertificateAuthority::open(dir);
  if (!ca) {
    return failed(err, ca.error());
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (as_json) {
    boost::json::array rows;
    for (const auto& r : ca->records()) {
      boost::json::object o;
      o["serial"] = r.serial;
      o["kind"] = to_string(r.kind);
      o["common_name"] = r.common_name;
      o["not_before"] = format_utc(r.not_before);
      o["not_after"] = format_utc(r.not_after);
      o["revoked"] = r.revoked();
      o["revoked_at"] = r.revoked() ? boost::json::value(format_utc(*r.revoked_at)) : nullptr;
      o["reason"] = r.revoked() ? boost::json::value(to_string(r.reason)) : nullptr;
      o["expired"] = now >= r.not_after;
      rows.emplace_back(std::move(o));
    }
    out << boost::json::serialize(rows) << "\n";
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows = {{"SERIAL", "KIND", "CN", "NOT AFTER", "STATUS"}};
  for (const auto& r : ca->records()) {
    rows.push_back({r.serial, std::string(to_string(r.kind)), r.common_name,
                    format_utc(r.not_after), status_of(r, now)});
  }
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  out << "CA \"" << ca->ca_name() << "\" valid until " << format_utc(ca->ca_not_after()) << "\n";
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      out << row[c];
      if (c + 1 < row.size()) {
        out << std::string(width[c] - row[c].size() + 2, ' ');
      }
    }
    out << "\n";
  }
  auto next = ca->crl_next_update();
  if (!next) {
    return failed(err, next.error());
  }
  if (*next <= now) {
    err << "posctl: warning: the CRL expired on " << format_utc(*next)
        << ": the broker rejects every client; run posctl pki crl now\n";
  } else if (*next - now < crl_warning_s) {
    err << "posctl: warning: the CRL expires on " << format_utc(*next)
        << "; run posctl pki crl and give the new crl.pem to the broker\n";
  }
  return exit_ok;
}

int pki_revoke(const fs::path& dir, const std::optional<std::string>& serial,
               const std::optional<std::string>& common_name, const std::string& reason,
               int crl_days, std::ostream& out, std::ostream& err) {
  if (serial.has_value() == common_name.has_value()) {
    return failed(err, Error{"pki revoke: give exactly one of --serial or --cn"}, exit_usage);
  }
  auto parsed = parse_revocation_reason(reason);
  if (!parsed) {
    return failed(err, Error{"--" + parsed.error().message}, exit_usage);
  }
  if (serial) {
    if (auto n = normalise_serial(*serial); !n) {
      return failed(err, n.error(), exit_usage);
    }
  }
  auto ca = CertificateAuthority::open(dir);
  if (!ca) {
    return failed(err, ca.error());
  }
  std::vector<CertRecord> revoked;
  if (serial) {
    auto r = ca->revoke_serial(*serial, *parsed, crl_days);
    if (!r) {
      return failed(err, r.error());
    }
    revoked.push_back(std::move(*r));
  } else {
    auto r = ca->revoke_common_name(*common_name, *parsed, crl_days);
    if (!r) {
      return failed(err, r.error());
    }
    revoked = std::move(*r);
  }
  for (const auto& r : revoked) {
    out << "revoked serial " << r.serial << " (" << to_string(r.kind) << " \"" << r.common_name
        << "\", " << to_string(r.reason) << ")\n";
  }
  auto next = ca->crl_next_update();
  if (!next) {
    return failed(err, next.error());
  }
  out << "wrote " << (dir / "crl.pem").string() << " (next update " << format_utc(*next)
      << "); install it as the broker's crlfile and restart mosquitto\n";
  return exit_ok;
}

int pki_crl(const fs::path& dir, int days, std::ostream& out, std::ostream& err) {
  auto ca = CertificateAuthority::open(dir);
  if (!ca) {
    return failed(err, ca.error());
  }
  auto crl = ca->write_crl(days);
  if (!crl) {
    return failed(err, crl.error());
  }
  print_crl(out, *crl);
  return exit_ok;
}

int fleet(const std::string& url, bool as_json, int watch_s, std::ostream& out, std::ostream& err) {
  if (watch_s < 0) {
    return failed(err, Error{"--watch: must be >= 1 second"}, exit_usage);
  }
  if (auto endpoint = common::parse_http_base_url(url); !endpoint) {
    return failed(err, Error{"--url " + endpoint.error().message});
  }
  const bool clear_screen = watch_s > 0 && ::isatty(STDOUT_FILENO) == 1;
  while (true) {
    auto body = common::http_get(url, "/v1/fleet", max_fleet_document_bytes);
    Result<FleetSnapshot> snapshot =
        body ? parse_fleet(*body) : Result<FleetSnapshot>(fail(body.error()));
    if (clear_screen) {
      out << "\x1b[H\x1b[2J";
    }
    if (!snapshot) {
      failed(err, snapshot.error());
      if (watch_s == 0) {
        return exit_failure;
      }
    } else if (as_json) {
      out << *body << "\n";
    } else {
      const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      if (watch_s > 0) {
        out << "posctl fleet " << url << "  every " << watch_s << "s\n";
      }
      out << render_fleet(*snapshot, snapshot->generated_at_ms.value_or(now_ms));
    }
    out.flush();
    if (watch_s == 0) {
      return exit_ok;
    }
    std::this_thread::sleep_for(std::chrono::seconds(watch_s));
  }
}

int train_dictionary(const TrainArgs& args, std::ostream& out, std::ostream& err) {
  if (args.size < 1024 || args.size > protocol::max_dictionary_bytes) {
    return failed(err,
                  Error{"--size " + std::to_string(args.size) + ": must be between 1024 and " +
                        std::to_string(protocol::max_dictionary_bytes)},
                  exit_usage);
  }
  auto text = files::read(args.samples, max_samples_bytes);
  if (!text) {
    return failed(err, text.error());
  }
  const auto samples = protocol::split_ndjson(*text);
  if (samples.empty()) {
    return failed(err, Error{args.samples.string() + ": no NDJSON lines"});
  }
  auto trained = protocol::train_dictionary(samples, {args.size, args.id});
  if (!trained) {
    return failed(err, Error{args.samples.string() + ": " + trained.error().message});
  }
  auto loaded = protocol::Dictionary::load(*trained);
  if (!loaded) {
    return failed(err, Error{"the trained dictionary: " + loaded.error().message});
  }
  if (auto s = files::replace(args.out, *trained, 0644); !s) {
    return failed(err, s.error());
  }
  out << (*loaded)->id() << "\n";
  err << "posctl: trained dictionary id " << (*loaded)->id() << " (" << trained->size()
      << " bytes) from " << samples.size() << " samples into " << args.out.string()
      << "; put it into the collector's [dictionaries] dir before any agent uses it"
      << " (forward.dictionary_file)\n";
  return exit_ok;
}

}  // namespace pos::ctl
